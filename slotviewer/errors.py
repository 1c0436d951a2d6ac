"""Errors that reach users as one clear line (the CLI prints them without a traceback)."""

INTERRUPTED = 130  # exit status of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


class SlotviewerError(Exception):
    """Base class: the message names the file (if any) and what is wrong with it."""


class InputError(SlotviewerError):
    """An input image, folder or data set cannot be used."""


class DataMismatch(InputError):
    """The data's scenes are not the size the model takes (a generator's fixed resolution)."""


class ModelFileError(SlotviewerError):
    """A checkpoint, config or ONNX file is missing, corrupt, or does not match what it claims."""


class Interrupted(SlotviewerError):
    """The user stopped the command (Ctrl-C, SIGTERM); what was finished before it is kept."""


def install_hint(extras: str) -> str:
    """How to add a missing part, as the README's Install table says it: from the repository, editable (the
    shipped models live beside the package, not in a wheel), torch pinned first (unpinned, pip pulls a
    multi-GB CUDA build)."""
    torch = "pip install 'torch==2.13.0' (the CPU build: --index-url https://download.pytorch.org/whl/cpu), then " \
        if "torch" in extras.split(",") else ""
    return f"{torch}pip install -e '.[{extras}]' in the slotviewer repository"

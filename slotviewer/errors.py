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

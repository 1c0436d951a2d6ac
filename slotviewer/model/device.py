"""Which torch device to use: shared by the torch backend and training, so both refuse the same way."""

from __future__ import annotations

import torch

from slotviewer.errors import SlotviewerError


def resolve_torch_device(requested: str) -> torch.device:
    """`auto` → CUDA when torch can really use it; `cuda` without a usable GPU is an error, never a swap."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise SlotviewerError("device 'cuda' requested, but this torch build cannot use a GPU here "
                              f"(torch {torch.__version__}, CUDA available: no)")
    if requested not in ("cpu", "cuda"):
        raise SlotviewerError(f"unknown device {requested!r}; use auto, cpu or cuda")
    return torch.device(requested)

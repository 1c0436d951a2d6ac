"""Which backend runs a model when the user says `--backend auto` (the default everywhere).

ONNX Runtime is faster on CPU and present in every install that can view (the packaged app has no
torch), so it wins when installed and the model has an ONNX graph; torch is the fallback. A path to an
`.onnx` file always means ONNX. Imports nothing heavy: only asks whether the packages are installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from slotviewer.errors import SlotviewerError, install_hint
from slotviewer.model.files import check_model_name, model_stem, with_ext

BACKENDS: tuple[str, ...] = ("auto", "onnx", "torch")


def installed(package: str) -> bool:
    """True when `package` can be imported (without importing it: torch takes seconds)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def choose_backend(model: str | Path, backend: str = "auto") -> str:
    """"onnx" or "torch" for `model` (shipped name, stem or file path) and the requested `backend`."""
    if backend not in BACKENDS:
        raise SlotviewerError(f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")
    check_model_name(model)
    suffix = Path(model).suffix
    if suffix == ".onnx":
        if backend == "torch":
            raise SlotviewerError(f"{model}: an ONNX graph runs on the onnx backend (use --backend onnx or auto), "
                                  "torch needs the model's .safetensors")
        return "onnx"
    if backend != "auto":
        return backend
    has_ort, has_torch = installed("onnxruntime"), installed("torch")
    stem = model_stem(model)
    has_graph, has_weights = with_ext(stem, ".onnx").exists(), with_ext(stem, ".safetensors").exists()
    if suffix == ".safetensors" and has_torch:
        return "torch"
    if has_ort and (has_graph or not (has_torch and has_weights)):
        return "onnx"
    if has_torch:
        return "torch"
    raise SlotviewerError(f"neither ONNX Runtime nor torch is installed: {install_hint('cpu')} (or gpu, or torch)")

"""`--backend auto`: ONNX Runtime when installed and the model has a graph, else torch; `.onnx` means ONNX."""

from pathlib import Path

import pytest

from slotviewer.engine import Engine, select
from slotviewer.errors import SlotviewerError


def test_auto_prefers_onnx_when_the_graph_exists(tiny_model: Path) -> None:
    assert select.choose_backend(tiny_model, "auto") == "onnx"
    assert select.choose_backend("shapes", "auto") == "onnx"
    assert Engine.load(tiny_model, device="cpu").backend.name == "onnx", "auto is Engine.load's default"


def test_an_onnx_path_selects_onnx_and_refuses_torch(tiny_model: Path) -> None:
    path = tiny_model.with_name("tiny.onnx")
    assert select.choose_backend(path, "auto") == "onnx"
    with pytest.raises(SlotviewerError, match=r"tiny\.onnx: an ONNX graph runs on the onnx backend"):
        select.choose_backend(path, "torch")


def test_auto_falls_back_to_torch(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights_only = tmp_path / "w"
    for ext in (".safetensors", ".json"):
        (tmp_path / f"w{ext}").write_bytes(Path(f"{tiny_model}{ext}").read_bytes())
    assert select.choose_backend(weights_only, "auto") == "torch", "no ONNX graph beside the weights"
    assert select.choose_backend(f"{tiny_model}.safetensors", "auto") == "torch", "a weights path means torch"
    monkeypatch.setattr(select, "installed", lambda package: package == "torch")
    assert select.choose_backend(tiny_model, "auto") == "torch", "no onnxruntime installed"
    monkeypatch.setattr(select, "installed", lambda package: False)
    with pytest.raises(SlotviewerError, match="neither ONNX Runtime nor torch"):
        select.choose_backend(tiny_model, "auto")
    with pytest.raises(SlotviewerError, match="unknown backend 'tf'"):
        select.choose_backend(tiny_model, "tf")

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


def test_installed_is_false_for_what_cannot_be_found() -> None:
    assert select.installed("numpy") and not select.installed("no_such_package_here")
    assert not select.installed("no_such_package_here.sub"), "a missing parent package is not an error"


def test_auto_is_the_default_and_every_refusal_is_the_whole_sentence(tiny_model: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert select.choose_backend(tiny_model) == "onnx"
    path = tiny_model.with_name("tiny.onnx")
    with pytest.raises(SlotviewerError, match=rf"^{path}: an ONNX graph runs on the onnx backend \(use --backend "
                                              r"onnx or auto\), torch needs the model's \.safetensors$"):
        select.choose_backend(path, "torch")
    monkeypatch.setattr(select, "installed", lambda package: False)
    with pytest.raises(SlotviewerError, match=r"^neither ONNX Runtime nor torch is installed: pip install -e "
                                              r"'\.\[cpu\]' in the slotviewer repository \(or gpu, or torch\)$"):
        select.choose_backend(tiny_model)


def test_a_model_with_neither_file_goes_to_onnx_which_says_what_is_missing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "installed", lambda package: True)
    assert select.choose_backend(tmp_path / "nothing") == "onnx"
    monkeypatch.setattr(select, "installed", lambda package: package == "onnxruntime")
    (tmp_path / "w.safetensors").write_bytes(b"")
    assert select.choose_backend(tmp_path / "w") == "onnx", "weights without torch: onnx is all there is"

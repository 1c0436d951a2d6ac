"""Model files: copying a model (Save model as… after adapting), and which model a bare name means."""

from pathlib import Path

import pytest

from slotviewer.errors import ModelFileError
from slotviewer.model.files import MODELS_DIR, copy_model, model_stem


def test_copy_model_takes_every_file_of_the_stem_and_nothing_else(tmp_path: Path) -> None:
    source = tmp_path / "from" / "shapes.adapted"
    source.parent.mkdir()
    for ending, data in ((".safetensors", b"w"), (".json", b"{}"), (".onnx", b"g"), (".decoder.onnx", b"d")):
        source.with_name(source.name + ending).write_bytes(data)
    (tmp_path / "from" / "shapes.json").write_bytes(b"another model")
    written = copy_model(source, tmp_path / "to" / "mine.v2.safetensors")
    assert sorted(p.name for p in written) == ["mine.v2.decoder.onnx", "mine.v2.json", "mine.v2.onnx",
                                               "mine.v2.safetensors"]
    assert (tmp_path / "to" / "mine.v2.decoder.onnx").read_bytes() == b"d"


def test_a_copy_that_cannot_be_written_names_the_file_asked_for(tmp_path: Path) -> None:
    source = tmp_path / "m"
    (tmp_path / "m.json").write_bytes(b"{}")
    (tmp_path / "blocker").write_bytes(b"a file where a folder should be")
    with pytest.raises(ModelFileError, match=r"^.*blocker/mine\.[a-z.]+: cannot write \(.+\)$") as info:
        copy_model(source, tmp_path / "blocker" / "mine")
    assert ".tmp" not in str(info.value) and "\n" not in str(info.value)


def test_a_copy_over_a_model_with_graphs_leaves_none_of_the_old_ones(tmp_path: Path) -> None:
    source = tmp_path / "new"
    for ending in (".safetensors", ".json"):
        (tmp_path / f"new{ending}").write_bytes(b"new")
    for ending in (".safetensors", ".json", ".onnx", ".decoder.onnx", ".step.onnx", ".encoder.onnx"):
        (tmp_path / f"old{ending}").write_bytes(b"old")
    copy_model(source, tmp_path / "old")
    assert sorted(p.name for p in tmp_path.glob("old*")) == ["old.json", "old.safetensors"]
    assert (tmp_path / "old.safetensors").read_bytes() == b"new"


def test_a_bare_name_means_the_same_model_for_every_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local `shapes.safetensors` (an adapted copy without graphs) makes `shapes` the local model for ONNX
    Runtime too (which then says its graph is missing) instead of the shipped graph."""
    monkeypatch.chdir(tmp_path)
    assert model_stem("shapes") == MODELS_DIR / "shapes"
    (tmp_path / "shapes.safetensors").write_bytes(b"")
    assert model_stem("shapes") == Path("shapes"), "for ONNX Runtime too, which then says its graph is missing"

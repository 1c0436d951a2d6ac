import json
from pathlib import Path

import pytest
import torch

from slotviewer.errors import ModelFileError
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.config import ModelCard
from slotviewer.model.weights import load_model, save_model
from tests.model.test_autoencoder import TINY


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    save_model(SlotAutoencoder(TINY), tmp_path / "tiny", ModelCard(dataset="unit", steps=3))
    return tmp_path / "tiny"


def test_round_trip(saved: Path) -> None:
    loaded = load_model(saved)
    torch.manual_seed(0)
    original = SlotAutoencoder(TINY)
    for (name, a), (_, b) in zip(original.state_dict().items(), loaded.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert loaded.config == TINY and loaded.card.dataset == "unit" and len(loaded.sha256) == 64
    assert not loaded.model.training
    assert not list(saved.parent.glob(".*tmp")), "atomic writes leave no temp files"


def test_loads_by_either_file_name(saved: Path) -> None:
    assert load_model(saved.with_suffix(".json")).config == TINY
    assert load_model(saved.with_suffix(".safetensors")).config == TINY


def test_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nothing\.safetensors: model weights not found"):
        load_model(tmp_path / "nothing")


def test_corrupt_weights(saved: Path) -> None:
    saved.with_suffix(".safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        load_model(saved)


def test_truncated_weights(saved: Path) -> None:
    path = saved.with_suffix(".safetensors")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        load_model(saved)


def test_config_does_not_match_weights(saved: Path) -> None:
    meta = json.loads(saved.with_suffix(".json").read_text())
    meta["config"]["slot_dim"] = 32
    saved.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="weights do not match tiny.json: .*has shape"):
        load_model(saved)


def test_broken_config(saved: Path) -> None:
    saved.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"tiny\.json: not a valid model config"):
        load_model(saved)
    saved.with_suffix(".json").write_text(json.dumps({"config": {"slot_dimm": 3}}))
    with pytest.raises(ModelFileError, match="unknown config keys: slot_dimm"):
        load_model(saved)
    saved.with_suffix(".json").unlink()
    with pytest.raises(ModelFileError, match="model config not found"):
        load_model(saved)


def test_a_dotted_stem_keeps_its_dots(tmp_path: Path) -> None:
    """`mine.v2` is a stem, not `mine` with a suffix: its files are `mine.v2.safetensors` and `mine.v2.json`."""
    model = SlotAutoencoder(TINY)
    weights, config = save_model(model, tmp_path / "mine.v2")
    assert (weights.name, config.name) == ("mine.v2.safetensors", "mine.v2.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.v2.json", "mine.v2.safetensors"]
    for name in ("mine.v2", "mine.v2.safetensors", "mine.v2.json"):
        assert load_model(tmp_path / name).path == weights

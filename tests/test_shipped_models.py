"""The weights in models/ load on both backends, agree, and still segment fresh scenes."""

import json

import numpy as np
import onnx
import pytest

from slotviewer.data import generate
from slotviewer.engine import Engine
from slotviewer.model.files import MODELS_DIR, file_sha256
from slotviewer.model.weights import load_model
from slotviewer.train import evaluate

# sanity floors on 64 fresh scenes (the model cards hold the 1,000-scene numbers)
SHIPPED = {"tetrominoes": 0.75, "shapes": 0.6}


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_model_loads_and_segments(name: str) -> None:
    loaded = load_model(name)
    card = json.loads((MODELS_DIR / f"{name}.json").read_text())["card"]
    assert card["dataset"] == name and card["fg_ari"]["n"] == 1000 and card["steps"] > 0
    images, masks = generate(name, 64, seed=424242)
    assert np.nanmean(evaluate(loaded.model, images, masks)) >= SHIPPED[name]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_onnx_matches_the_weights(name: str) -> None:
    for graph in (f"{name}.onnx", f"{name}.decoder.onnx", f"{name}.step.onnx", f"{name}.encoder.onnx"):
        meta = {p.key: p.value for p in onnx.load(str(MODELS_DIR / graph), load_external_data=False).metadata_props}
        assert meta["slotviewer.model_sha256"] == file_sha256(MODELS_DIR / f"{name}.safetensors"), graph
    image = generate(name, 1, seed=7)[0][0]
    a = Engine.load(name, "torch", "cpu").run(image, seed=5)
    b = Engine.load(name, "onnx", "cpu").run(image, seed=5)
    assert np.abs(a.attention - b.attention).max() <= 1e-4
    assert np.abs(a.composite() - b.composite()).max() <= 1e-4

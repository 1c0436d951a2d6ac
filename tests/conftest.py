"""Test setup: Qt must run offscreen (no display here or in CI), set before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from slotviewer.data import generate  # noqa: E402
from slotviewer.engine import Engine  # noqa: E402
from slotviewer.engine.onnx_export import export_onnx  # noqa: E402
from slotviewer.model.autoencoder import SlotAutoencoder  # noqa: E402
from slotviewer.model.weights import save_model  # noqa: E402
from tests.test_train import TINY_TETROMINOES  # noqa: E402


# A tiny untrained model (Gaussian slots, so K can vary), saved and exported to ONNX once per session.
# Its keys see the position at half weight, so every engine test runs the separate key-features path
# (the shipped tetrominoes model covers keys = values).
@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stem = tmp_path_factory.mktemp("models") / "tiny"
    torch.manual_seed(0)
    save_model(SlotAutoencoder(dataclasses.replace(TINY_TETROMINOES, key_position_scale=0.5)), stem)
    export_onnx(stem, stem)
    return stem


@pytest.fixture(scope="session")
def torch_engine(tiny_model: Path) -> Engine:
    return Engine.load(tiny_model, "torch", "cpu")


@pytest.fixture(scope="session")
def onnx_engine(tiny_model: Path) -> Engine:
    return Engine.load(tiny_model.with_suffix(".onnx"), "onnx", "cpu")


@pytest.fixture(params=["torch", "onnx"])
def engine(request: pytest.FixtureRequest, torch_engine: Engine, onnx_engine: Engine) -> Engine:
    return torch_engine if request.param == "torch" else onnx_engine


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    return generate("tetrominoes", 1, seed=11)[0][0]

"""The Qt-free viewer on the tiny model (ONNX, CPU, seed 3), loaded and idle; closed after the test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from slotviewer.components.viewer import RunParams, Viewer


@pytest.fixture
def viewer(tiny_model: Path) -> Iterator[Viewer]:
    v = Viewer(RunParams(model=str(tiny_model.with_suffix(".onnx")), backend="onnx", device="cpu", seed=3))
    v.load_engine()
    assert v.runner.wait_idle() and v.engine is not None
    yield v
    v.close()

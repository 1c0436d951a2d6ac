"""The Qt-free viewer on the tiny model (ONNX, CPU, seed 3), loaded and idle, and a live view on it (carry-over
with one iteration per frame, 16 buffered frames, stalls after 0.3 s, its messages collected); both closed after
the test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from slotviewer.components.live import LiveView
from slotviewer.components.viewer import RunParams, Viewer
from slotviewer.engine import Engine
from slotviewer.video import CarryOver


@pytest.fixture
def viewer(tiny_model: Path) -> Iterator[Viewer]:
    v = Viewer(RunParams(model=str(tiny_model.with_suffix(".onnx")), backend="onnx", device="cpu", seed=3))
    v.load_engine()
    assert v.runner.wait_idle() and v.engine is not None
    yield v
    v.close()


@pytest.fixture
def live(onnx_engine: Engine) -> Iterator[LiveView]:
    view = LiveView(onnx_engine, CarryOver(True, 1), buffer=16, stall_timeout=0.3)
    messages: list[str] = []
    view.events.message.connect(messages.append)
    view.messages = messages
    yield view
    view.stop()

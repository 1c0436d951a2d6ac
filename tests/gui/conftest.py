"""A main window on the tiny ONNX test model, with its own settings file and no dialogs."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from slotviewer.gui.main_window import MainWindow


def wait_idle(qtbot, window: MainWindow, timeout: int = 30_000) -> None:  # noqa: ANN001
    """Until the worker has nothing left and image A has a trace with every iteration decoded."""

    def ready() -> bool:
        document = window.session.documents["A"]
        return (window.worker.pending() == 0 and not window.busy.isVisible() and document is not None
                and document.trace is not None and not any(document.needs_decode(t)
                                                           for t in range(document.trace.iterations)))

    qtbot.waitUntil(ready, timeout=timeout)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for name in ("a.png", "b.png", "c.png"):
        image = np.zeros((35, 35, 3), np.uint8)
        y, x = rng.integers(0, 25, 2)
        image[y : y + 10, x : x + 10] = rng.integers(60, 256, 3)
        Image.fromarray(image).save(tmp_path / name)
        paths.append(tmp_path / name)
    return paths


@pytest.fixture
def window(qtbot, tiny_model: Path, tmp_path: Path, images: list[Path]) -> Iterator[MainWindow]:  # noqa: ANN001
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    w.setProperty("quiet", True)
    qtbot.addWidget(w)
    w.controls.add_model(str(tiny_model.with_suffix(".onnx")))
    w.controls.backend.setCurrentText("onnx")
    w.controls.device.setCurrentText("cpu")
    w.show()
    w.load_engine()
    qtbot.waitUntil(lambda: w.engine is not None, timeout=30_000)
    w.open_path(str(images[0]))
    wait_idle(qtbot, w)
    yield w
    w.close()

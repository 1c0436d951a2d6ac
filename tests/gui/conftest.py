"""A main window on the tiny ONNX test model, with its own settings file and no dialogs."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

from slotviewer.gui.app import _ready, collect_garbage_on_gui_thread
from slotviewer.gui.main_window import MainWindow


def wait_idle(qtbot, window: MainWindow, names: tuple[str, ...] = ("A",), timeout: int = 30_000) -> None:  # noqa: ANN001
    """Until no job waits or runs and the documents `names` have traces with every iteration decoded."""
    qtbot.waitUntil(lambda: _ready(window, names) and not window.busy.isVisible(), timeout=timeout)


def make_window(qtbot, settings: QSettings, model: Path | None) -> MainWindow:  # noqa: ANN001
    w = MainWindow(settings)
    w.setProperty("quiet", True)
    qtbot.addWidget(w)
    if model is not None:
        w.viewer.params = dataclasses.replace(w.viewer.params, model=str(model), backend="onnx", device="cpu")
    w.show()
    w.viewer.load_engine()
    qtbot.waitUntil(lambda: w.viewer.engine is not None, timeout=30_000)
    return w


@pytest.fixture(scope="session", autouse=True)
def garbage_collected_on_the_gui_thread(qapp) -> None:  # noqa: ANN001
    """The app's own rule (see `collect_garbage_on_gui_thread`): cycles are freed by a GUI-thread timer."""
    collect_garbage_on_gui_thread()


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal dialog waits for a click that never comes offscreen: the run would hang until CI's limit. Any
    modal a test did not answer itself (by monkeypatching it) fails that test at once, naming the dialog."""
    def refuse(what: str):  # noqa: ANN202
        def opened(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"the test opened a modal {what} without answering it (monkeypatch it)")
        return opened
    for name in ("question", "warning", "information", "critical", "about"):
        monkeypatch.setattr(QMessageBox, name, refuse(f"QMessageBox.{name}"))
    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, refuse(f"QFileDialog.{name}"))
    for name in ("getItem", "getInt", "getDouble", "getText"):
        monkeypatch.setattr(QInputDialog, name, refuse(f"QInputDialog.{name}"))
    monkeypatch.setattr(QDialog, "exec", refuse("QDialog.exec"))
    monkeypatch.setattr(QDrag, "exec", refuse("QDrag.exec (a drag waits for a mouse release)"))


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
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tiny_model: Path, settings: QSettings, images: list[Path]) -> Iterator[MainWindow]:  # noqa: ANN001
    w = make_window(qtbot, settings, tiny_model.with_suffix(".onnx"))
    w.viewer.open_path(images[0])
    wait_idle(qtbot, w)
    yield w
    w.close()

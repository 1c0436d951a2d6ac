"""`slotviewer gui [PATH]`: start the app, optionally render one screenshot and exit (for docs and tests)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from slotviewer.errors import SlotviewerError
from slotviewer.gui.main_window import MainWindow
from slotviewer.gui.theme import apply_theme

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def sample_scene(model: str) -> Path | None:
    """The bundled sample scene for a shipped model (`resources/samples/<model>.png`)."""
    path = RESOURCES / "samples" / f"{Path(model).stem}.png"
    return path if path.exists() else None


def create_window(settings: QSettings | None = None) -> MainWindow:
    window = MainWindow(settings)
    return window


def wait_until_rendered(app: QApplication, window: MainWindow, iteration: int | None, timeout: float = 120) -> bool:
    """Process events until image A is shown at the wanted iteration with everything decoded.

    Raises `SlotviewerError` as soon as the worker reports an error (a bad model or image)."""
    errors: list[str] = []
    window.worker.sigError.connect(lambda _request, message: errors.append(message))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if errors:
            raise SlotviewerError(errors[0])
        document = window.session.documents["A"]
        if document is not None and document.trace is not None and window.worker.pending() == 0:
            t = document.trace.iterations if iteration is None else min(iteration, document.trace.iterations)
            if not document.needs_decode(t):
                return True
        time.sleep(0.02)
    return False


def main(path: str | None = None, screenshot: str | None = None, iteration: int | None = None,
         hide: list[int] | None = None, model: str | None = None, backend: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("slotviewer")
    app.setOrganizationName("slotviewer")
    if screenshot:  # a reproducible window: default layout, and the user's settings left alone
        settings = QSettings(str(Path(tempfile.mkdtemp()) / "screenshot.ini"), QSettings.Format.IniFormat)
    else:
        settings = QSettings("slotviewer", "slotviewer")
    apply_theme(str(settings.value("theme", "System")))
    window = create_window(settings)
    if screenshot:
        window.setProperty("quiet", True)
        window.resize(1600, 1000)
    controls = window.controls
    if model:
        if controls.model.findText(model) < 0:
            controls.add_model(model)
        controls.model.setCurrentText(model)
    if backend:
        controls.backend.setCurrentText(backend)
    window.show()
    window.load_engine()
    start = path or sample_scene(controls.model.currentText())
    if start:
        window.open_path(str(start))
    if not screenshot:
        return app.exec()
    try:
        if start is None:
            raise SlotviewerError("nothing to show: give an image path (no sample scene for this model)")
        if not wait_until_rendered(app, window, iteration):
            raise SlotviewerError("the window did not finish rendering in time")
    except SlotviewerError:
        window.close()
        raise
    if hide:
        trace = window.session.documents["A"].trace
        window.set_enabled("A", [i not in hide for i in range(trace.num_slots)])
    if iteration is not None:
        window.iteration_bar.set_iteration(iteration)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    window.save_screenshot(screenshot)
    print(f"wrote {screenshot}")
    window.close()
    return 0




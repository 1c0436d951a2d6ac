"""The window's settings: parameters, overlay, geometry and dock layout restored on start, recent files.

Settings go through `QSettings` (tests pass an INI file); recent paths are stored absolute, so they
still open from another working folder.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from slotviewer.components.adaptation import ADAPTED_PREFIX
from slotviewer.components.frames import OVERLAYS
from slotviewer.components.viewer import RunParams
from slotviewer.errors import SlotviewerError
from slotviewer.gui.qt_controls import shipped_models
from slotviewer.model.files import MODEL_SUFFIXES, strip_model_suffix, with_ext

MAX_RECENT = 10


def saved_params(settings: QSettings) -> RunParams:
    """Last session's model, backend, device, seed and method (K and T come from the model on load)."""
    s, models = settings, shipped_models()
    default = "shapes" if "shapes" in models else (models or [""])[0]
    model = str(s.value("model", default))
    if Path(model).parent.parts and not any(with_ext(strip_model_suffix(model), suffix).exists()
                                            for suffix in MODEL_SUFFIXES):
        model = default  # gone since: an adapted copy in a temporary folder the system cleaned, a moved file
    params = RunParams(model=model,
                       backend=str(s.value("backend", "onnx")), device=str(s.value("device", "auto")),
                       seed=int(s.value("seed", 0)), method=str(s.value("method", "slot-attention")))
    try:
        params.validate()
    except SlotviewerError:
        return RunParams(model=params.model)
    return params


class SettingsMixin:
    """Restore and save the window's settings (mixed into `MainWindow`)."""

    def _restore(self) -> None:
        s = self.settings
        geometry, state = s.value("geometry"), s.value("windowState")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 900)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.show_params()
        self.controls.opacity.setValue(int(s.value("opacity", 45)))
        overlay = str(s.value("overlay", "attention"))
        self.viewer.set_overlay(overlay if overlay in OVERLAYS else "attention")
        self._refresh_recent()

    def save_settings(self) -> None:
        s, p = self.settings, self.viewer.params
        for key, value in (("geometry", self.saveGeometry()), ("windowState", self.saveState()),
                           ("model", p.model), ("backend", p.backend), ("device", p.device), ("seed", p.seed),
                           ("method", p.method), ("opacity", self.controls.opacity.value()),
                           ("overlay", self.viewer.overlay)):
            s.setValue(key, value)
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        self.forget_adaptations()
        self.save_settings()
        self.iteration_bar.timer.stop()
        self.viewer.close()
        super().closeEvent(event)

    def forget_adaptations(self) -> None:
        """On quit: a running adaptation stops and removes what it wrote (waited for, the window hidden: a
        daemon thread would die with the app mid-write); adapted copies in temporary folders go, except the
        one the window runs now (the settings remember it; once the system cleans it, the shipped model
        starts instead)."""
        dialog = getattr(self, "adapting", None)
        if dialog is not None:
            dialog.dismiss()
            if dialog.adaptation is not None:
                self.hide()
                dialog.adaptation.join(10)
                dialog.dismiss()  # finished as the cancel came: its copy is dropped now
        current = strip_model_suffix(self.viewer.params.model)
        for stem in getattr(self, "adapted_copies", []):
            if stem != current and stem.parent.name.startswith(ADAPTED_PREFIX):
                shutil.rmtree(stem.parent, ignore_errors=True)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, path: str) -> None:
        path = str(Path(path).resolve())
        self.settings.setValue("recent", ([path] + [p for p in self.recent_files() if p != path])[:MAX_RECENT])
        self._refresh_recent()

    def open_recent(self, path: str) -> None:
        """A video or animated GIF plays in the live view, as when it was first opened; an image opens."""
        from slotviewer.io.sources import is_video_path

        if is_video_path(path):
            self.live.open_path(path)
        else:
            self.viewer.open_path(path)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self.recent_menu.addAction(path).triggered.connect(partial(self.open_recent, path))
        self.recent_menu.setEnabled(bool(self.recent_files()))

"""Model → *Adapt to this image / folder…*: a dialog over a Qt-free `Adaptation`.

It asks for the number of steps, runs the adaptation in the background with a progress bar and Cancel,
then shows the image before and after side by side (segmentation and reconstruction, zoom and pan
linked) with both reconstruction errors, and lets the user *Use adapted model* (the window's viewer loads
it like any model), *Save model as…* or close it (the adapted copy is then removed). Non-modal: the
window stays usable while it runs.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from slotviewer.components.adaptation import Adaptation, AdaptOutcome, before_after_pictures, summary_html
from slotviewer.errors import SlotviewerError
from slotviewer.gui.dialogs import ask_adapted_model_path
from slotviewer.gui.qt_images import QtImagePanel

PANELS = ("before segmentation", "after segmentation", "before reconstruction", "after reconstruction")
TITLES = {"before segmentation": "before: labels (decoder posterior)",
          "after segmentation": "after: labels (decoder posterior)",
          "before reconstruction": "before: reconstruction", "after reconstruction": "after: reconstruction"}


class QtAdaptDialog(QDialog):
    """One adaptation: `start` it (or press Start), watch it, compare, decide."""

    sigUse = Signal(str, str)  # the adapted model's stem and the backend it was made for: the window loads it
    sigFinished = Signal(str)  # "done" / "cancelled" / "failed" (tests and scripts wait for it)

    def __init__(self, first: Adaptation, parent: QWidget | None = None) -> None:
        """`first` says what to adapt (model, image, settings, data) and the default steps; Start runs a copy of
        it with the steps chosen, so the dialog stays about that image whatever the window opens meanwhile."""
        super().__init__(parent)
        self.first = first
        what = escape(first.what)
        self.setWindowTitle(f"Adapt to {first.what}")
        self.adaptation: Adaptation | None = None
        self.used = False
        layout = QVBoxLayout(self)
        run = first.run_kwargs
        settings = ", ".join(f"{name} {run[key]}" for name, key in (("K", "slots"), ("T", "iters"), ("seed", "seed"),
                                                                     ("draws", "draws")) if run.get(key) is not None)
        intro = QLabel(f"Fine-tunes a copy of the model's decoder on <b>{what}</b>, with <code>slotviewer adapt"
                       "</code>'s recipe (unsupervised: the only signal is how well it redraws the images), then runs "
                       f"the image with the original and the copy (slot attention{', ' + settings if settings else ''}"
                       "). The model on screen stays until you choose <i>Use adapted model</i>.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("Steps"))
        self.steps = QSpinBox()
        self.steps.setRange(1, 5000)
        self.steps.setValue(first.steps)
        self.steps.setToolTip("Each step adapts on 8 augmented views (flips, turns, crops)")
        row.addWidget(self.steps)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, first.steps)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        layout.addWidget(self.state)
        self.panels = {name: QtImagePanel(TITLES[name]) for name in PANELS}
        self.grid = grid = QGridLayout()
        self._arrange(wide=False)
        for name in PANELS[1:]:
            self.panels[PANELS[0]].link(self.panels[name])
        self.result = QWidget()
        self.result.setLayout(grid)
        self.result.hide()
        layout.addWidget(self.result, 1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        buttons = QHBoxLayout()
        self.use_button = QPushButton("Use adapted model")
        self.use_button.setToolTip("The window runs the adapted copy from now on (Help → About model says so)")
        self.use_button.clicked.connect(self.use)
        self.save_button = QPushButton("Save model as…")
        self.save_button.clicked.connect(self.save_dialog)
        close = QPushButton("Close")
        close.clicked.connect(self.dismiss)
        for button in (self.use_button, self.save_button):
            button.setEnabled(False)
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.setMinimumWidth(560)
        self.adjustSize()

    # --- running ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        # the last run's end reaches the dialog just before its thread is gone: let it go (it is ending)
        if self.adaptation is not None and not self.adaptation.join(1):  # its end event came: it is ending
            self.state.setText("the last run is still ending…")
            return
        self._drop()
        try:
            self.adaptation = adaptation = self.first.again(self.steps.value())
        except SlotviewerError as exc:
            self._ended("failed", str(exc))
            return
        e = adaptation.events
        e.stage.connect(lambda text: adaptation.cancelling or self.state.setText(text))
        e.progress.connect(self._on_progress)
        e.finished.connect(self._on_finished)
        e.cancelled.connect(lambda: self._ended("cancelled", "cancelled: the model is unchanged"))
        e.failed.connect(lambda text: self._ended("failed", f"adapting failed: {text}"))
        self.progress.setRange(0, adaptation.steps)
        self.progress.setValue(0)
        self.result.hide()
        self.summary.setText("")
        for button in (self.use_button, self.save_button, self.start_button, self.steps):
            button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.state.setText("starting…")
        adaptation.start()

    def cancel(self) -> None:
        if self.adaptation is not None and self.adaptation.running:
            self.state.setText("cancelling…")
            self.cancel_button.setEnabled(False)
            self.adaptation.cancel()

    def _on_progress(self, done: int, steps: int, error: float) -> None:
        if self.adaptation is None or self.adaptation.cancelling:
            return
        self.progress.setValue(done)
        self.state.setText(f"step {done} / {steps} · reconstruction error of the training views {error:.5f}")

    def _ended(self, state: str, text: str) -> None:
        self.state.setText(text)
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(True)
        self.steps.setEnabled(True)
        self.start_button.setText("Start again")
        self.sigFinished.emit(state)

    def _on_finished(self, outcome: AdaptOutcome) -> None:
        height, width = outcome.before.image.shape[:2]
        self._arrange(wide=width >= 2 * height)
        for name, picture in before_after_pictures(outcome).items():
            panel = self.panels[name]
            panel.view.extent = None  # a new picture size fits anew
            panel.set_image(picture)
        self.summary.setText(summary_html(outcome))
        self.result.show()
        self.use_button.setEnabled(True)
        self.save_button.setEnabled(True)
        if self.height() < 640:  # room for the pictures, within the screen (a small one scrolls nothing here)
            room = self.screen().availableGeometry() if self.screen() else None
            width, height = max(self.width(), 960 if self.wide else 640), 720
            if room is not None:
                width, height = min(width, room.width() - 40), min(height, room.height() - 60)
            self.resize(width, height)
        where = ("above", "below") if self.wide else ("left", "right")
        self._ended("done", f"done: before ({where[0]}) and after ({where[1]}), run with the same K, T, seed and draws")

    def _arrange(self, wide: bool) -> None:
        """Before beside after (2 × 2); for an image at least twice as wide as tall, before above after in one
        column (four rows), so the strips are not drawn as thin lines in mostly black panels."""
        self.wide = wide
        for i, name in enumerate(PANELS):
            self.grid.addWidget(self.panels[name], *((i, 0) if wide else (i // 2, i % 2)))
            self.panels[name].setMinimumSize(120, 80 if wide else 120)  # four rows must fit a laptop's height

    # --- the user's decision ------------------------------------------------------------------------------------
    def use(self) -> None:
        if self.adaptation is None or self.adaptation.outcome is None:
            return
        self.used = True
        self.use_button.setEnabled(False)
        self.state.setText("the window loads the adapted model (its status bar says when it runs). It lives in a "
                           "temporary folder: Save model as… keeps it.")
        self.sigUse.emit(str(self.adaptation.outcome.model_stem), self.adaptation.backend)

    def save_dialog(self) -> None:
        path = ask_adapted_model_path(self)
        if path:
            self.save_as(path)

    def save_as(self, path: str | Path) -> list[Path]:
        try:
            written = self.adaptation.save_as(path) if self.adaptation is not None else []
        except (SlotviewerError, OSError) as exc:
            self.state.setText(f"error: {exc}")
            return []
        self.state.setText(f"saved {', '.join(p.name for p in written)} in {Path(path).parent}")
        return written

    def _drop(self) -> None:
        """Forget the last adaptation; its files go unless the window runs them."""
        if self.adaptation is not None and not self.used:
            self.adaptation.discard()
        self.adaptation, self.used = None, False

    def dismiss(self) -> None:
        """Close: a running adaptation is cancelled (its thread removes what it wrote), a finished one not in use
        is deleted. Also what the window calls on quit (a hidden dialog gets no close event from `close()`)."""
        if self.adaptation is not None and self.adaptation.running:
            self.adaptation.cancel()
        else:
            self._drop()
        self.hide()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        self.dismiss()
        super().closeEvent(event)

    def reject(self) -> None:  # Esc: QDialog hides itself without a close event
        self.dismiss()
        super().reject()

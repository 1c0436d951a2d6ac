"""The iteration scrubber: t = 0…T (0 = the initial slots), play/pause, speed and loop."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from slotviewer.gui.wrapping_row import WrappingRow, group

SPEEDS = {"0.5×": 0.5, "1×": 1.0, "2×": 2.0, "4×": 4.0}
BASE_INTERVAL_MS = 600


FRAME_MS = 33


class QtIterationBar(QWidget):
    """Stepping and scrubbing give whole iterations (`sigIterationChanged`); playback also sends
    fractional positions between them (`sigPositionChanged`) so views can animate smoothly."""

    sigIterationChanged = Signal(int)
    sigPositionChanged = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Iteration (← / →)")
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.valueChanged.connect(self._changed)
        self.label = QLabel("t = 0 / 0")
        self.label.setMinimumWidth(80)
        self.speed = QComboBox()
        self.speed.addItems(list(SPEEDS))
        self.speed.setCurrentText("1×")
        self.speed.setToolTip("Playback speed")
        self.speed.currentTextChanged.connect(lambda _: setattr(self, "_clock", (time.monotonic(), self.position)))
        self.loop = QCheckBox("loop")
        self.loop.setChecked(True)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._tick)
        self.position = 0.0
        self._clock = (0.0, 0.0)  # (time.monotonic(), position) when playback (re)started
        self.slider.setMinimumWidth(120)  # seven iterations must stay draggable in a narrow window
        # speed and loop go under the scrubber where the centre is narrow, rather than squeezing it
        self.row = WrappingRow(group(self.play_button, self.slider, self.label, stretch=(self.slider,)),
                               group(self.speed, self.loop))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.row)

    @property
    def iteration(self) -> int:
        return self.slider.value()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def set_range(self, iterations: int, value: int | None = None) -> None:
        value = iterations if value is None else value
        if (self.slider.maximum(), self.slider.value()) == (iterations, value):
            return  # unchanged (a slot toggle): no repaint
        self.slider.blockSignals(True)
        self.slider.setRange(0, iterations)
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self._label()

    def show_position(self, position: float) -> None:
        """Follow the viewer (keys, playback) without sending the position back."""
        if not self.timer.isActive():
            self.position = position
        self.slider.blockSignals(True)
        self.slider.setValue(int(position))
        self.slider.blockSignals(False)
        self._label()

    def set_iteration(self, t: int) -> None:
        self.slider.setValue(max(0, min(t, self.slider.maximum())))

    def step(self, delta: int) -> None:
        self.set_iteration(self.iteration + delta)

    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.set_iteration(round(self.position))
            self.sigIterationChanged.emit(self.iteration)
        else:
            if self.iteration >= self.slider.maximum():
                self.set_iteration(0)
            self.position = float(self.iteration)
            self._clock = (time.monotonic(), self.position)
            self.timer.start()
        self.play_button.setText("⏸" if self.timer.isActive() else "▶")

    def _tick(self) -> None:
        """Advance by the time that passed (one iteration per BASE_INTERVAL_MS at 1×): a slow repaint
        skips frames instead of slowing playback down."""
        end = self.slider.maximum()
        started, start_position = self._clock
        rate = SPEEDS[self.speed.currentText()] / (BASE_INTERVAL_MS / 1000)
        self.position = start_position + (time.monotonic() - started) * rate
        if self.position >= end:
            if self.loop.isChecked() and self.position >= end + 0.5:  # rest on the last iteration briefly
                self.position = 0.0
                self._clock = (time.monotonic(), 0.0)
            elif not self.loop.isChecked():
                self.position = float(end)
                self.toggle_play()
                return
        shown = min(self.position, float(end))
        self.slider.blockSignals(True)
        self.slider.setValue(int(shown))
        self.slider.blockSignals(False)
        self._label()
        self.sigPositionChanged.emit(shown)

    def _label(self) -> None:
        self.label.setText(f"t = {self.iteration} / {self.slider.maximum()}")

    def _changed(self, value: int) -> None:
        self._label()
        self.sigIterationChanged.emit(value)

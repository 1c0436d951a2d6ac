"""The live view in the window: webcam, video file or image sequence, shown through the normal views.

Wiring only. `QtLive` owns a Qt-free `LiveView` (components/live.py: capture, inference with carry-over,
ring buffer, edits by slot identity, recording) and puts each processed frame into the viewer's document
A, so the input/overlay, reconstruction and slot cards show it as they show a still image. While the
stream is paused the frame's iterations are decoded, so the iteration scrubber works on it exactly as on
a still image; the bar's buffer slider scrubs back through recent frames, and for files and folders a
second slider seeks in the whole file (Play after the end starts again from the first frame). Slot toggles
and solo in the slot cards are handed to the live view so they stay on the next frames; a model picked in
the controls runs the next frames; the status bar shows capture, model and display FPS.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from slotviewer.components.live import LiveFrame, LiveView
from slotviewer.errors import SlotviewerError
from slotviewer.gui.dialogs import ask_adapted_model_path
from slotviewer.gui.qt_document_view import caption
from slotviewer.gui.wrapping_row import WrappingRow, group
from slotviewer.io.render import to_uint8
from slotviewer.io.sources import VIDEO_SUFFIXES, CameraSource, FrameSource, list_cameras, open_source
from slotviewer.model.files import copy_model
from slotviewer.video import DEFAULT_ITERS_PER_FRAME, DEFAULT_MASK_PRIOR, MAX_MASK_PRIOR, CarryOver

FULL_RENDER_INTERVAL = 0.25  # seconds between full redraws (slot cards) while the stream runs


class QtLiveBar(QWidget):
    """Play/pause, step, the buffer scrubber, the file position (files and folders), carry-over settings,
    record and stop."""

    sigPlay = Signal(bool)  # True = run, False = pause
    sigStep = Signal(int)
    sigScrub = Signal(int)  # buffer index
    sigSeek = Signal(int)  # frame index in the file or folder
    sigCarry = Signal(bool, int, float)  # carry over?, iterations per frame, mask prior
    sigRecord = Signal(bool)
    sigStop = Signal()
    sigReconnect = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.play = QPushButton("Pause")
        self.play.setCheckable(True)
        self.play.setChecked(True)
        self.play.setToolTip("Pause / resume the stream (capture goes on; resuming shows the present)")
        self.back, self.forward = QPushButton("◀"), QPushButton("▶")
        for arrow in (self.back, self.forward):  # the sliders need the width more than the buttons
            arrow.setFixedWidth(arrow.fontMetrics().horizontalAdvance("◀") * 3 + 12)
        self.play.setFixedWidth(self.play.fontMetrics().horizontalAdvance("Pause") + 28)
        self.back.setToolTip("Previous buffered frame")
        self.forward.setToolTip("Next buffered frame; past the newest, run one new frame")
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setToolTip("Scrub back through the recent frames (pauses)")
        self.scrub.setRange(0, 0)
        self.seek = QSlider(Qt.Orientation.Horizontal)
        self.seek.setToolTip("Position in the file: drag to seek (the slots start fresh there)")
        self.seek_label = QLabel("")
        for slider in (self.scrub, self.seek):
            slider.setMinimumWidth(64)
        self.carry = QCheckBox("Carry over")
        self.carry.setChecked(True)
        self.carry.setToolTip("Start each frame from the previous frame's slots (slots keep their objects); "
                              "off: fresh slots every frame, to compare")
        self.iters = QSpinBox()
        self.iters.setRange(0, 10)
        self.iters.setValue(DEFAULT_ITERS_PER_FRAME)
        self.iters.setPrefix("iters/frame ")
        self.prior = QDoubleSpinBox()
        self.prior.setRange(0.0, MAX_MASK_PRIOR)
        self.prior.setSingleStep(0.5)
        self.prior.setDecimals(1)
        self.prior.setValue(DEFAULT_MASK_PRIOR)
        self.prior.setPrefix("hold ")
        self._prior_allowed = True
        self._prior_tip = ("How strongly each slot holds on to the places its mask covered on the last frame "
                           "(0: every pixel is contested anew; higher: steadier slots, slower to follow)")
        self.prior.setToolTip(self._prior_tip)
        self.record = QPushButton("● Record")
        self.record.setCheckable(True)
        self.stop = QPushButton("■ Stop")
        self.reconnect = QPushButton("Reconnect")
        self.reconnect.hide()
        self.state = QLabel("")
        self.scrub_label, self.seek_name = QLabel("recent"), QLabel("file")
        # moving through frames, and settings/recording: side by side where the window is wide enough
        self.row = WrappingRow(group(self.play, self.back, self.forward, self.scrub_label, self.scrub, self.seek_name,
                                     self.seek, self.seek_label, stretch=(self.scrub, self.seek)),
                               group(self.carry, self.iters, self.prior, self.record, self.stop, self.reconnect,
                                     self.state), margin=4)
        QHBoxLayout(self).setContentsMargins(0, 0, 0, 0)
        self.layout().addWidget(self.row)
        self.show_source(None)  # no file yet: no seek slider
        self.play.toggled.connect(lambda on: (self.play.setText("Pause" if on else "Play"), self.sigPlay.emit(on)))
        self.back.clicked.connect(lambda: self.sigStep.emit(-1))
        self.forward.clicked.connect(lambda: self.sigStep.emit(1))
        self.scrub.valueChanged.connect(self.sigScrub.emit)  # a drag, a click on the track or a key
        self.seek.sliderReleased.connect(lambda: self.sigSeek.emit(self.seek.value()))
        # a click on the track or a key moves it without a drag (the stream's own updates are blocked)
        self.seek.valueChanged.connect(lambda i: None if self.seek.isSliderDown() else self.sigSeek.emit(i))
        self.seek.sliderMoved.connect(lambda i: self.seek_label.setText(self._position_text(i)))
        self.carry.toggled.connect(self._emit_carry)
        self.iters.valueChanged.connect(self._emit_carry)
        self.prior.valueChanged.connect(self._emit_carry)
        self.record.toggled.connect(self.sigRecord.emit)
        self.stop.clicked.connect(self.sigStop.emit)
        self.reconnect.clicked.connect(self.sigReconnect.emit)

    @property
    def rows(self) -> int:
        return self.row.rows

    def _emit_carry(self) -> None:
        self.iters.setEnabled(self.carry.isChecked())
        self.prior.setEnabled(self.carry.isChecked() and self._prior_allowed)
        self.sigCarry.emit(self.carry.isChecked(), self.iters.value(), self.prior.value())

    def allow_mask_prior(self, allowed: bool) -> None:
        """Grey out *hold* for a model that cannot take it (an ONNX step graph from an older slotviewer)."""
        self._prior_allowed = allowed
        self.prior.setEnabled(self.carry.isChecked() and allowed)
        self.prior.setToolTip(self._prior_tip if allowed else "This model's ONNX step graph predates the mask "
                              "prior: export the model again to use it")

    def carry_over(self) -> CarryOver:
        """The carry-over settings the bar shows."""
        return CarryOver(self.carry.isChecked(), self.iters.value(), mask_prior=self.prior.value())

    def show_state(self, state: str, reconnectable: bool = True) -> None:
        """The stream's state; *Reconnect* only where trying again can help (a camera; a file that broke off
        would break off at the same frame)."""
        self.state.setText(state)
        self.reconnect.setVisible(state == "failed" and reconnectable)
        self.row.fit()
        running = state in ("running", "stalled")
        if self.play.isChecked() != running:  # ended, failed, stopped: Play (after the end: from the start)
            self.play.blockSignals(True)
            self.play.setChecked(running)
            self.play.setText("Pause" if running else "Play")
            self.play.blockSignals(False)

    def show_source(self, frame_count: int | None) -> None:
        """A file or folder of `frame_count` frames gets the seek slider; a camera (None) does not."""
        self._count = frame_count
        for widget in (self.seek, self.seek_name, self.seek_label):
            widget.setVisible(bool(frame_count))
        self.seek.setRange(0, max(0, (frame_count or 1) - 1))
        self.seek_label.setText(self._position_text(0))

    def show_position(self, index: int) -> None:
        if self._count and not self.seek.isSliderDown():
            self.seek.blockSignals(True)
            self.seek.setValue(index)
            self.seek.blockSignals(False)
            self.seek_label.setText(self._position_text(index))

    def _position_text(self, index: int) -> str:
        return f"frame {index + 1}/{self._count}" if self._count else ""

    def show_buffer(self, size: int, index: int) -> None:
        self.scrub.blockSignals(True)
        self.scrub.setRange(0, max(0, size - 1))
        self.scrub.setValue(index)
        self.scrub.blockSignals(False)

    def set_available(self, streaming: bool, reading: bool, buffered: bool) -> None:
        """The buttons that can act: Stop and the file slider with an open source, Record while frames come,
        ◀/▶ with buffered frames (after a stop too); Play is always there (after a stop it opens the source)."""
        self.stop.setEnabled(streaming)
        self.seek.setEnabled(streaming)
        self.record.setEnabled(reading or self.record.isChecked())
        for arrow in (self.back, self.forward):
            arrow.setEnabled(buffered)

    def show_recording(self, on: bool) -> None:
        self.record.blockSignals(True)
        self.record.setChecked(on)
        self.record.setText("■ Recording" if on else "● Record")
        self.record.blockSignals(False)


class QtLive(QObject):
    """Adds the live view to a `MainWindow`: menu actions, the bar, the status-bar FPS; `open_*` start it."""

    sigFrameShown = Signal(int)  # seq of the live frame now in document A (tests wait for it)

    def __init__(self, window) -> None:  # noqa: ANN001  (MainWindow; imported lazily to avoid a cycle)
        super().__init__(window)
        self.window = window
        self.viewer = window.viewer
        self.live: LiveView | None = None
        self.learned: Path | None = None  # the stem of the last Learn this scene's weights (Save adapted model as…)
        self._put: object = None  # the trace the stream last put into A
        self.bar = QtLiveBar()
        self.toolbar = QToolBar("Live")
        self.toolbar.setObjectName("Live")
        self.toolbar.addWidget(self.bar)
        window.addToolBar(Qt.ToolBarArea.BottomToolBarArea, self.toolbar)
        self.toolbar.hide()
        self.fps = QLabel("")
        window.statusBar().addPermanentWidget(self.fps)
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._show_rates)
        self._pending: tuple[str, object] | None = None  # a source waiting for the model to load
        self._full_render = 0.0
        self._connect()
        self._menus()
        window.installEventFilter(self)

    # --- construction ---------------------------------------------------------------------------------
    def _connect(self) -> None:
        b = self.bar
        b.sigPlay.connect(self._play)
        b.sigSeek.connect(lambda i: self.live and self.live.seek(i))
        b.sigStep.connect(self.step)
        b.sigScrub.connect(lambda i: self.live and self.live.show(i))
        b.sigCarry.connect(lambda on, n, w: self.live and self.live.set_carry(on, n, w))
        b.sigRecord.connect(self._record)
        b.sigStop.connect(self.stop)
        b.sigReconnect.connect(lambda: self.live and self.live.reconnect())
        slots = self.window.views["A"].slots
        # every change of A's shown slots — cards, keys 1-9, Show all, Reset edits, undo/redo — comes as a
        # document event once the viewer has applied it (live frames themselves reach A without one)
        self.viewer.events.document.connect(lambda name: name == "A" and self._sync_edits())
        slots.sigDropped.connect(self._swap)  # a swap within A: the carried slots follow from the next frame
        self.window.sigRendered.connect(lambda name: self.live and name == "A" and self.live.mark_displayed())
        self.viewer.events.engine.connect(self._on_engine)
        self.viewer.events.params.connect(lambda _params: self._follow_run_panel())
        self.viewer.events.still.connect(lambda name: name == "A" and self.close_source())

    def _menus(self) -> None:
        file_menu = next(a.menu() for a in self.window.menuBar().actions() if a.text() == "&File")
        first = file_menu.actions()[1] if len(file_menu.actions()) > 1 else None
        for text, key, slot in (("Open &video or image sequence…", "Ctrl+Shift+V", self.open_video_dialog),
                                ("Open &camera…", "Ctrl+Shift+C", self.open_camera_dialog)):
            action = self.window._action(None, text, key, slot)
            file_menu.insertAction(first, action)
        m = self.window.menuBar().addMenu("&Live")
        act = self.window._action
        self._stream_actions = [act(m, "Pause / resume", "Ctrl+Space", self.toggle_pause),
                                act(m, "Previous frame", "Ctrl+Left", lambda: self.step(-1)),
                                act(m, "Next frame", "Ctrl+Right", lambda: self.step(1)),
                                act(m, "&Record…", "Ctrl+R", lambda: self.bar.record.toggle())]
        self.record_reconstruction = act(m, "Record the reconstruction too", None, self._remember_record_layout)
        self.record_reconstruction.setCheckable(True)
        self.record_reconstruction.setChecked(self.window.settings.value("record_reconstruction", False, bool))
        self._frame_actions = [act(m, "&Export recent frames…", None, self.export_dialog)]
        self._reconnect_action = act(m, "Reconnect", None, lambda: self.live and self.live.reconnect())
        self._stream_actions.append(act(m, "&Stop", "Ctrl+Shift+X", self.stop))
        m.addSeparator()
        self._learn_action = act(m, "&Learn this scene (adapt the model to the recent frames)", None, self.learn)
        self._cancel_learning_action = act(m, "Cancel learning", None,
                                           lambda: self.live and self.live.cancel_learning())
        self._save_adapted_action = act(m, "Save adapted model &as…", None, self.save_model_dialog)
        self._update_actions()

    def _reconnectable(self) -> bool:
        """Whether trying the source again can help: a camera, not a file that broke off (it would break off at
        the same frame)."""
        return self.live is None or self.live.source is None or not self.live.source.seekable

    def _update_actions(self) -> None:
        """Live menu entries only where they can do something (without a stream they only said so when chosen)."""
        live = self.live
        state = live.state if live is not None else "idle"
        streaming = state in ("running", "paused", "stalled", "ended")  # a source is open (Play restarts an ended one)
        reading = state in ("running", "paused", "stalled")  # frames still come: something to record
        buffered = live is not None and bool(live.buffer)  # ◀/▶ move through it whatever the state
        self._reconnect_action.setEnabled(state == "failed" and self._reconnectable())
        pause, previous, following, record, stop = self._stream_actions
        for action, on in ((pause, streaming), (previous, buffered), (following, buffered), (record, reading),
                           (stop, streaming)):
            action.setEnabled(on)
        self.bar.set_available(streaming=streaming, reading=reading, buffered=buffered)
        for action in self._frame_actions:
            action.setEnabled(buffered)
        learning = live is not None and live.learning
        self._learn_action.setEnabled(buffered and not learning)
        self._cancel_learning_action.setEnabled(learning)
        self._save_adapted_action.setEnabled(self.learned is not None)

    # --- opening sources ------------------------------------------------------------------------------
    def open_video_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | {".gif"}))
        path, _ = QFileDialog.getOpenFileName(self.window, "Open video", "", f"Videos ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    def open_camera_dialog(self) -> None:
        try:
            cameras = list_cameras()
        except SlotviewerError as exc:
            self.window.error(str(exc))
            return
        if not cameras:
            self.window.error("no camera found (none could be opened; is one plugged in and free?)")
            return
        names = [f"camera {i}" for i in cameras]
        choice, ok = QInputDialog.getItem(self.window, "Open camera", "Camera:", names, 0, False)
        if ok:
            self.open_camera(cameras[names.index(choice)])

    def open_camera(self, index: int) -> None:
        self.start(CameraSource(index))

    def open_path(self, path: str | Path, fps: float = 10.0, realtime: bool = True) -> None:
        """A video file, an animated GIF, or a folder of images played as a sequence (`realtime=False`:
        every frame in turn, as fast as the model takes them). It joins the recent files."""
        self.start(open_source(Path(path), fps=fps), realtime=realtime)
        self.window._remember(str(Path(path).expanduser().resolve()))

    def start(self, source: FrameSource, realtime: bool = True) -> None:
        if self.viewer.engine is None:  # the model is still loading: start when it is there
            self._pending = (source, realtime)
            self.window.status(f"{source.name}: waiting for the model…")
            return
        self._detach()  # the old stream's learning run too: its end must not reach the new stream's controls
        self.live = LiveView(self.viewer.engine, self.bar.carry_over(),
                             deliver=self.window._dispatcher.post)
        e = self.live.events
        e.frame.connect(self._on_frame)
        e.state.connect(self._on_state)
        e.message.connect(self.window.status)
        e.recording.connect(lambda path: self.bar.show_recording(path is not None))
        e.recorded.connect(lambda path: self.window.status(f"recorded {path}"))
        e.exported.connect(lambda path, text: self.window.status(text) if path else self.window.error(text))
        e.learning.connect(self._on_learning)
        self._follow_run_panel()
        self.toolbar.show()
        self._timer.start()
        self.live.start(source, realtime)
        self.bar.show_source(source.frame_count if source.seekable else None)  # known once it is open

    def _on_engine(self, engine) -> None:  # noqa: ANN001
        self.bar.allow_mask_prior(engine is None or engine.takes_attention_bias)
        if self._pending is not None:
            source, realtime = self._pending
            self._pending = None
            self.start(source, realtime)
        elif self.live is not None and self.live.engine is not engine:  # the window's model changed
            self.live.set_engine(engine, self._run_settings(engine))

    def _run_settings(self, engine) -> tuple[int | None, int | None, int, int | None]:  # noqa: ANN001
        """(K, T, seed, draws) of the run panel for `engine` (K None for a model with fixed slots)."""
        p = self.viewer.params
        return None if engine.fixed_slots else p.slots, p.iters, p.seed, p.draws

    def _follow_run_panel(self) -> None:
        """The stream starts its slots with the run panel's K, T, seed and draws, as a still image does
        (not while the window's new model is still on its way to the stream: `_on_engine` hands both over)."""
        engine = self.viewer.engine
        if self.live is None or engine is None or self.live.engine is not engine:
            return
        self.live.set_run(*self._run_settings(engine))

    # --- from the live view ---------------------------------------------------------------------------
    def _on_frame(self, live: LiveFrame) -> None:
        """Show a live frame in document A: while running without decoding the iterations (the next frame
        comes soon); while paused with them, so the iteration scrubber works as on a still image."""
        if self.live is None:
            return
        viewer = self.viewer
        viewer.show_live_frame(self.live.source.name if self.live.source else "live", live.frame.index, live.trace)
        self._put = live.trace  # in A as the stream made it: not an edit to carry to the next frames
        if self.live.state not in ("running", "stalled"):  # paused, ended, failed, stopped
            viewer._trace_changed("A")  # decodes every iteration for scrubbing, redraws the curves
            viewer.follow_comparison()
        elif time.monotonic() - self._full_render < FULL_RENDER_INTERVAL:
            self._light_render(live)  # at frame rate: input, overlay, reconstruction, caption
        else:  # a few times a second also the slot cards (18 pictures), the iteration bar and the curves
            self._full_render = time.monotonic()
            self.viewer.events.document.emit("A")
            viewer.follow_comparison()  # B (Ctrl+K) too: at this pace it does not take the live view's CPU
        self.bar.show_buffer(len(self.live.buffer), self.live.index_of(self.live.shown))
        self.bar.show_position(live.frame.index)
        if not self._frame_actions[0].isEnabled():  # the first frame of a stream: Export and Learn can work now
            self._update_actions()
        self.sigFrameShown.emit(live.seq)

    def _light_render(self, live: LiveFrame) -> None:
        view, image = self.window.views["A"], live.trace.image
        h, w = image.shape[:2]
        view.input.set_extent(h, w)
        view.reconstruction.set_extent(h, w)
        view.input.set_image(image)
        frame = self.viewer.frame("A")
        if frame is not None:
            view.input.set_overlay(frame.overlay(self.viewer.overlay), self.viewer.opacity)
            view.reconstruction.set_image(to_uint8(frame.composite))
        view.caption.setText(caption(self.viewer.session.documents["A"]))
        self.window.sigRendered.emit("A")

    def _on_state(self, state: str) -> None:
        self.bar.show_state(state, self._reconnectable())
        self._update_actions()
        self._show_rates()
        if state in ("paused", "ended", "failed", "stopped") and self.live is not None and self.live.shown:
            self._on_frame(self.live.shown)  # the frame on screen, decoded for iteration scrubbing

    def _sync_edits(self) -> None:
        """Document A's shown slots changed: keep them so on the next frames. Only the user's edits (a new
        trace in A); a frame as the stream made it carries the flags it was made with, which a swap or a toggle
        since may have changed (pushing them back undid the swap)."""
        document = self.viewer.session.documents["A"]
        if self.live is None or document is None or document.trace is None or document.trace is self._put:
            return
        self.live.set_enabled(document.trace.enabled)

    def _swap(self, source: str, i: int, j: int, transplant: bool) -> None:
        if self.live is not None and source == "A" and not transplant and i != j:
            try:
                self.live.swap(i, j)
            except SlotviewerError as exc:
                self.window.error(str(exc))

    def _show_rates(self) -> None:
        if self.live is None or self.live.state not in ("running", "stalled", "paused"):
            self.fps.setText("")  # no rates for a stream that has ended, failed or stopped
            return
        r = self.live.rates
        self.fps.setText(f"capture {r['capture']:.1f} · model {r['model']:.1f} · display {r['display']:.1f} FPS")

    # --- controls -------------------------------------------------------------------------------------
    def _play(self, on: bool) -> None:
        """Play resumes a paused stream; after the end of a file it starts again from the first frame, after
        Stop or a failure it opens the source again."""
        if self.live is None:
            return
        if not on:
            self.live.pause()
        elif self.live.state == "ended" and self.live.source is not None and self.live.source.seekable:
            self.live.seek(0)
        elif self.live.state in ("stopped", "failed"):
            self.live.reconnect()
            self._timer.start()
        else:
            self.live.resume()

    def toggle_pause(self) -> None:
        self.bar.play.toggle()

    def step(self, delta: int) -> None:
        if self.live is None:
            return
        if self.live.state != "paused":
            self.live.pause()
        self.live.step(delta)

    def _record(self, on: bool) -> None:
        if self.live is None:
            self.bar.show_recording(False)
            return
        if not on:
            self.live.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Record the view", "slotviewer.mp4",
                                              "Video (*.mp4 *.avi *.mkv)")
        if path and not Path(path).suffix:  # a name typed without an extension: the dialog's default type
            path += ".mp4"
        self.start_recording(path) if path else self.bar.show_recording(False)

    def _remember_record_layout(self) -> None:
        self.window.settings.setValue("record_reconstruction", self.record_reconstruction.isChecked())

    def start_recording(self, path: str | Path, reconstruction: bool | None = None) -> None:
        """Record input | overlay, and the reconstruction beside them when asked (default: the Live menu's
        "Record the reconstruction too")."""
        if reconstruction is None:
            reconstruction = self.record_reconstruction.isChecked()
        try:
            self.live.start_recording(path, reconstruction)
        except SlotviewerError as exc:
            self.bar.show_recording(False)
            self.window.error(str(exc))

    def export_dialog(self) -> None:
        if self.live is None or not self.live.buffer:
            self.window.error("no live frames to export")
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Export recent frames into")
        if not folder:
            return
        stretch = self.live.export_frames()  # these frames, whatever the stream adds meanwhile
        target = Path(folder) / self.live.export_name(stretch)
        if target.exists() and QMessageBox.question(self.window, "slotviewer", f"{target} exists. Replace it?") != \
                QMessageBox.StandardButton.Yes:
            return
        self.window.status(f"exporting the recent frames to {target}…")
        self.live.export_in_background(target, overwrite=True, stretch=stretch)  # the outcome comes as `exported`

    def learn(self, steps: int = 120) -> None:
        """Adapt a copy of the model to the buffered frames in the background (needs torch); the stream
        keeps running on the old weights and switches when the new ones are ready."""
        if self.live is None or not self.live.buffer:
            self.window.error("no live frames to learn from: open a camera or a video first")
            return
        try:
            self.live.learn(steps)
        except SlotviewerError as exc:
            self.window.error(str(exc))

    def _on_learning(self, state: str, fraction: float) -> None:
        texts = {"running": f"learning this scene… {fraction:.0%} (Live → Cancel learning)",
                 "done": "learned this scene: the live view runs the adapted weights (Live → Save adapted model as…)",
                 "cancelled": "learning cancelled: the model is unchanged", "failed": ""}
        if texts[state]:
            self.window.status(texts[state])
        if state != "running" and self.live is not None:
            self.live.join_learning(1)  # its last event: the thread ends right after it (Learn is offered again)
        if state == "done" and self.live is not None:
            self.learned = self.live.adapted_model  # saveable after the stream ends or another one starts
            self.window.adapted_copies.append(self.learned)  # removed on quit unless it runs then
            # the window decodes iterations and runs edits with the viewer's engine: it must be the adapted one
            self.viewer.set_params(model=str(self.learned))
            self.window.device_label.setText(self.live.engine.description)
        self._update_actions()

    def save_model_dialog(self) -> None:
        if self.learned is None:
            self.window.error("nothing to save: learn this scene first (Live menu)")
            return
        path = ask_adapted_model_path(self.window)
        if path:
            try:
                written = copy_model(self.learned, path)
                self.window.status(f"saved {', '.join(p.name for p in written)}")
            except (SlotviewerError, OSError) as exc:
                self.window.error(str(exc))

    def stop(self) -> None:
        """Stop the stream; the last frame stays on screen and a recording is closed."""
        if self.live is not None:
            self.live.stop()
            self.live.process_callbacks()
        self._timer.stop()
        self._pending = None

    def close_source(self) -> None:
        """A still image took document A: stop the stream for good (frames still queued for the GUI thread
        are dropped with its connections) and hide the live controls."""
        self._pending = None
        if self.live is None:
            return
        self._detach()
        self.live = None
        self.toolbar.hide()
        self.fps.setText("")

    def _detach(self) -> None:
        """Stop the stream (closing a recording properly) and cut it off from the window: a learning run in
        the background is cancelled, and nothing it still has queued reaches the window — so the recording's
        end is said here (its own queued messages go with the connections)."""
        recording = self.live.recorder.path if self.live is not None and self.live.recorder is not None else None
        self.stop()
        if self.live is not None:
            self.live.cancel_learning()
            self.live.events.disconnect()
        self.bar.show_recording(False)
        if recording is not None and recording.exists():
            self.window.status(f"recorded {recording}")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.window and event.type() == QEvent.Type.Close:
            self._detach()
            if self.live is not None:  # quitting: a cancelled learning run ends (and removes its files) first
                self.live.join_learning(10)
        return False

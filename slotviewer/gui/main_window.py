"""The main window: builds the widgets and connects them to the Qt-free `Viewer` — nothing more.

State lives in `slotviewer.components.viewer.Viewer`; widgets forward user input to it and redraw when
it emits. Engine work runs on the viewer's `JobRunner`; `_Dispatcher` only posts its callbacks onto the
Qt event loop, so every event reaches the widgets on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from slotviewer.components.frames import OVERLAYS
from slotviewer.components.jobs import JobRunner
from slotviewer.components.viewer import Viewer
from slotviewer.engine.stats import attention_entropy, slot_movement
from slotviewer.errors import SlotviewerError
from slotviewer.gui.dialogs import DialogsMixin
from slotviewer.gui.qt_controls import QtControls
from slotviewer.gui.qt_document_view import QtDocumentView
from slotviewer.gui.qt_images import QtImagePanel
from slotviewer.gui.qt_iteration_bar import QtIterationBar
from slotviewer.gui.qt_plots import QtConvergencePlots
from slotviewer.gui.settings import SettingsMixin, saved_params
from slotviewer.io.render import slot_colours, to_uint8
from slotviewer.paths import settings_file


class _Dispatcher(QObject):
    """Runs callables posted from any thread on the thread this object lives in (the GUI thread)."""

    _sigCall = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._sigCall.connect(lambda call: call(), Qt.ConnectionType.QueuedConnection)

    def post(self, call: Callable[[], None]) -> None:
        self._sigCall.emit(call)


class MainWindow(SettingsMixin, DialogsMixin, QMainWindow):
    sigRendered = Signal(str)  # a document was drawn (tests and --screenshot wait for it)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("slotviewer")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings(str(settings_file()), QSettings.Format.IniFormat)
        self._dispatcher = _Dispatcher()
        self.viewer = Viewer(saved_params(self.settings), JobRunner(self._dispatcher.post))
        self.session = self.viewer.session
        self.shortcuts: list[tuple[str, str]] = []  # (keys, what) for F1, collected from the actions
        self.adapted_copies: list[Path] = []  # adapted models the window was switched to (Model → Adapt…)

        self.controls = QtControls()
        self.views = {"A": QtDocumentView("A"), "B": QtDocumentView("B")}
        self.views["B"].hide()
        self.iteration_bar = QtIterationBar()
        self.plots = QtConvergencePlots()
        self.agreement = QtImagePanel("stability: per-pixel agreement")
        self.agreement.hide()
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("background: #8a6d1d; color: white; padding: 4px; border-radius: 3px;")
        self.notice.hide()
        self.documents = documents = QSplitter(Qt.Orientation.Horizontal)
        for view in self.views.values():
            documents.addWidget(view)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        for widget, stretch in ((self.notice, 0), (documents, 1), (self.iteration_bar, 0)):
            layout.addWidget(widget, stretch)
        self.setCentralWidget(central)
        self.controls.setMaximumWidth(250)
        right = QWidget()
        right.setMaximumWidth(250)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.plots, 2)
        right_layout.addWidget(self.agreement, 1)
        # the controls scroll rather than hold the window taller than a small screen (or `--size 800x600`)
        controls = QScrollArea()
        controls.setWidget(self.controls)
        controls.setWidgetResizable(True)
        controls.setFrameShape(QFrame.Shape.NoFrame)
        controls.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # never narrower than its boxes (they would be cut, with no way to scroll to them): the images give way
        needed = self.controls.minimumSizeHint().width() + controls.verticalScrollBar().sizeHint().width()
        controls.setMinimumWidth(needed)
        controls.setMaximumWidth(max(needed, 250 + controls.verticalScrollBar().sizeHint().width()))
        self.docks = [self._dock("Controls", controls, Qt.DockWidgetArea.LeftDockWidgetArea),
                      self._dock("Convergence", right, Qt.DockWidgetArea.RightDockWidgetArea)]
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(100)
        self.busy.hide()
        self.activity = QLabel("")  # what runs now; empty when idle (every job ends its message)
        self.device_label = QLabel("")
        for widget in (self.activity, self.busy, self.device_label):
            self.statusBar().addPermanentWidget(widget)
        self._connect()
        self._menus()
        from slotviewer.gui.qt_live import QtLive

        self.live = QtLive(self)  # webcam, video, image sequence: File → Open camera…, the Live menu
        self._restore()

    # --- construction --------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        v, c, e = self.viewer, self.controls, self.viewer.events
        c.sigParams.connect(self._set_params)
        c.sigOpenModel.connect(self.open_model_dialog)
        c.sigOverlay.connect(v.set_overlay)
        c.sigOpacity.connect(v.set_opacity)
        c.sigReconverge.connect(v.reconverge)
        c.sigReset.connect(v.reset_edits)
        c.sigShowAll.connect(lambda: v.set_enabled("A", None))
        c.sigStability.connect(v.check_stability)
        c.sigResample.connect(v.resample)
        self.iteration_bar.sigIterationChanged.connect(v.set_position)
        self.iteration_bar.sigPositionChanged.connect(v.set_position)
        for name, view in self.views.items():
            view.slots.sigToggled.connect(partial(v.toggle_slot, name))
            view.slots.sigSolo.connect(partial(v.solo_slot, name))
            view.slots.sigDropped.connect(lambda source, i, j, transplant, target=name:
                                          self._dropped(source, i, target, j, transplant))
        e.params.connect(lambda _params: self.show_params())
        e.engine.connect(self._on_engine)
        e.document.connect(self._on_document)
        e.frame.connect(self.render)
        e.position.connect(self.plots.set_iteration)
        e.position.connect(self.iteration_bar.show_position)
        e.overlay.connect(c.show_overlay)
        e.opacity.connect(lambda _: [self.render(n) for n in self.views])
        e.stability.connect(self._on_stability)
        e.history.connect(self._on_history)
        e.notice.connect(lambda text: (self.notice.setText(text), self.notice.setVisible(bool(text))))
        e.message.connect(self.status)
        e.error.connect(self.error)
        e.opened.connect(self._remember)
        v.runner.events.status.connect(lambda text: self.activity.setText(text))
        v.runner.events.busy.connect(lambda busy: self.busy.setVisible(busy))

    def _action(self, menu, text: str, shortcut: str | None, slot: Callable[[], object]) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            self.shortcuts.append((shortcut, text.replace("&", "").rstrip("…")))
        action.triggered.connect(lambda *_: slot())
        (menu or self).addAction(action)
        return action

    def _menus(self) -> None:
        v, bar = self.viewer, self.menuBar()
        m = bar.addMenu("&File")
        for text, key, slot in (("&Open image or folder…", "Ctrl+O", self.open_dialog),
                                ("Open &folder…", "Ctrl+Alt+O", self.open_folder_dialog),
                                ("Open image as &B…", "Ctrl+Shift+O", lambda: self.open_dialog("B"))):
            self._action(m, text, key, slot)
        self.compare_action = self._action(m, "Compare A with soft &k-means (as B)", "Ctrl+K", v.compare)
        self.close_b_action = self._action(m, "Close image B", None, v.close_b)
        self._action(m, "&Paste image", "Ctrl+V", self.paste)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        self._action(m, "Open &model…", None, self.open_model_dialog)
        self._action(m, "&Export results…", "Ctrl+E", self.export_dialog)
        self._action(m, "Save &screenshot…", "Ctrl+Shift+S", self.screenshot_dialog)
        self._action(m, "&Quit", "Ctrl+Q", self.close)
        m = bar.addMenu("&Edit")
        self.undo_action = self._action(m, "&Undo", "Ctrl+Z", v.undo)
        self.redo_action = self._action(m, "&Redo", "Ctrl+Shift+Z", v.redo)
        self.reset_action = self._action(m, "Reset edits", None, v.reset_edits)
        m = bar.addMenu("&View")
        for dock in self.docks:
            m.addAction(dock.toggleViewAction())
        self._action(m, "&Fit images (or double-click one)", "Ctrl+0", lambda: [w.fit() for w in self.views.values()])
        for mode, key in zip(OVERLAYS, ("A", "Shift+A", "Alt+A", "Ctrl+Alt+A"), strict=True):
            self._action(m, f"Overlay: {mode}", key, partial(v.set_overlay, mode))
        for scheme in ("System", "Light", "Dark"):
            self._action(m, f"{scheme} theme", None, partial(self.set_theme, scheme))
        m = bar.addMenu("&Model")
        self._action(m, "&Adapt to this image…", None, self.adapt_dialog)
        self._action(m, "Adapt to this &folder…", None, partial(self.adapt_dialog, True))
        m = bar.addMenu("&Help")
        self._action(m, "Keyboard &shortcuts", "F1", self.show_shortcuts)
        self._action(m, "&About model", None, self.show_about_model)
        for key, text, slot in (("Right", "Next iteration", lambda: v.step(1)),
                                ("Left", "Previous iteration", lambda: v.step(-1)),
                                ("Space", "Play / pause the iterations", self.iteration_bar.toggle_play),
                                ("PgDown", "Next image in the folder", lambda: self.next_image(1)),
                                ("PgUp", "Previous image in the folder", lambda: self.next_image(-1)),
                                ("R", "Re-sample the initial slots (new seed)", v.resample)):
            self._action(None, text, key, slot)
        for i in range(9):
            self._action(None, f"Toggle slot {i} of image A", str(i + 1), partial(v.toggle_slot, "A", i))
        self._on_history(False, False)
        self._update_document_actions()

    def _update_document_actions(self) -> None:
        """What needs an image is offered only with one open (it did nothing, silently, without)."""
        a, b = self.session.documents["A"], self.session.documents["B"]
        self.compare_action.setEnabled(a is not None)
        self.close_b_action.setEnabled(b is not None)
        self.reset_action.setEnabled(a is not None or b is not None)

    # --- from the viewer --------------------------------------------------------------------------------
    def _on_engine(self, engine) -> None:  # noqa: ANN001
        self.controls.running.setText(engine.description)
        self.device_label.setText(engine.description)
        self.controls.model_loaded(self.viewer.params.model)
        self.show_params()

    def show_params(self) -> None:
        """The controls show the parameters that run, with K greyed out for a model with fixed slots."""
        engine = self.viewer.engine
        self.controls.show_params(self.viewer.params, engine is not None and engine.fixed_slots)

    def _on_document(self, name: str) -> None:
        document = self.session.documents[name]
        self._update_document_actions()
        shown = self.views[name].isVisible()
        self.views[name].show_document(document)
        if name == "B" and not shown and self.views["B"].isVisible():  # A and B get equal halves
            self.documents.setSizes([10_000, 10_000])
        if name == "A" and document is not None and document.trace is not None:
            trace = document.trace
            self.iteration_bar.set_range(trace.iterations, self.viewer.iteration)
            if self.plots.shown is not trace.slots:  # a slot toggle keeps the history: keep the curves
                self.plots.set_data(slot_movement(trace), attention_entropy(trace), slot_colours(trace.num_slots))
                self.plots.shown = trace.slots
            self.plots.set_iteration(self.viewer.position)
        self.render(name)

    def render(self, name: str) -> None:
        """Draw one document at the viewer's position (cached arrays only, no engine call)."""
        v, document = self.viewer, self.session.documents[name]
        if document is None or document.trace is None:
            return
        key = (id(document), id(document.trace), v.position, v.overlay)
        if self.views[name].show_frame(key, document.trace, lambda: v.frame(name), v.overlay, v.opacity):
            self.sigRendered.emit(name)

    def _on_stability(self, result) -> None:  # noqa: ANN001
        self.agreement.setVisible(result is not None)
        self.controls.stability_result.setText("" if result is None else
                                               f"{len(result.seeds)} seeds: mean pairwise ARI {result.mean_ari:.3f}; "
                                               f"{(result.agreement == 1).mean():.0%} of pixels always agree")
        if result is not None:
            self.agreement.set_image(to_uint8(result.agreement))

    def _on_history(self, can_undo: bool, can_redo: bool) -> None:
        self.undo_action.setEnabled(can_undo)
        self.redo_action.setEnabled(can_redo)

    def _set_params(self, changes: dict) -> None:
        try:
            self.viewer.set_params(**changes)
        except SlotviewerError as exc:
            self.error(str(exc))

    # --- messages, help and theme ---------------------------------------------------------------------
    def status(self, text: str) -> None:
        """A message in the status bar, shortened in the middle (its end names the file or the reason) to the
        room the permanent widgets leave; the whole text is the bar's tooltip."""
        bar = self.statusBar()
        taken = sum(w.width() for w in (self.activity, self.busy, self.device_label) if w.isVisible())
        room = max(bar.width() - taken - 40, 80)
        bar.showMessage(bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, room), 8000)
        bar.setToolTip(text)

    def error(self, message: str) -> None:
        """Errors are one clear line in the status bar and a dialog (never a traceback)."""
        self.status(f"error: {message}")
        if not self.property("quiet"):
            QTimer.singleShot(0, lambda: QMessageBox.warning(self, "slotviewer", message))

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;{v}</td></tr>" for k, v in self.shortcuts)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def about_model_text(self) -> str:
        from slotviewer.gui.about import model_card_html

        return model_card_html(self.viewer.engine)

    def adapt_dialog(self, folder: bool = False) -> None:
        """Model → Adapt to this image / folder: a copy of the model fitted to image A (or its folder) in the
        background, then before and after side by side (`gui/qt_adapt.py`). One such dialog at a time."""
        from slotviewer.components.adaptation import adaptation_for
        from slotviewer.gui.qt_adapt import QtAdaptDialog

        running = getattr(self, "adapting", None)
        if running is not None and running.adaptation is not None and running.adaptation.running:
            running.show()
            running.raise_()
            running.activateWindow()
            self.status("an adaptation is running: its dialog is in front (Cancel stops it)")
            return
        try:
            first = adaptation_for(self.viewer, folder, deliver=self._dispatcher.post)
        except SlotviewerError as exc:
            self.error(str(exc))
            return
        if running is not None:
            running.dismiss()
            running.deleteLater()  # its panels, pictures and connections go with it
        self.adapting = dialog = QtAdaptDialog(first, self)
        dialog.sigUse.connect(self._use_adapted)
        dialog.show()

    def _dropped(self, source: str, i: int, target: str, j: int, transplant: bool) -> None:
        """A slot card dropped on another: the viewer swaps (or transplants) them in the pictures on screen;
        within A while a stream runs, the live view alone swaps them, from its next frame (the frame on screen
        is gone before an edit of it could be made, and the edit said it was dropped)."""
        if not transplant and source == target == "A" and self.live.live is not None \
                and self.live.live.state in ("running", "stalled"):
            return
        self.viewer.swap(source, i, target, j, transplant)

    def _use_adapted(self, stem: str, backend: str) -> None:
        self.adapted_copies.append(Path(stem))  # in a temporary folder: removed on quit unless it runs then
        self.viewer.model_chosen = True  # the user chose it: a bundled sample opened later does not replace it
        self._set_params({"model": stem, "backend": backend})  # the backend it has files for

    def show_about_model(self) -> None:
        QMessageBox.information(self, "About the model", self.about_model_text())

    def set_theme(self, scheme: str) -> None:
        from slotviewer.gui.theme import apply_theme

        apply_theme(scheme)
        self.settings.setValue("theme", scheme)

"""The main window: wires documents, the engine worker and the widgets together.

Data flow: an image (file, folder, clipboard — or later a live frame) enters through `show_image`,
the worker runs the engine and sends a `Trace` back, `Session` keeps it (with undo), and `_render`
draws the scrubbed iteration. Widgets never call the engine themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from slotviewer.components.document import Document, IterationView
from slotviewer.components.session import Session
from slotviewer.engine import Engine, Trace, surgery
from slotviewer.engine.stability import Stability, stability
from slotviewer.engine.stats import attention_entropy, slot_movement
from slotviewer.errors import SlotviewerError
from slotviewer.gui.qt_controls import OPEN_MODEL, QtControls
from slotviewer.gui.qt_images import QtImagePanel
from slotviewer.gui.qt_iteration_bar import QtIterationBar
from slotviewer.gui.qt_plots import QtConvergencePlots
from slotviewer.gui.qt_slot_panel import QtSlotPanel
from slotviewer.gui.worker import Request, WorkerThread
from slotviewer.io.images import IMAGE_SUFFIXES, list_images, read_image
from slotviewer.io.render import resize_uint8, slot_colours, to_uint8

SHORTCUTS = [
    ("Ctrl+O", "Open image or folder"), ("Ctrl+Shift+O", "Open image as B (for swapping slots)"),
    ("Ctrl+V", "Paste image from clipboard"), ("PageDown / PageUp", "Next / previous image in the folder"),
    ("← / →", "Previous / next iteration"), ("Space", "Play / pause the iterations"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo an edit"), ("1…9", "Toggle slot 0…8 of image A"),
    ("R", "Re-sample the initial slots (new seed)"), ("Ctrl+E", "Export current results"),
    ("Ctrl+Shift+S", "Save a screenshot of the window"),
]
MAX_RECENT = 10


def qimage_to_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    return buffer.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


class DocumentView(QWidget):
    """Input (with segmentation overlay), reconstruction and the slot cards of one document."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.input = QtImagePanel(f"{name}: input + segmentation")
        self.reconstruction = QtImagePanel(f"{name}: reconstruction")
        self.slots = QtSlotPanel(name)
        self.caption = QLabel("")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        images = QSplitter(Qt.Orientation.Horizontal)
        images.addWidget(self.input)
        images.addWidget(self.reconstruction)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(images)
        splitter.addWidget(self.slots)
        splitter.setSizes([420, 260])
        layout.addWidget(splitter, 1)


class MainWindow(QMainWindow):
    sigRendered = Signal(str)  # a document was drawn (tests and --screenshot wait for it)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("slotviewer")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("slotviewer", "slotviewer")
        self.session = Session()
        self.engine: Engine | None = None
        self.opacity = 0.45
        self._generation = 0
        self._stability: Stability | None = None
        self._model_index = 0

        self.worker_thread = WorkerThread()
        self.worker = self.worker_thread.worker
        self.worker.sigResult.connect(self._on_result)
        self.worker.sigError.connect(self._on_error)
        self.worker.sigBusy.connect(self._on_busy)
        self.worker.sigEngineLoaded.connect(self._on_engine)

        self.controls = QtControls()
        self.views = {"A": DocumentView("A"), "B": DocumentView("B")}
        self.views["B"].hide()
        self.iteration_bar = QtIterationBar()
        self.plots = QtConvergencePlots()
        self.agreement = QtImagePanel("stability: per-pixel agreement")

        documents = QSplitter(Qt.Orientation.Horizontal)
        documents.addWidget(self.views["A"])
        documents.addWidget(self.views["B"])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(documents, 1)
        layout.addWidget(self.iteration_bar)
        self.setCentralWidget(central)
        self.controls.setMaximumWidth(330)
        self._dock("Controls", self.controls, Qt.DockWidgetArea.LeftDockWidgetArea)
        right = QWidget()
        right.setMaximumWidth(380)
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.plots, 2)
        right_layout.addWidget(self.agreement, 1)
        self.agreement.hide()  # until a stability check ran
        self._dock("Convergence", right, Qt.DockWidgetArea.RightDockWidgetArea)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.statusBar().addPermanentWidget(self.busy)
        self.device_label = QLabel("")
        self.statusBar().addPermanentWidget(self.device_label)

        self._connect()
        self._menus()
        self._restore()

    # --- construction --------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        c = self.controls
        c.sigEngineChanged.connect(self.load_engine)
        c.sigRunChanged.connect(self.rerun)
        c.resample.clicked.connect(self.resample)
        c.sigOpenModel.connect(self.open_model_dialog)
        c.sigOpacity.connect(self._set_opacity)
        c.sigReconverge.connect(self.reconverge)
        c.sigReset.connect(self.reset_edits)
        c.sigShowAll.connect(lambda: self.set_enabled("A", None))
        c.sigStability.connect(self.check_stability)
        self.iteration_bar.sigIterationChanged.connect(self.set_iteration)
        self.iteration_bar.sigPositionChanged.connect(self.set_position)
        for name, view in self.views.items():
            view.slots.sigToggled.connect(partial(self.toggle_slot, name))
            view.slots.sigSolo.connect(partial(self.solo_slot, name))
            view.slots.sigDropped.connect(partial(self._dropped_slot, name))

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open image or folder…", "Ctrl+O", self.open_dialog)
        self._action(file_menu, "Open &folder…", "Ctrl+Alt+O", self.open_folder_dialog)
        self._action(file_menu, "Open image as &B…", "Ctrl+Shift+O", lambda: self.open_dialog("B"))
        self._action(file_menu, "Compare A with soft &k-means (as B)", "Ctrl+K", self.compare_methods)
        self._action(file_menu, "Close image B", None, self.close_b)
        self._action(file_menu, "&Paste image", "Ctrl+V", self.paste)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self._action(file_menu, "Open &model…", None, self.open_model_dialog)
        self._action(file_menu, "&Export results…", "Ctrl+E", self.export_dialog)
        self._action(file_menu, "Save &screenshot…", "Ctrl+Shift+S", self.screenshot_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", "Ctrl+Q", self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action(edit_menu, "&Undo", "Ctrl+Z", self.undo)
        self.redo_action = self._action(edit_menu, "&Redo", "Ctrl+Shift+Z", self.redo)
        self._action(edit_menu, "Reset edits", None, self.reset_edits)
        view_menu = self.menuBar().addMenu("&View")
        for scheme in ("System", "Light", "Dark"):
            self._action(view_menu, f"{scheme} theme", None, partial(self.set_theme, scheme))
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "Keyboard &shortcuts", "F1", self.show_shortcuts)
        shortcuts = {
            "Right": lambda: self.iteration_bar.step(1), "Left": lambda: self.iteration_bar.step(-1),
            "Space": self.iteration_bar.toggle_play, "PgDown": lambda: self.next_image(1),
            "PgUp": lambda: self.next_image(-1), "R": self.resample,
        }
        for key, slot in shortcuts.items():
            QShortcut(QKeySequence(key), self, activated=slot)
        for i in range(9):
            QShortcut(QKeySequence(str(i + 1)), self, activated=partial(self._toggle_by_key, i))
        self._update_undo_actions()

    def _action(self, menu, text: str, shortcut: str | None, slot) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    # --- settings -----------------------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 900)
        state = s.value("windowState")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for key, box in (("model", self.controls.model), ("backend", self.controls.backend),
                         ("device", self.controls.device)):
            value = s.value(key)
            if value and box.findText(str(value)) >= 0:
                box.blockSignals(True)
                box.setCurrentText(str(value))
                box.blockSignals(False)
        self.controls.opacity.setValue(int(s.value("opacity", 45)))
        run = s.value("run")
        if isinstance(run, dict):
            self.controls.restore_run_params(run)
        self._refresh_recent()

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("model", self.controls.model.currentText())
        s.setValue("backend", self.controls.backend.currentText())
        s.setValue("device", self.controls.device.currentText())
        s.setValue("opacity", self.controls.opacity.value())
        s.setValue("run", self.controls.run_params())
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        self.save_settings()
        self.iteration_bar.timer.stop()
        self.worker_thread.stop()
        super().closeEvent(event)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(partial(self.open_path, path))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # --- engine ----------------------------------------------------------------------------------------------
    def load_engine(self) -> None:
        c = self.controls
        if c.model.currentText() == OPEN_MODEL:
            self.status("no model: use File → Open model… (or train one with `slotviewer train`)")
            return
        self._model_index = c.model.currentIndex()
        self.status(f"loading {c.model.currentText()} on {c.backend.currentText()}…")
        self.worker.load(c.model.currentText(), c.backend.currentText(), c.device.currentText())

    def _on_engine(self, engine: Engine) -> None:
        self.engine = engine
        cfg = engine.config
        self.controls.set_model_defaults(cfg.num_slots, cfg.iters, engine.fixed_slots)
        self.controls.running.setText(engine.description)
        self.device_label.setText(engine.description)
        self.status(f"model ready: {engine.description}")
        self.rerun()

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(Path.home()),
                                              "Models (*.safetensors *.onnx)")
        if not path:  # back to the model that is really running
            self.controls.model.setCurrentIndex(self._model_index)
            return
        self.controls.backend.blockSignals(True)
        self.controls.backend.setCurrentText("onnx" if path.endswith(".onnx") else "torch")
        self.controls.backend.blockSignals(False)
        self.controls.add_model(path)
        self.load_engine()

    # --- inputs -----------------------------------------------------------------------------------------
    def open_dialog(self, document: str = "A") -> None:
        suffixes = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self._last_folder(), f"Images ({suffixes})")
        if path:
            self.open_path(path, document)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder of images", self._last_folder())
        if folder:
            self.open_path(folder)

    def compare_methods(self, method: str = "soft-kmeans") -> None:
        """Show image A again as B, clustered by k-means on the same encoder features, side by side."""
        document = self.session.documents["A"]
        if document is None:
            return
        self.session.open("B", Document(document.source, document.image, method=method))
        self.views["B"].show()
        self.views["B"].input.set_image(self.views["A"].input.rendered())
        self.run_document("B")

    def _last_folder(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def open_path(self, path: str, document: str = "A") -> None:
        """Open a file (or the first image of a folder); reading happens on the worker thread."""
        p = Path(path)
        if p.is_dir():
            images = list_images([p])
            if not images:
                self.error(f"{p}: no images in this folder")
                return
            p = images[0]
        self.status(f"opening {p}…")
        self.worker.submit(Request(f"open:{document}", lambda _engine: read_image(p), ("open", document, str(p)),
                                   needs_engine=False))

    def paste(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.error("the clipboard holds no image")
            return
        self.show_image(qimage_to_array(image), "clipboard")

    def next_image(self, step: int) -> None:
        document = self.session.documents["A"]
        if document is None or not Path(document.source).is_file():
            return
        folder = list_images([Path(document.source).parent])
        try:
            index = folder.index(Path(document.source))
        except ValueError:
            return
        if folder:
            self.open_path(str(folder[(index + step) % len(folder)]))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls():
            local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if local:
                self.open_path(local[0])
                if len(local) > 1:
                    self.open_path(local[1], "B")
        elif mime.hasImage():
            self.show_image(qimage_to_array(QImage(mime.imageData())), "dropped image")

    def show_image(self, image: np.ndarray, source: str, document: str = "A") -> None:
        """The one entry point for pixels (files, clipboard, and live frames): show them and run."""
        self.session.open(document, Document(source, image))
        self.status(f"{source}: {image.shape[1]}×{image.shape[0]}, running…")
        self.views[document].show()
        self.views[document].input.set_image(resize_uint8(_display(image), *image.shape[:2]))
        self.run_document(document)

    def close_b(self) -> None:
        self.session.close("B")
        self.views["B"].hide()
        self._update_undo_actions()

    # --- running -----------------------------------------------------------------------------------------
    def rerun(self) -> None:
        for name, document in self.session.documents.items():
            if document is not None:
                self.run_document(name)

    def resample(self) -> None:
        self.controls.seed.setValue(int(np.random.default_rng().integers(0, 2**31 - 1)))

    def run_document(self, name: str) -> None:
        document = self.session.documents[name]
        if document is None or self.engine is None:
            return
        params = self.controls.run_params()
        if self.engine.fixed_slots:
            params["slots"] = None
        if document.method:
            params["method"] = document.method
        self._generation += 1
        image = document.image
        self.worker.submit(Request(f"run:{name}", lambda e: e.run(image, **params),
                                   ("run", name, document, self._generation)))

    def _on_result(self, request: Request, result: object) -> None:
        kind, name, *rest = request.tag
        if kind == "open":
            self._remember(rest[0])
            self.show_image(result, rest[0], name)
        elif kind == "run":
            document = rest[0]
            if self.session.documents[name] is not document:
                return  # the image changed while this ran
            self.session.new_run(name, result)
            self._after_new_trace(name)
            self.status(f"{name}: {document.name} in {result.timings_ms.get('total', 0):.1f} ms on "
                        f"{result.provenance.get('device')}")
        elif kind == "decode":
            document, trace = rest
            for t, (rgb, alpha_logits) in enumerate(result):
                document.store_decoded(trace, t, rgb, alpha_logits)
            if self.session.documents[name] is document:
                self.render(name)
        elif kind == "edit":
            before = rest[0]
            if any(self.session.documents[n] is None or self.session.documents[n].trace is not t
                   for n, t in before.items()):
                self.status("an edit was dropped: its image changed while it was computed")
                return
            self.session.edit(result)
            for changed in result:
                self._after_new_trace(changed)
            self._update_undo_actions()
        elif kind == "stability":
            self._show_stability(result)
        elif kind == "export":
            self.status(f"wrote {result}")

    def _on_error(self, request: Request | None, message: str) -> None:
        self.error(message)

    def _on_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    def _after_new_trace(self, name: str) -> None:
        document = self.session.documents[name]
        trace = document.trace
        if name == "A":
            document.iteration = -1
            self.iteration_bar.set_range(trace.iterations)
        else:  # B follows the scrubber
            document.iteration = min(self.iteration_bar.iteration, trace.iterations)
        self.views[name].slots.set_slots(slot_colours(trace.num_slots))
        if trace.iterations and any(document.needs_decode(t) for t in range(trace.iterations)):
            self.worker.submit(Request(f"decode:{name}", lambda e: e.decode_iterations(trace),
                                       ("decode", name, document, trace)))
        p = trace.provenance
        self.views[name].caption.setText(
            f"{document.name} · K={trace.num_slots} T={trace.iterations} seed={p.get('seed')} · {p.get('method')} · "
            f"{trace.timings_ms.get('total', 0):.1f} ms")
        if name == "A":
            self.plots.set_data(slot_movement(trace), attention_entropy(trace), slot_colours(trace.num_slots))
            self.plots.set_iteration(document.current_iteration)
        self.render(name)
        self._update_undo_actions()

    # --- drawing -------------------------------------------------------------------------------------------
    def set_iteration(self, t: int) -> None:
        for document in self.session.documents.values():
            if document is not None and document.trace is not None:
                document.iteration = min(t, document.trace.iterations)
        self.plots.set_iteration(t)
        for name in self.views:
            self.render(name)

    def set_position(self, position: float) -> None:
        """Playback between iterations: blend the two neighbouring iterations."""
        self.plots.set_iteration(position)
        for name in self.views:
            self.render(name, position)

    def _set_opacity(self, value: float) -> None:
        self.opacity = value
        for name in self.views:
            self.render(name)

    def render(self, name: str, position: float | None = None) -> None:
        """Draw one document at the scrubbed iteration — or, during playback, at a fractional `position`
        blended between two iterations so the maps animate smoothly. Cached arrays only, no engine call."""
        document = self.session.documents[name]
        if document is None or document.trace is None:
            return
        if position is None:
            frame = _frame(document.view())
        else:
            t0 = min(int(position), document.trace.iterations)
            t1 = min(t0 + 1, document.trace.iterations)
            frame = _blend(_frame(document.view(t0)), _frame(document.view(t1)), position - t0)
        if frame is None:
            return  # its decode is on the way
        widgets = self.views[name]
        colours = slot_colours(len(frame.alpha))
        overlay = colours[frame.alpha.argmax(0)] if any(frame.enabled) else None
        widgets.input.set_overlay(overlay, self.opacity)
        widgets.reconstruction.set_image(to_uint8(frame.composite))
        widgets.slots.set_enabled_flags(frame.enabled)
        peak = max(float(frame.attention.max()), 1e-8)
        for k, card in enumerate(widgets.slots.cards):
            a = frame.alpha[k][..., None]
            attention = to_uint8((frame.attention[k] / peak)[..., None] * (colours[k] / 255.0))
            card.set_images(attention, to_uint8(frame.alpha[k]), to_uint8(frame.rgb[k] * a + (1 - a) * 0.15))
        self.sigRendered.emit(name)

    def _show_stability(self, result: Stability) -> None:
        self._stability = result
        self.agreement.show()
        self.agreement.set_image(to_uint8(result.agreement))
        self.controls.stability_result.setText(
            f"{len(result.seeds)} seeds: mean pairwise ARI {result.mean_ari:.3f}; "
            f"{(result.agreement == 1).mean():.0%} of pixels always agree")

    # --- surgery -----------------------------------------------------------------------------------------
    def _edit(self, name: str, job, label: str, inputs: tuple[str, ...] = ()) -> None:  # noqa: ANN001
        """Run an edit on the worker; its result is dropped if any input trace changed meanwhile."""
        names = inputs or (name,)
        if any(self.session.documents[n] is None or self.session.documents[n].trace is None for n in names):
            return
        before = {n: self.session.documents[n].trace for n in names}
        self.status(label)
        self.worker.submit(Request(f"edit:{name}", job, ("edit", name, before)))

    def set_enabled(self, name: str, enabled: list[bool] | None) -> None:
        """Toggle slots: instant, on the GUI thread (no decode needed)."""
        document = self.session.documents[name]
        if document is None or document.trace is None:
            return
        trace = document.trace
        enabled = [True] * trace.num_slots if enabled is None else enabled
        self.session.edit({name: surgery.set_enabled(trace, enabled)})
        self.render(name)
        self._update_undo_actions()

    def toggle_slot(self, name: str, index: int, on: bool) -> None:
        trace = self.session.documents[name].trace
        enabled = list(trace.enabled)
        enabled[index] = on
        self.set_enabled(name, enabled)

    def _toggle_by_key(self, index: int) -> None:
        document = self.session.documents["A"]
        if document is not None and document.trace is not None and index < document.trace.num_slots:
            self.toggle_slot("A", index, not document.trace.enabled[index])

    def solo_slot(self, name: str, index: int) -> None:
        trace = self.session.documents[name].trace
        self.set_enabled(name, [i == index for i in range(trace.num_slots)])

    def reconverge(self, iters: int) -> None:
        trace = self.session.documents["A"] and self.session.documents["A"].trace
        if trace is None:
            return
        self._edit("A", lambda e: {"A": surgery.reconverge(e, trace, iters)}, "re-converging…")

    def swap_slots(self, source: str, i: int, target: str, j: int, transplant: bool = False) -> None:
        a = self.session.documents[source]
        b = self.session.documents[target]
        if a is None or b is None or a.trace is None or b.trace is None:
            return
        ta, tb = a.trace, b.trace
        if transplant:
            job = lambda e: {target: surgery.transplant(e, ta, i, tb, j)}  # noqa: E731
        elif source == target:
            job = lambda e: {target: surgery.swap(e, ta, i, ta, j)[0]}  # noqa: E731
        else:
            job = lambda e: dict(zip((source, target), surgery.swap(e, ta, i, tb, j), strict=True))  # noqa: E731
        self._edit(target, job, "transplanting…" if transplant else "swapping…", (source, target))

    def _dropped_slot(self, target: str, source: str, i: int, j: int, transplant: bool) -> None:
        self.swap_slots(source, i, target, j, transplant)

    def reset_edits(self) -> None:
        changes = {n: d.original for n, d in self.session.documents.items()
                   if d is not None and d.original is not None and d.trace is not d.original}
        if changes:
            self.session.edit(changes)
            for name in changes:
                self._after_new_trace(name)

    def undo(self) -> None:
        for name in self.session.undo():
            self._after_new_trace(name)
        self._update_undo_actions()

    def redo(self) -> None:
        for name in self.session.redo():
            self._after_new_trace(name)
        self._update_undo_actions()

    def _update_undo_actions(self) -> None:
        self.undo_action.setEnabled(self.session.can_undo)
        self.redo_action.setEnabled(self.session.can_redo)

    # --- stability -----------------------------------------------------------------------------------------
    def check_stability(self, runs: int) -> None:
        document = self.session.documents["A"]
        if document is None or self.engine is None:
            return
        params = self.controls.run_params()
        if self.engine.fixed_slots and params["method"] == "slot-attention":
            self.error("this model uses learned slot queries: every seed gives the same result "
                       "(choose k-means, or a model with Gaussian slots)")
            return
        image, base = document.image, params.pop("seed")
        seeds = [base + i for i in range(runs)]
        if self.engine.fixed_slots:
            params["slots"] = None

        cancelled = self.worker.cancelled

        def job(engine: Engine) -> Stability:
            traces = []
            for s in seeds:
                if cancelled.is_set():
                    raise SlotviewerError("stability check cancelled")
                traces.append(engine.run(image, seed=s, **params))
            return stability([t.labels() for t in traces], seeds, traces[0].num_slots)

        self.status(f"running {runs} seeds…")
        self.worker.submit(Request("stability", job, ("stability", "A")))

    # --- export ---------------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        document = self.session.documents["A"]
        if document is None or document.trace is None:
            self.error("nothing to export yet")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export results into", self._last_folder())
        if not folder:
            return
        target = Path(folder) / (Path(document.source).stem or "image")
        if target.exists() and QMessageBox.question(self, "slotviewer", f"{target} exists. Replace it?") \
                != QMessageBox.StandardButton.Yes:
            return
        self.export_to(Path(folder))

    def export_to(self, folder: Path) -> None:
        """Write what `slotviewer run` writes (current edits included), a PNG of the window and the GIF."""
        from slotviewer.export import write_trace
        from slotviewer.io.images import png_bytes

        document = self.session.documents["A"]
        trace: Trace = document.trace
        stem = Path(document.source).stem or "image"
        window = qimage_to_array(self.grab().toImage())
        target = folder / stem

        def job(_engine: Engine) -> Path:
            view = png_bytes(window)
            write_trace(trace, target, overwrite=True, gif=True, extra={"input": document.source},
                        files={"view.png": view})
            return target

        self.worker.submit(Request("export", job, ("export", "A"), needs_engine=False))

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", self._last_folder() + "/slotviewer.png",
                                              "PNG (*.png)")
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path: str) -> None:
        from slotviewer.io.atomic import write_with

        image = self.grab().toImage()

        def save(tmp: Path) -> None:
            if not image.save(str(tmp), "PNG"):
                raise SlotviewerError(f"{path}: cannot write the screenshot")

        write_with(Path(path), save)
        self.status(f"wrote {path}")

    # --- messages and theme -----------------------------------------------------------------------------
    def status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def error(self, message: str) -> None:
        """Errors are one clear line in the status bar and a dialog (never a traceback)."""
        self.status(f"error: {message}")
        if not self.property("quiet"):
            QTimer.singleShot(0, lambda: QMessageBox.warning(self, "slotviewer", message))

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;{v}</td></tr>" for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def set_theme(self, scheme: str) -> None:
        from slotviewer.gui.theme import apply_theme

        apply_theme(scheme)
        self.settings.setValue("theme", scheme)


def _display(image: np.ndarray) -> np.ndarray:
    from slotviewer.engine.preprocess import to_float_rgb

    return to_uint8(to_float_rgb(image))


@dataclass(frozen=True)
class _Frame:
    """Display arrays of one iteration: attention `[K, h, w]`, alpha `[K, R, R]`, rgb, composite."""

    attention: np.ndarray
    alpha: np.ndarray
    rgb: np.ndarray
    composite: np.ndarray
    enabled: tuple[bool, ...]


def _frame(view: IterationView | None) -> _Frame | None:
    if view is None:
        return None
    k = len(view.rgb)
    # before the first iteration nothing has been attended yet: show a uniform 1/K
    attention = view.attention if view.attention is not None else np.full((k, 1, 1), 1.0 / k, np.float32)
    return _Frame(attention, view.alpha(), view.rgb, view.composite(), view.enabled)


def _blend(a: _Frame | None, b: _Frame | None, w: float) -> _Frame | None:
    """Linear blend of two iterations' pictures (for smooth playback)."""
    if a is None or b is None or w <= 0 or a.alpha.shape != b.alpha.shape:
        return a
    if a.attention.shape != b.attention.shape:  # t = 0 (uniform) to t = 1 (maps)
        a = _Frame(np.broadcast_to(a.attention[:, :1, :1], b.attention.shape), a.alpha, a.rgb, a.composite,
                   a.enabled)
    mix = lambda x, y: (1 - w) * x + w * y  # noqa: E731
    return _Frame(mix(a.attention, b.attention), mix(a.alpha, b.alpha), mix(a.rgb, b.rgb),
                  mix(a.composite, b.composite), b.enabled)

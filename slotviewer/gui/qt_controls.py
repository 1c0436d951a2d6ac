"""The control panel: model, backend, device (and what really runs), K, T, seed, method, overlay, surgery,
stability. It shows the viewer's parameters and forwards edits; its ranges are the engine's limits."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from slotviewer.components.adaptation import ADAPTED_PREFIX
from slotviewer.components.frames import OVERLAY_LABELS, OVERLAY_NAMES
from slotviewer.engine.engine import BACKENDS, DEVICES, MAX_DRAWS, MAX_ITERS, MAX_SEED, MAX_SLOTS
from slotviewer.model.files import MODELS_DIR, strip_model_suffix

METHOD_LABELS = {"slot attention": "slot-attention", "soft k-means": "soft-kmeans", "k-means": "kmeans"}
OPEN_MODEL = "Open model…"


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row


def torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


def shipped_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.json") if (p.with_suffix(".onnx")).exists()
                  or p.with_suffix(".safetensors").exists())


def _combo(items: list[str]) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    return box


def model_label(model: str) -> str:
    """What the model box shows for a model: a shipped name as it is, a path as the model's name and its
    folder (an adapted copy's temporary folder as such); the tooltip has the whole path."""
    path = Path(model)
    if not path.parent.parts:
        return model
    folder = "temporary copy" if path.parent.name.startswith(ADAPTED_PREFIX) else f"in {path.parent.name or '/'}"
    return f"{strip_model_suffix(path).name} ({folder})"


class QtControls(QWidget):
    sigParams = Signal(dict)  # changed run parameters (RunParams field → value)
    sigOpenModel = Signal()
    sigOverlay = Signal(str)
    sigOpacity = Signal(float)
    sigReconverge = Signal(int)
    sigReset = Signal()
    sigShowAll = Signal()
    sigStability = Signal(int)
    sigResample = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.model = _combo([*shipped_models(), OPEN_MODEL])  # each item's data is the model it stands for
        for i in range(self.model.count() - 1):
            self.model.setItemData(i, self.model.itemText(i))
        self._loaded_models = set(shipped_models())  # the list keeps these and the one asked for now
        self.model.activated.connect(self._model_activated)
        self.backend = _combo(list(BACKENDS))
        if not torch_available():
            self.backend.model().item(BACKENDS.index("torch")).setEnabled(False)
            self.backend.setToolTip("PyTorch is not installed: the ONNX Runtime backend is used")
        self.device = _combo(list(DEVICES))
        self.running = QLabel("–")
        self.running.setWordWrap(True)
        self.running.setToolTip("What really runs (ONNX Runtime's providers are read back, not assumed)")
        self.slots, self.iters, self.seed, self.draws = QSpinBox(), QSpinBox(), QSpinBox(), QSpinBox()
        for box, top in ((self.slots, MAX_SLOTS), (self.iters, MAX_ITERS), (self.seed, MAX_SEED),
                         (self.draws, MAX_DRAWS)):
            box.setRange(1 if box in (self.slots, self.draws) else 0, top)
            box.setKeyboardTracking(False)
        self.draws.setToolTip("Run this many initial slot sets and keep the one that reconstructs the image best "
                              "(Slot Attention can settle with an object split in two; such a draw redraws the "
                              "image worse). The model's card says what it was scored with.")
        self.resample = QToolButton()
        self.resample.setText("⟳")
        self.resample.setToolTip("Re-sample the initial slots (new seed, R)")
        self.resample.clicked.connect(self.sigResample)
        self.method = _combo(list(METHOD_LABELS))
        self.overlay = _combo(list(OVERLAY_NAMES.values()))
        for i, label in enumerate(OVERLAY_LABELS.values()):
            self.overlay.setItemData(i, label, Qt.ItemDataRole.ToolTipRole)
        self.overlay.setToolTip("What colours the input: Slot Attention's attention at the scrubbed iteration "
                                "(each pixel's strongest slot, or all slots blended by attention), the "
                                "decoder's alpha masks, or those masks weighed by how well each slot's colour "
                                "explains the pixel (the labels slotviewer run writes)")
        self.overlay.currentIndexChanged.connect(lambda i: self.sigOverlay.emit(list(OVERLAY_LABELS)[i]))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.valueChanged.connect(lambda v: self.sigOpacity.emit(v / 100))
        self.backend.activated.connect(lambda _: self.sigParams.emit({"backend": self.backend.currentText()}))
        self.device.activated.connect(lambda _: self.sigParams.emit({"device": self.device.currentText()}))
        for box, key in ((self.slots, "slots"), (self.iters, "iters"), (self.seed, "seed"), (self.draws, "draws")):
            box.valueChanged.connect(lambda v, key=key: self.sigParams.emit({key: v}))
        self.method.activated.connect(
            lambda _: self.sigParams.emit({"method": METHOD_LABELS[self.method.currentText()]}))

        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        for label, widget in (("model", self.model), ("backend", self.backend), ("device", self.device),
                              ("running", self.running)):
            form.addRow(label, widget)
        run_box = QGroupBox("Run")
        form = QFormLayout(run_box)
        for label, widget in (("slots K", self.slots), ("iterations T", self.iters)):
            form.addRow(label, widget)
        form.addRow("seed", _row(self.seed, self.resample))
        form.addRow("best of draws", self.draws)
        form.addRow("method", self.method)
        form.addRow("overlay", self.overlay)
        form.addRow("opacity", self.opacity)

        self.reconverge_iters = QSpinBox()
        self.reconverge_iters.setRange(1, MAX_ITERS)
        self.reconverge_iters.setValue(3)
        reconverge = QPushButton("Re-converge")
        reconverge.setToolTip("Let the visible slots iterate again on the same features; hidden slots stay "
                              "hidden, indices and colours stay, the iterations continue")
        reconverge.clicked.connect(lambda: self.sigReconverge.emit(self.reconverge_iters.value()))
        show_all, reset = QPushButton("Show all"), QPushButton("Reset edits")
        show_all.clicked.connect(self.sigShowAll)
        reset.clicked.connect(self.sigReset)
        edit_box = QGroupBox("Surgery")
        form = QFormLayout(edit_box)
        form.addRow(_row(reconverge, self.reconverge_iters))
        form.addRow(_row(show_all, reset))
        hint = QLabel("Drag a slot card onto a slot of image B to swap; Shift transplants one way.")
        hint.setWordWrap(True)
        form.addRow(hint)

        self.stability_runs = QSpinBox()
        self.stability_runs.setRange(2, 32)
        self.stability_runs.setValue(8)
        stability = QPushButton("Check stability")
        stability.setToolTip("Re-run with N seeds and show where the label maps agree")
        stability.clicked.connect(lambda: self.sigStability.emit(self.stability_runs.value()))
        self.stability_result = QLabel("")
        self.stability_result.setWordWrap(True)
        stability_box = QGroupBox("Stability")
        form = QFormLayout(stability_box)
        form.addRow(_row(stability, self.stability_runs))
        form.addRow(self.stability_result)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        for box in (model_box, run_box, edit_box, stability_box):
            layout.addWidget(box)
        layout.addStretch(1)

    def _model_activated(self, index: int) -> None:
        if self.model.itemData(index) is None:  # "Open model…"
            self.sigOpenModel.emit()
        else:
            self.sigParams.emit({"model": self.model.itemData(index)})

    def model_loaded(self, model: str) -> None:
        """`model` loaded: it stays in the model list (one that failed to load leaves it again)."""
        self._loaded_models.add(model)

    def show_params(self, params: Any, fixed_slots: bool = False) -> None:
        """Show the viewer's parameters (without echoing them back as edits)."""
        for i in reversed(range(self.model.count() - 1)):  # the last item is "Open model…"
            if self.model.itemData(i) not in self._loaded_models | {params.model}:
                self.model.removeItem(i)
        if self.model.findData(params.model) < 0:
            self.model.insertItem(self.model.count() - 1, model_label(params.model), params.model)
        self.model.setToolTip(params.model)  # the whole path, which the box shows by name and folder
        self.model.blockSignals(True)
        self.model.setCurrentIndex(self.model.findData(params.model))
        self.model.blockSignals(False)
        values = ((self.backend, params.backend), (self.device, params.device),
                  (self.method, {v: k for k, v in METHOD_LABELS.items()}[params.method]))
        for box, text in values:
            box.blockSignals(True)
            box.setCurrentText(text)
            box.blockSignals(False)
        for box, value in ((self.slots, params.slots), (self.iters, params.iters), (self.seed, params.seed),
                           (self.draws, params.draws)):
            if value is not None:
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)
        self.slots.setEnabled(not fixed_slots or params.method != "slot-attention")
        self.draws.setEnabled(params.method == "slot-attention")  # k-means draws nothing to choose from
        self.slots.setToolTip("This model learned one query per slot: K is fixed" if fixed_slots else
                              "Number of slots drawn from the learned Gaussian")

    def show_overlay(self, mode: str) -> None:
        self.overlay.blockSignals(True)
        self.overlay.setCurrentIndex(list(OVERLAY_LABELS).index(mode))
        self.overlay.blockSignals(False)

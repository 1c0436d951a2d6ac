"""The control panel: model, backend, device (and what really runs), K, T, seed, method, surgery, stability."""

from __future__ import annotations

import importlib.util

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

from slotviewer.model.files import MODELS_DIR

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


class QtControls(QWidget):
    sigEngineChanged = Signal()  # model, backend or device
    sigRunChanged = Signal()  # K, T, seed or method
    sigOpenModel = Signal()
    sigOpacity = Signal(float)
    sigReconverge = Signal(int)
    sigReset = Signal()
    sigShowAll = Signal()
    sigStability = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.model = QComboBox()
        self.model.addItems([*shipped_models(), OPEN_MODEL])
        self.model.activated.connect(self._model_activated)
        self.backend = QComboBox()
        self.backend.addItems(["onnx", "torch"])
        if not torch_available():
            self.backend.model().item(1).setEnabled(False)
            self.backend.setToolTip("PyTorch is not installed: the ONNX Runtime backend is used")
        self.backend.currentTextChanged.connect(lambda _: self.sigEngineChanged.emit())
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.currentTextChanged.connect(lambda _: self.sigEngineChanged.emit())
        self.running = QLabel("–")
        self.running.setWordWrap(True)
        self.running.setToolTip("What really runs (ONNX Runtime's providers are read back, not assumed)")
        self.slots = QSpinBox()
        self.slots.setRange(1, 32)
        self.iters = QSpinBox()
        self.iters.setRange(0, 20)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.resample = QToolButton()
        self.resample.setText("⟳")
        self.resample.setToolTip("Re-sample the initial slots (new seed)")
        self.method = QComboBox()
        self.method.addItems(list(METHOD_LABELS))
        for box in (self.slots, self.iters, self.seed):
            box.setKeyboardTracking(False)
            box.valueChanged.connect(lambda _: self.sigRunChanged.emit())
        self.method.currentTextChanged.connect(lambda _: self.sigRunChanged.emit())
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.valueChanged.connect(lambda v: self.sigOpacity.emit(v / 100))

        seed_row = _row(self.seed, self.resample)
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        form.addRow("model", self.model)
        form.addRow("backend", self.backend)
        form.addRow("device", self.device)
        form.addRow("running", self.running)
        run_box = QGroupBox("Run")
        form = QFormLayout(run_box)
        form.addRow("slots K", self.slots)
        form.addRow("iterations T", self.iters)
        form.addRow("seed", seed_row)
        form.addRow("method", self.method)
        form.addRow("overlay", self.opacity)

        self.reconverge_iters = QSpinBox()
        self.reconverge_iters.setRange(1, 20)
        self.reconverge_iters.setValue(3)
        reconverge = QPushButton("Re-converge")
        reconverge.setToolTip("Drop hidden slots and let the others iterate again on the same features")
        reconverge.clicked.connect(lambda: self.sigReconverge.emit(self.reconverge_iters.value()))
        show_all = QPushButton("Show all")
        show_all.clicked.connect(self.sigShowAll)
        reset = QPushButton("Reset edits")
        reset.clicked.connect(self.sigReset)
        edit_box = QGroupBox("Surgery")
        form = QFormLayout(edit_box)
        form.addRow(_row(reconverge, self.reconverge_iters))
        form.addRow(_row(show_all, reset))
        hint = QLabel("Drag a slot card onto a slot of image B (File → Open image as B) to swap; "
                      "hold Shift to transplant one way.")
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
        for box in (model_box, run_box, edit_box, stability_box):
            layout.addWidget(box)
        layout.addStretch(1)

    def _model_activated(self, index: int) -> None:
        if self.model.itemText(index) == OPEN_MODEL:
            self.sigOpenModel.emit()
        else:
            self.sigEngineChanged.emit()

    def add_model(self, path: str) -> None:
        """Add a user model (path) to the picker and select it."""
        if self.model.findText(path) < 0:
            self.model.insertItem(self.model.count() - 1, path)
        self.model.setCurrentText(path)

    def run_params(self) -> dict:
        return {"slots": self.slots.value(), "iters": self.iters.value(), "seed": self.seed.value(),
                "method": METHOD_LABELS[self.method.currentText()]}

    def restore_run_params(self, params: dict) -> None:
        """Last session's K, T, seed and method (K and T are replaced by a model's defaults on load)."""
        self.seed.setValue(int(params.get("seed", 0)))
        label = {v: k for k, v in METHOD_LABELS.items()}.get(params.get("method", ""), "slot attention")
        self.method.setCurrentText(label)

    def set_model_defaults(self, num_slots: int, iters: int, fixed_slots: bool) -> None:
        for box, value in ((self.slots, num_slots), (self.iters, iters)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self.slots.setEnabled(not fixed_slots)
        self.slots.setToolTip("This model learned one query per slot: K is fixed" if fixed_slots else
                              "Number of slots drawn from the learned Gaussian")
        self.seed.setToolTip("Seeds the initial slots (learned queries ignore it; k-means uses it)"
                             if fixed_slots else "Seeds the initial slots")

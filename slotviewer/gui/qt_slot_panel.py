"""The slot panel: one card per slot (attention, alpha, decoded RGB), with visibility, solo and drag-to-swap."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QDrag, QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from slotviewer.gui.qt_images import to_pixmap

MIME = "application/x-slotviewer-slot"
THUMB = 64


class QtSlotCard(QFrame):
    """One slot. Dragging it onto a card of the other image swaps them (with Shift: transplants)."""

    sigToggled = Signal(int, bool)
    sigSolo = Signal(int)
    sigDropped = Signal(str, int, int, bool)  # (source document, source slot, this slot, transplant)

    def __init__(self, document: str, index: int, colour: np.ndarray) -> None:
        super().__init__()
        self.document, self.index = document, index
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAcceptDrops(True)
        self._press: QPoint | None = None
        r, g, b = (int(c) for c in colour)
        swatch = QLabel()
        swatch.setFixedSize(14, 14)
        swatch.setStyleSheet(f"background: rgb({r},{g},{b}); border-radius: 3px;")
        self.visible = QCheckBox(f"slot {index}")
        self.visible.setChecked(True)
        self.visible.setToolTip("Show this slot in the composite")
        self.visible.toggled.connect(lambda on: self.sigToggled.emit(self.index, on))
        solo = QToolButton()
        solo.setText("S")
        solo.setToolTip("Solo: show only this slot")
        solo.clicked.connect(lambda: self.sigSolo.emit(self.index))
        header = QHBoxLayout()
        header.addWidget(swatch)
        header.addWidget(self.visible, 1)
        header.addWidget(solo)
        self.thumbs = [QLabel() for _ in range(3)]
        row = QHBoxLayout()
        for label, tip in zip(self.thumbs, ("attention", "alpha mask", "decoded RGB"), strict=True):
            label.setFixedSize(THUMB, THUMB)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setToolTip(tip)
            row.addWidget(label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addLayout(row)
        self.setToolTip(f"Slot {index}: drag onto a slot of the other image to swap (Shift: transplant)")

    def set_images(self, attention: np.ndarray, alpha: np.ndarray, rgb: np.ndarray) -> None:
        ratio = self.devicePixelRatioF()
        for label, image in zip(self.thumbs, (attention, alpha, rgb), strict=True):
            label.setPixmap(to_pixmap(image, THUMB, ratio))

    def set_checked(self, on: bool) -> None:
        self.visible.blockSignals(True)
        self.visible.setChecked(on)
        self.visible.blockSignals(False)

    # --- drag and drop -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._press is None or (event.position().toPoint() - self._press).manhattanLength() < 8:
            return
        mime = QMimeData()
        mime.setData(MIME, f"{self.document}:{self.index}".encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.setPixmap(self.thumbs[2].pixmap() or self.grab())
        self._press = None
        drag.exec(Qt.DropAction.CopyAction)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        source, index = bytes(event.mimeData().data(MIME)).decode().split(":")
        transplant = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.sigDropped.emit(source, int(index), self.index, transplant)
        event.acceptProposedAction()


class QtSlotPanel(QScrollArea):
    """Cards for all slots of one document, in a grid that wraps."""

    sigToggled = Signal(int, bool)
    sigSolo = Signal(int)
    sigDropped = Signal(str, int, int, bool)

    def __init__(self, document: str, columns: int = 2) -> None:
        super().__init__()
        self.document, self.columns = document, columns
        self.setWidgetResizable(True)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(4)
        self.setWidget(self._inner)
        self.cards: list[QtSlotCard] = []

    def set_slots(self, colours: np.ndarray) -> None:
        """Rebuild the cards when K changes."""
        if len(self.cards) == len(colours):
            return
        for card in self.cards:
            card.deleteLater()
        self.cards = []
        for i, colour in enumerate(colours):
            card = QtSlotCard(self.document, i, colour)
            card.sigToggled.connect(self.sigToggled)
            card.sigSolo.connect(self.sigSolo)
            card.sigDropped.connect(self.sigDropped)
            self._grid.addWidget(card, i // self.columns, i % self.columns)
            self.cards.append(card)

    def set_enabled_flags(self, enabled: tuple[bool, ...]) -> None:
        for card, on in zip(self.cards, enabled, strict=False):
            card.set_checked(on)

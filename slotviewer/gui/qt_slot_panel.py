"""The slot panel: one card per slot (attention, alpha, decoded RGB — labelled), with visibility, solo and
drag-to-swap. The cards reflow and shrink to fit the panel, so every slot is visible without scrolling;
only when even the smallest cards cannot all fit (many slots in a short panel) does it scroll, because
cards squashed below a readable size cannot be clicked or read."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QDrag, QDragEnterEvent, QDropEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from slotviewer.gui.qt_images import to_pixmap

MIME = "application/x-slotviewer-slot"
MAP_LABELS = ("attention", "alpha", "decoded")
SHORT_LABELS = ("attn", "alpha", "rgb")  # when the maps are too small for the full words
MAP_TIPS = ("Slot Attention's attention at the scrubbed iteration (scaled to the iteration's peak)",
            "the decoder's alpha mask for this slot", "the slot decoded on its own (RGB where its alpha is high)")
MIN_MAP, MAX_MAP = 28, 180
CARD_EXTRA_W, CARD_EXTRA_H, GAP = 22, 50, 4  # a card's frame, header and labels around its three maps


def best_grid(count: int, width: int, height: int, min_card_width: int = 0) -> tuple[int, int]:
    """(columns, map size) that shows `count` cards in `width × height` with the largest maps; no card is
    narrower than `min_card_width` (its header: "slot 13" is wider than three small maps).

    When no grid fits them with maps of at least `MIN_MAP`, the cards keep that size in as many columns as
    the width takes, and the panel scrolls (`grid_height` says how tall they are).
    """
    best = (1, 0)
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        per_card = (width - (columns - 1) * GAP) / columns
        if per_card < min_card_width:
            break
        by_width = (per_card - CARD_EXTRA_W) / 3
        by_height = (height - (rows - 1) * GAP) / rows - CARD_EXTRA_H
        size = int(min(by_width, by_height, MAX_MAP))
        if size > best[1]:
            best = (columns, size)
    return best if best[1] >= MIN_MAP else (min_map_columns(count, width, min_card_width), MIN_MAP)


def min_map_columns(count: int, width: int, min_card_width: int = 0) -> int:
    """How many cards with maps of `MIN_MAP` (and at least `min_card_width` wide) fit side by side in `width`
    (at least one)."""
    card = max(3 * MIN_MAP + CARD_EXTRA_W, min_card_width)
    return max(1, min(count, int((width + GAP) // (card + GAP))))


def grid_height(count: int, columns: int, size: int) -> int:
    """Height of `count` cards in `columns` with maps of `size`."""
    rows = math.ceil(count / max(columns, 1))
    return rows * (size + CARD_EXTRA_H) + (rows - 1) * GAP


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
        self._arrays: tuple[np.ndarray, ...] | None = None
        self.map_size = 64
        r, g, b = (int(c) for c in colour)
        swatch = QLabel()
        swatch.setFixedSize(12, 12)
        swatch.setStyleSheet(f"background: rgb({r},{g},{b}); border-radius: 3px;")
        self.visible = QCheckBox(f"slot {index}")
        self.visible.setChecked(True)
        self.visible.setToolTip(f"Show this slot in the composite (key {index + 1})" if index < 9 else "")
        self.visible.toggled.connect(lambda on: self.sigToggled.emit(self.index, on))
        solo = QToolButton()
        solo.setText("S")
        solo.setToolTip("Solo: show only this slot")
        solo.clicked.connect(lambda: self.sigSolo.emit(self.index))
        header = QHBoxLayout()
        header.setSpacing(4)
        header.addWidget(swatch)
        header.addWidget(self.visible, 1)
        header.addWidget(solo)
        self.maps = [QLabel() for _ in MAP_LABELS]
        self.captions = [QLabel(text) for text in MAP_LABELS]
        grid = QGridLayout()
        grid.setSpacing(2)
        for column, (label, caption, tip) in enumerate(zip(self.maps, self.captions, MAP_TIPS, strict=True)):
            label.setToolTip(tip)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            small = caption.font()  # a font, not a style sheet: a style sheet would pin the theme's text colour
            small.setPointSizeF(8)
            caption.setFont(small)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(caption, 0, column)
            grid.addWidget(label, 1, column)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 3, 4, 3)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addLayout(grid)
        self._header = header
        self.set_map_size(self.map_size)
        self.setToolTip(f"Slot {index}: drag onto a slot of the other image to swap (Shift: transplant)")

    def header_width(self) -> int:
        """The card's width at its narrowest: its header (swatch, "slot 13", S) with the margins and frame."""
        margins = self.layout().contentsMargins()
        return self._header.sizeHint().width() + margins.left() + margins.right() + 2 * self.frameWidth()

    def set_map_size(self, size: int) -> None:
        self.map_size = size
        for label in self.maps:
            label.setFixedSize(size, size)
        for caption, full, short in zip(self.captions, MAP_LABELS, SHORT_LABELS, strict=True):
            caption.setText(full if size >= 58 else short)
            caption.setFixedWidth(size)
        if self._arrays is not None:
            self.set_images(*self._arrays)

    def set_images(self, attention: np.ndarray, alpha: np.ndarray, rgb: np.ndarray) -> None:
        self._arrays = (attention, alpha, rgb)
        ratio = self.devicePixelRatioF()
        for label, image in zip(self.maps, self._arrays, strict=True):
            label.setPixmap(to_pixmap(image, self.map_size, ratio))

    def set_pixmaps(self, arrays: tuple[np.ndarray, ...], pixmaps: list) -> None:
        """Pictures already scaled to this card's map size (the arrays are kept for a later resize)."""
        self._arrays = arrays
        for label, pixmap in zip(self.maps, pixmaps, strict=True):
            label.setPixmap(pixmap)

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
        drag.setPixmap(self.maps[2].pixmap() or self.grab())
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
    """Cards for all slots of one document, in a grid sized to the panel; it scrolls only when even the
    smallest cards do not fit."""

    sigToggled = Signal(int, bool)
    sigSolo = Signal(int)
    sigDropped = Signal(str, int, int, bool)

    def __init__(self, document: str) -> None:
        super().__init__()
        self.document = document
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(GAP)
        self._grid.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWidget(self._inner)
        self.setMinimumSize(100, 80)
        self.cards: list[QtSlotCard] = []
        self._layout_key: tuple[int, int, int] | None = None

    def set_slots(self, colours: np.ndarray) -> None:
        """Rebuild the cards when K changes."""
        if len(self.cards) == len(colours):
            return
        for card in self.cards:
            self._grid.removeWidget(card)
            card.deleteLater()
        self.cards = []
        for i, colour in enumerate(colours):
            card = QtSlotCard(self.document, i, colour)
            card.sigToggled.connect(self.sigToggled)
            card.sigSolo.connect(self.sigSolo)
            card.sigDropped.connect(self.sigDropped)
            self.cards.append(card)
        self._layout_key = None
        self._reflow()

    @property
    def scrolls(self) -> bool:
        """True when the cards are taller than the panel (many slots in little room)."""
        return self._inner.minimumHeight() > 0

    def _reflow(self) -> None:
        count, width, height = len(self.cards), self.width(), self.height()
        narrowest = max((card.header_width() for card in self.cards), default=0)
        columns, size = best_grid(count, width, height, narrowest)
        needed = grid_height(count, columns, size) if count else 0
        if needed > height:  # they scroll, and the scroll bar takes its width from the cards
            columns = min_map_columns(count, width - self.verticalScrollBar().sizeHint().width(), narrowest)
            needed = grid_height(count, columns, size)
        else:
            needed = 0
        if (columns, size, needed) == self._layout_key:
            return
        self._layout_key = (columns, size, needed)
        self._inner.setMinimumHeight(needed)
        for i, card in enumerate(self.cards):
            card.set_map_size(size)
            self._grid.addWidget(card, i // columns, i % columns)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._reflow()

    def set_enabled_flags(self, enabled: tuple[bool, ...]) -> None:
        for card, on in zip(self.cards, enabled, strict=False):
            card.set_checked(on)

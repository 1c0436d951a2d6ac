"""One document's views: input with the overlay, reconstruction (zoom and pan linked), and slot cards."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from slotviewer.components.document import Document
from slotviewer.components.frames import OVERLAY_LABELS, Frame
from slotviewer.engine.preprocess import to_float_rgb
from slotviewer.gui.qt_images import QtImagePanel, shown_extent, to_pixmap
from slotviewer.gui.qt_slot_panel import QtSlotPanel
from slotviewer.io.render import slot_colours, to_uint8

MAX_FRAMES = 96  # pictures of this many (trace, position, overlay) frames are kept for scrubbing
MAX_PIXMAPS = 1024


def qimage_to_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    return buffer.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def caption(document: Document) -> str:
    """What is shown, in the numbers the controls use: K (hidden ones counted, slots swapped or transplanted
    from the other image said), T (+ re-converged), seed, draws."""
    trace = document.trace
    name = f"{document.name}{'' if document.frame is None else f' · frame {document.frame}'}"
    if trace is None:
        return f"{name}{stretched(document.image)} · running…"
    p = trace.provenance
    hidden = [i for i, on in enumerate(trace.enabled) if not on]
    extra = (p.get("reconverged") or {}).get("iters", 0)
    t = f"T={trace.iterations - extra}+{extra}" if extra else f"T={trace.iterations}"
    fam = p.get("familiarity") or {}
    # a swap or transplant with the other image changes the picture but not the run its error was measured on
    foreign = any("other image's slot" in edit for edit in trace.edits)
    error = (f" · {'the run’s error' if foreign else 'error'} {fam['ratio']:.1f}× typical"
             if fam.get("ratio") is not None else "")
    start = "slots carried over" if p.get("init") == "carried" else f"seed={p.get('seed')}"
    if p.get("draws", 1) > 1:  # which of the draws won (counted from 1): `--seed S --draws N` repeats it
        start += f" (draw {p.get('draw', 0) + 1}/{p['draws']})"
    return (f"{name}{stretched(document.image)} · K={trace.num_slots}"
            f"{f' ({len(hidden)} hidden)' if hidden else ''}{' (with the other image’s slots)' if foreign else ''} {t} "
            f"{start} · {p.get('method')}{error} · {trace.timings_ms.get('total', 0):.0f} ms")


def stretched(image: np.ndarray) -> str:
    """' (W×H, shown stretched)' for a strip the panels widen to be seen (`shown_extent`), else ''."""
    h, w = image.shape[:2]
    return "" if shown_extent(h, w) == (h, w) else f" ({w}×{h}, shown stretched)"


class ElidedLabel(QLabel):
    """A one-line label that, when too narrow, drops the middle of its text ("…") instead of cutting the
    end mid-word: a caption's file name and its error ratio and timing stay readable. `text()` is the
    whole text, which the tooltip shows too."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._full = ""
        self.setText(text)

    def text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, max(self.width(), 1))
        super().setText(shown if self.width() > 1 else self._full)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().resizeEvent(event)
        self._elide()


class QtDocumentView(QWidget):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.input = QtImagePanel(f"{name}: input + attention")
        self.reconstruction = QtImagePanel(f"{name}: reconstruction")
        self.reconstruction.link(self.input)
        self.slots = QtSlotPanel(name)
        self._shown: Document | None = None  # whose pixels the input panel holds
        self._frames: dict[tuple, tuple] = {}  # frame key → pictures made for it (oldest first)
        self._pixmaps: dict[tuple, QPixmap] = {}  # card pictures by content
        self.caption = ElidedLabel()
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long caption must not widen its side: A and B keep equal halves (the tooltip has it all)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        images = QWidget()
        row = QHBoxLayout(images)  # equal halves, not a splitter: A's and B's panels stay the same size
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.input, 1)
        row.addWidget(self.reconstruction, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(images)
        self.splitter.addWidget(self.slots)
        self._user_split = False  # once the user drags the splitter, their split stays
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_user_split", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.splitter, 1)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        """Two image panels side by side need about half the width in height; the slot cards get the rest."""
        super().resizeEvent(event)
        if not self._user_split:
            total = max(self.splitter.height(), 1)
            images = min(int(total * 0.6), self.width() // 2 + 24)
            self.splitter.blockSignals(True)
            self.splitter.setSizes([images, total - images])
            self.splitter.blockSignals(False)

    def show_document(self, document: Document | None) -> None:
        """A new image or trace: size, caption, cards. Pixels of the iteration come with `show_frame`."""
        self.setVisible(document is not None)
        if document is None:
            return
        if document is not self._shown:  # a toggle or an edit keeps the image: do not convert it again
            self._shown = document
            h, w = document.image.shape[:2]
            self.input.set_extent(h, w)
            self.reconstruction.set_extent(h, w)
            self.input.set_image(to_uint8(to_float_rgb(document.image)))
        text = caption(document)
        if self.caption.text() != text:
            self.caption.setText(text)
        if document.trace is None:
            self.input.set_overlay(None, 0)
            self.reconstruction.set_image(None)
            return
        self.slots.set_slots(slot_colours(document.trace.num_slots))
        self.slots.set_enabled_flags(document.trace.enabled)

    def show_frame(self, key: tuple, trace: object, make_frame: Callable[[], Frame | None], overlay: str,
                   opacity: float) -> bool:
        """Draw the frame `key` names (trace, position, overlay); pictures already made for it are reused,
        so scrubbing back and forth only swaps pixmaps. False while its decode is on the way."""
        size = self.slots.cards[0].map_size if self.slots.cards else 0
        hit = self._frames.get(key)
        if hit is None or hit[0] is not trace or hit[1] != size:
            frame = make_frame()
            if frame is None:
                return False
            ratio = self.devicePixelRatioF()
            maps = [frame.slot_maps(k) for k in range(len(frame.enabled))]
            pixmaps = [[self._pixmap(m, size, ratio) for m in triple] for triple in maps]
            hit = (trace, size, frame.position, frame.overlay(overlay), to_uint8(frame.composite), maps, pixmaps)
            self._frames[key] = hit
            while len(self._frames) > MAX_FRAMES:
                del self._frames[next(iter(self._frames))]
        _, _, position, overlay_image, composite, maps, pixmaps = hit
        title = f"{self.name}: input + {OVERLAY_LABELS[overlay]}"
        if self.input.title_text != title:  # a new title re-lays the panel out: only when it changes
            self.input.set_title(title)
        self.input.set_overlay(overlay_image, opacity)
        self.reconstruction.set_image(composite)
        for card, arrays, images in zip(self.slots.cards, maps, pixmaps, strict=False):
            card.set_pixmaps(arrays, images)
        return True

    def _pixmap(self, array: np.ndarray, size: int, ratio: float) -> QPixmap:
        """A card picture, reused when the same pixels come again (a toggle leaves attention maps alone)."""
        key = (hashlib.blake2b(array.tobytes(), digest_size=16).digest(), array.shape, size, ratio)
        pixmap = self._pixmaps.pop(key, None) or to_pixmap(array, size, ratio)
        self._pixmaps[key] = pixmap  # most recent last
        while len(self._pixmaps) > MAX_PIXMAPS:
            del self._pixmaps[next(iter(self._pixmaps))]
        return pixmap

    def fit(self) -> None:
        self.input.view.fit()

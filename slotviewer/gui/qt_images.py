"""Image display: numpy → QImage/QPixmap, and a pyqtgraph panel with an image plus a colour overlay."""

from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPixmap

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def to_qimage(array: np.ndarray) -> QImage:
    """uint8 `[H, W]`, `[H, W, 3]` or `[H, W, 4]` → a QImage that owns a copy of the pixels."""
    a = np.ascontiguousarray(array)
    h, w = a.shape[:2]
    if a.ndim == 2:
        fmt, stride = QImage.Format.Format_Grayscale8, w
    elif a.shape[2] == 3:
        fmt, stride = QImage.Format.Format_RGB888, 3 * w
    else:
        fmt, stride = QImage.Format.Format_RGBA8888, 4 * w
    return QImage(a.data, w, h, stride, fmt).copy()


def to_pixmap(array: np.ndarray, size: int, ratio: float = 1.0) -> QPixmap:
    """A crisp (nearest-neighbour) thumbnail fitting `size` logical pixels, HiDPI aware."""
    physical = max(1, round(size * ratio))
    image = to_qimage(array).scaled(physical, physical, Qt.AspectRatioMode.KeepAspectRatio,
                                    Qt.TransformationMode.FastTransformation)
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


MAX_SHOWN_ASPECT = 8.0  # longest side : shortest side as the panels show an image


def shown_extent(height: int, width: int) -> tuple[float, float]:
    """(height, width) an image is shown at: its own, or for a strip longer than `MAX_SHOWN_ASPECT` : 1 its
    short side widened to that ratio. A 9000×4 image at its own aspect is a line under one screen pixel tall
    in a panel, i.e. a black panel; stretched, its pixels (and the model's, which sees it stretched to a
    square anyway) can be seen. All panels use the same extent, so they still line up."""
    if width > MAX_SHOWN_ASPECT * height:
        return width / MAX_SHOWN_ASPECT, float(width)
    if height > MAX_SHOWN_ASPECT * width:
        return float(height), height / MAX_SHOWN_ASPECT
    return float(height), float(width)


def _no_minimum_width(label: pg.LabelItem) -> None:
    """`LabelItem.updateMin` without the width: a long title is cut by the panel's edge instead of
    widening the panel's layout beyond the widget (which drew the image wider than it is, cut off)."""
    height = label.itemRect().height()
    label.setMinimumWidth(0)
    label.setMinimumHeight(height)
    label._sizeHint = {Qt.SizeHint.MinimumSize: (0, height), Qt.SizeHint.PreferredSize: (0, height),
                       Qt.SizeHint.MaximumSize: (-1, -1), Qt.SizeHint.MinimumDescent: (0, 0)}
    label.updateGeometry()


class _ViewBox(pg.ViewBox):
    def mouseDoubleClickEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        self.fit()
        event.accept()

    def fit(self) -> None:
        """Show the whole image (the extent the panel set), no padding; it stays fitted on resizes until
        the user zooms or pans."""
        extent = getattr(self, "extent", None)
        if extent is not None:
            self.fitted = True
            self.setRange(extent, padding=0)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().resizeEvent(event)
        if getattr(self, "fitted", False):
            self.fit()


class QtImagePanel(pg.GraphicsLayoutWidget):
    """A titled, aspect-locked view of one image with an optional colour overlay of adjustable opacity.

    Every picture is placed on the input's extent (width × height), whatever its own resolution, so the
    reconstruction (model resolution, square) shows with the input's aspect and linked panels line up
    pixel for pixel. Double-click (or `fit`) shows the whole image again.
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.setMinimumSize(64, 64)  # four side by side in A/B still leave the docks their width at 800 px
        self.title = self.addLabel("", size="9pt")
        self.title.updateMin = partial(_no_minimum_width, self.title)  # pyqtgraph sizes labels to their text
        self.set_title(title)
        self.nextRow()
        self.view = _ViewBox(lockAspect=True, invertY=True, enableMouse=True)
        self.addItem(self.view)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.view.addItem(self.overlay)
        self.view.extent = None
        self.view.fitted = False
        self.view.sigRangeChangedManually.connect(lambda *_: setattr(self.view, "fitted", False))
        self.setToolTip(f"{title} — scroll to zoom, drag to pan, double-click to fit")
        self.name = title

    def set_title(self, text: str) -> None:
        """A title that never widens the panel (pyqtgraph sizes a label to its text; a narrow panel would
        then draw its image wider than it is and cut it off): too long for the panel, it ends in "…"."""
        self.title_text = text
        self.title.setToolTip(text)
        self._shown_title = None
        self._fit_title()

    def _fit_title(self) -> None:
        if not hasattr(self, "title_text"):  # pyqtgraph resizes the view while it is being built
            return
        font = QFont(self.font())
        font.setPointSizeF(9)
        shown = QFontMetrics(font).elidedText(self.title_text, Qt.TextElideMode.ElideRight, max(self.width() - 24, 40))
        if shown != self._shown_title:  # a new text re-lays the panel out: only when it changes
            self._shown_title = shown
            self.title.setText(shown)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().resizeEvent(event)
        self._fit_title()

    def set_extent(self, height: int, width: int) -> None:
        """The input's size: pictures are stretched onto it (a strip narrower than `MAX_SHOWN_ASPECT` allows
        is widened to it, see `shown_extent`); a new size fits the view to it."""
        height, width = shown_extent(height, width)
        extent = QRectF(0, 0, width, height)
        if extent != self.view.extent:
            self.view.extent = extent
            self.view.fit()

    def set_image(self, image: np.ndarray | None) -> None:
        if image is None:
            self.image.clear()
            return
        self.image.setImage(image, levels=(0, 255), autoLevels=False)
        if self.view.extent is None:
            self.set_extent(*image.shape[:2])
        self.image.setRect(self.view.extent)

    def set_overlay(self, overlay: np.ndarray | None, opacity: float) -> None:
        """`overlay` uint8 RGB at any resolution; it is stretched over the image."""
        if overlay is None or self.view.extent is None:
            self.overlay.clear()
            return
        self.overlay.setImage(overlay, levels=(0, 255), autoLevels=False)
        self.overlay.setRect(self.view.extent)
        self.overlay.setOpacity(opacity)

    def link(self, other: QtImagePanel) -> None:
        """Zoom and pan together with `other`: the same image coordinates in both. (pyqtgraph's own
        setXLink aligns views by their position on screen, which shifts panels that sit side by side.)"""
        busy = [False]

        def follow(source: _ViewBox, target: _ViewBox) -> None:
            if busy[0]:
                return
            busy[0] = True
            try:
                if source.fitted:
                    target.fit()
                else:
                    (x0, x1), (y0, y1) = source.viewRange()
                    target.fitted = False
                    target.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            finally:
                busy[0] = False

        for a, b in ((self.view, other.view), (other.view, self.view)):
            a.sigRangeChangedManually.connect(lambda *_, a=a, b=b: follow(a, b))
            a.sigRangeChanged.connect(lambda *_, a=a, b=b: follow(a, b))

    def rendered(self) -> np.ndarray | None:
        """The image item's current pixels (for render checks)."""
        return None if self.image.image is None else np.asarray(self.image.image)

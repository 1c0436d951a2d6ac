"""Image display: numpy → QImage/QPixmap, and a pyqtgraph panel with an input image plus an overlay."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage, QPixmap

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
    """A crisp (nearest-neighbour) square-ish thumbnail of `size` logical pixels, HiDPI aware."""
    image = to_qimage(array)
    physical = max(1, round(size * ratio))
    from PySide6.QtCore import Qt

    pixmap = QPixmap.fromImage(image.scaled(physical, physical, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation))
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


class QtImagePanel(pg.GraphicsLayoutWidget):
    """A titled, aspect-locked view of one image with an optional colour overlay of adjustable opacity."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.setMinimumSize(180, 180)
        self.title = self.addLabel(title, size="9pt")
        self.nextRow()
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=True)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.view.addItem(self.overlay)
        self._shape: tuple[int, ...] | None = None
        self.setToolTip(title)
        self.name = title

    def set_image(self, image: np.ndarray) -> None:
        self.image.setImage(image, levels=(0, 255), autoLevels=False)
        if image.shape[:2] != self._shape:
            self._shape = image.shape[:2]
            self.view.autoRange(padding=0.02)

    def set_overlay(self, overlay: np.ndarray | None, opacity: float) -> None:
        """`overlay` uint8 RGB at any resolution; it is stretched over the image."""
        if overlay is None or self._shape is None:
            self.overlay.clear()
            return
        self.overlay.setImage(overlay, levels=(0, 255), autoLevels=False)
        h, w = self._shape
        self.overlay.setRect(0, 0, w, h)
        self.overlay.setOpacity(opacity)

    def rendered(self) -> np.ndarray | None:
        """The image item's current pixels (for render checks)."""
        return None if self.image.image is None else np.asarray(self.image.image)

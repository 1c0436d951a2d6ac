"""Two groups of controls side by side where the window is wide enough, else the second under the first.

A bar laid out as one row holds its window at least as wide as the whole row (the live bar kept the window
~1,000 px wide; the iteration bar squeezed its slider to 27 px at 800×600). This one asks only for the width
of its wider group and takes a second row when the two do not fit beside each other.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QWidget


def group(*widgets: QWidget, stretch: tuple[QWidget, ...] = ()) -> QWidget:
    """The widgets in one row without margins; those in `stretch` share the spare width."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget, 1 if widget in stretch else 0)
    return box


class WrappingRow(QWidget):
    """`first` (which stretches) and `second` (left-aligned, at its natural width) in one row or two."""

    def __init__(self, first: QWidget, second: QWidget, margin: int = 0) -> None:
        super().__init__()
        self.first, self.second = first, second
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(margin, 0, margin, 0)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(0, 1)
        self.rows = 0
        self._set_rows(1)

    def _one_row_width(self) -> int:
        margins = self._grid.contentsMargins()
        return (self.first.minimumSizeHint().width() + self._grid.horizontalSpacing()
                + self.second.sizeHint().width() + margins.left() + margins.right())

    def _set_rows(self, rows: int) -> None:
        if rows == self.rows:
            return
        self.rows = rows
        for widget in (self.first, self.second):
            self._grid.removeWidget(widget)
        self._grid.addWidget(self.first, 0, 0)
        self._grid.addWidget(self.second, 0 if rows == 1 else 1, 1 if rows == 1 else 0,
                             alignment=Qt.AlignmentFlag.AlignLeft)
        self.updateGeometry()

    def fit(self) -> None:
        """Choose the rows again after a group's contents changed width (a button shown, another text)."""
        self._set_rows(1 if self.width() >= self._one_row_width() else 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        """As narrow as the wider group: the window decides the width, the row its rows."""
        margins = self._grid.contentsMargins()
        width = max(self.first.minimumSizeHint().width(), self.second.minimumSizeHint().width())
        return QSize(width + margins.left() + margins.right(), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        self._set_rows(1 if event.size().width() >= self._one_row_width() else 2)
        super().resizeEvent(event)

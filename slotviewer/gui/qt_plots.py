"""Convergence plots: how far each slot moved per iteration, and the attention entropy; t is marked."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView


def _cache(item: pg.PlotDataItem) -> None:
    """Moving the t marker repaints what it crosses: let Qt reuse the curves' and symbols' pixels."""
    for child in (item.curve, item.scatter):
        child.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class QtConvergencePlots(pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        # only repaint what changed: moving the iteration marker must not redraw axes and curves
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setMinimumHeight(240)
        self.movement = self.addPlot(title="‖Δslot‖ per iteration")
        self.movement.setLabel("bottom", "iteration t")
        self.nextRow()
        self.entropy = self.addPlot(title="attention entropy (nats)")
        self.entropy.setLabel("bottom", "iteration t")
        self.markers = [pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((200, 200, 200), width=1,
                                                                              style=pg.QtCore.Qt.PenStyle.DashLine))
                        for _ in range(2)]
        for plot, marker in zip((self.movement, self.entropy), self.markers, strict=True):
            plot.addItem(marker)
            plot.showGrid(x=True, y=True, alpha=0.2)
            for name in ("left", "bottom"):  # axes are costly to paint: let Qt cache them as pixmaps
                plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.curves: list[tuple[pg.PlotItem, pg.PlotDataItem]] = []
        self.shown: object = None  # what the curves were drawn from (the window skips redrawing the same)

    def set_data(self, movement: np.ndarray, entropy: np.ndarray, colours: np.ndarray) -> None:
        """`movement [T, K]`, `entropy [T]`; both are plotted at t = 1..T."""
        for plot, curve in self.curves:
            plot.removeItem(curve)
        self.curves = []
        t = np.arange(1, len(entropy) + 1)
        for k in range(movement.shape[1] if movement.size else 0):
            pen = pg.mkPen(tuple(int(c) for c in colours[k]), width=2)
            curve = self.movement.plot(t, movement[:, k], pen=pen, symbol="o", symbolSize=5, symbolBrush=pen.color())
            self.curves.append((self.movement, curve))
        for _, item in self.curves[-movement.shape[1]:] if movement.size else []:
            _cache(item)
        # a fixed scale, 0 (every position decided) … log K (uniform): small wiggles must not look like spikes
        k = movement.shape[1] if movement.ndim == 2 else 1
        self.entropy.setYRange(0, float(np.log(max(k, 2))), padding=0.02)
        self.entropy.enableAutoRange(axis="y", enable=False)
        curve = self.entropy.plot(t, entropy, pen=pg.mkPen((230, 230, 230), width=2), symbol="o", symbolSize=5)
        self.curves.append((self.entropy, curve))
        _cache(curve)
        for plot in (self.movement, self.entropy):
            plot.setXRange(0, max(len(entropy), 1), padding=0.05)
            plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(len(entropy) + 1)]])

    def set_iteration(self, t: float) -> None:
        for marker in self.markers:
            marker.setValue(t)

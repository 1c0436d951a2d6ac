"""The live view's rates in a real window: a fake camera at 30 FPS and 640×480 through the whole app
(capture, model, and display: pictures made and painted), for `slotviewer bench --video`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def live_gui_rates(model: str = "shapes", seconds: float = 8.0, height: int = 480, width: int = 640,
                   fps: float = 30.0, screenshot: str | None = None) -> dict[str, Any]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from slotviewer.data.moving_shapes import MovingShapes
    from slotviewer.gui.app import collect_garbage_on_gui_thread
    from slotviewer.gui.main_window import MainWindow
    from slotviewer.io.sources import FakeCamera

    app = QApplication.instance() or QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.setProperty("quiet", True)
    window.resize(1600, 1000)
    window.viewer.params = window.viewer.params.__class__(model=model, backend="onnx", device="cpu")
    window.show()
    window.viewer.load_engine()
    deadline = time.monotonic() + 60
    while window.viewer.engine is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    clip = MovingShapes(seed=0, height=height, width=width)
    frames = [image for image, _ in clip.frames(60)]  # made beforehand: a camera costs no CPU per frame
    window.live.start(FakeCamera(lambda i: frames[i % len(frames)], fps=fps, realtime=True))
    live = window.live.live
    warm = time.monotonic() + 2.0
    while time.monotonic() < warm:
        app.processEvents()
        time.sleep(0.002)
    seq0, t0 = live.buffer[-1].seq if live.buffer else 0, time.monotonic()
    captured0 = live.capture.latest(0)[0] if live.capture else 0
    counter = {"n": 0}
    window.sigRendered.connect(lambda name: counter.__setitem__("n", counter["n"] + (name == "A")))
    end = t0 + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.002)
    elapsed = time.monotonic() - t0
    displayed = counter["n"]
    processed = (live.buffer[-1].seq if live.buffer else 0) - seq0
    captured = (live.capture.latest(0)[0] if live.capture else 0) - captured0
    window.views["A"].slots.sigToggled.emit(1, False)
    later = time.monotonic() + 1.5
    while time.monotonic() < later:
        app.processEvents()
        time.sleep(0.002)
    if screenshot:
        window.save_screenshot(screenshot)
    result = {"source": f"fake camera {width}x{height} at {fps:g} FPS", "seconds": round(elapsed, 2),
              "capture_fps": captured / elapsed, "model_fps": processed / elapsed, "display_fps": displayed / elapsed,
              "rates_reported": {k: round(v, 1) for k, v in live.rates.items()},
              "hidden_slot_stays_hidden": bool(live.buffer and not live.buffer[-1].trace.enabled[1])}
    window.close()
    return result

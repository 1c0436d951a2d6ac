"""How long the window takes to follow the scrubber and a slot toggle, repaint included (target < 8 ms)."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from slotviewer.components.frames import OVERLAYS


def bench_gui(model: str, repeats: int = 50) -> dict[str, Any]:
    """Open the model's sample scene in a real (offscreen if no display) window and time the updates."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import dataclasses
    import tempfile
    from pathlib import Path

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from slotviewer.gui.app import collect_garbage_on_gui_thread, sample_scene, wait_until_rendered
    from slotviewer.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    collect_garbage_on_gui_thread()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.setProperty("quiet", True)
    viewer = window.viewer
    viewer.params = dataclasses.replace(viewer.params, model=model, backend="onnx")
    window.resize(1600, 1000)
    window.show()
    viewer.load_engine()
    scene = sample_scene(model)
    if scene is None:
        return {"error": f"no sample scene for {model}"}
    viewer.open_path(scene)
    if not wait_until_rendered(app, window):
        return {"error": "the window did not render"}
    trace = viewer.session.documents["A"].trace

    def timed(action) -> tuple[float, float]:  # noqa: ANN001
        """(wall, CPU) milliseconds: on a busy machine the wall time includes waiting for a core, the
        process's CPU time does not (ONNX Runtime's threads are idle here: nothing is run)."""
        start, cpu = time.perf_counter(), time.process_time()
        action()
        app.processEvents()  # includes Qt's repaint of what changed
        return (time.perf_counter() - start) * 1e3, (time.process_time() - cpu) * 1e3

    n = trace.iterations + 1
    runs = {
        "scrub": [timed(lambda i=i: window.iteration_bar.set_iteration((i * 3) % n if i % n else (i + 1) % n))
                  for i in range(repeats)],
        "toggle": [timed(lambda i=i: viewer.toggle_slot("A", i % trace.num_slots, i % 2 == 1))
                   for i in range(repeats)],
        "overlay_switch": [timed(lambda i=i: viewer.set_overlay(OVERLAYS[i % len(OVERLAYS)])) for i in range(repeats)],
        "playback_frame": [timed(lambda i=i: viewer.set_position((i % 30) / 10 * trace.iterations / 3))
                           for i in range(repeats)],
    }
    window.close()
    result: dict[str, Any] = {"model": model, "K": trace.num_slots, "T": trace.iterations}
    for name, pairs in runs.items():
        result[f"{name}_ms"] = round(statistics.median(w for w, _ in pairs), 2)
        result[f"{name}_cpu_ms"] = round(statistics.median(c for _, c in pairs), 2)
    result["scrub_max_ms"] = round(max(w for w, _ in runs["scrub"]), 2)
    return result

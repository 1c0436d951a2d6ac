"""`slotviewer gui [PATH]`: start the app, optionally render one screenshot and exit (for docs and tests)."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from slotviewer.components.viewer import SAMPLES
from slotviewer.errors import SlotviewerError
from slotviewer.gui.main_window import MainWindow
from slotviewer.gui.theme import apply_theme
from slotviewer.paths import ICON, adopt_legacy_settings, settings_file


def sample_scene(model: str) -> Path | None:
    """The bundled sample scene for a shipped model (`resources/samples/<model>.png`)."""
    path = SAMPLES / f"{Path(model).stem}.png"
    return path if path.exists() else None


def create_window(settings: QSettings | None = None) -> MainWindow:
    return MainWindow(settings)


def parse_size(text: str) -> tuple[int, int]:
    """`1280x720` → (1280, 720)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SlotviewerError(f"--size must look like 1280x720, got {text!r}") from None
    if not (320 <= width <= 8192 and 240 <= height <= 8192):
        raise SlotviewerError(f"--size {text}: width 320..8192 and height 240..8192, please")
    return width, height


def _ready(window: MainWindow, names: tuple[str, ...]) -> bool:
    if window.viewer.runner.pending():
        return False
    for name in names:
        document = window.session.documents[name]
        if document is None or document.trace is None:
            return False
        if any(document.needs_decode(t) for t in range(document.trace.iterations)):
            return False
    return True


def wait_until_rendered(app: QApplication, window: MainWindow, names: tuple[str, ...] = ("A",),
                        timeout: float = 120) -> bool:
    """Process events until the documents `names` are shown with every iteration decoded.

    Raises `SlotviewerError` as soon as the viewer reports an error (a bad model or image)."""
    errors: list[str] = []
    window.viewer.events.error.connect(errors.append)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            app.processEvents()
            if errors:
                raise SlotviewerError(errors[0])
            if _ready(window, names):
                app.processEvents()
                return True
            time.sleep(0.02)
        return False
    finally:
        window.viewer.events.error.disconnect(errors.append)


LIVE_SCREENSHOT_FRAMES = 30  # a video's screenshot shows its 30th frame (or its last, if shorter)


def wait_for_live_frame(app: QApplication, window: MainWindow, frames: int = LIVE_SCREENSHOT_FRAMES,
                        timeout: float = 120) -> str | None:
    """Play the live source until its `frames`-th frame is on screen (or it ended), then pause there, so the
    screenshot shows a decoded frame whose iterations can be scrubbed like a still image's. Files are read
    frame by frame (not in real time), so the same command always captures the same frame. A file that
    breaks off after some frames (truncated) is shown at its last good frame, and the failure is returned."""
    deadline = time.monotonic() + timeout
    failure = None
    while time.monotonic() < deadline:
        app.processEvents()
        live = window.live.live
        if live is not None and live.state == "failed" and failure is None:
            app.processEvents()  # the state is set at once, its message is posted to this thread
            failure = window.statusBar().currentMessage().removeprefix("error: ") or "the live source failed"
            if live.shown is None or live.source is None or not live.source.seekable:
                raise SlotviewerError(failure)
        if live is not None and live.shown is not None and (live.shown.frame.index + 1 >= frames
                                                            or live.state == "ended" or failure):
            live.pause()
            settle = time.monotonic() + 0.2  # the frame in flight, and frames posted to this thread, land first
            while (live.busy or time.monotonic() < settle) and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            wanted = [i for i, item in enumerate(list(live.buffer)) if item.frame.index == frames - 1]
            if wanted:  # then back to the frame asked for
                live.show(wanted[0])
            return failure
        time.sleep(0.01)
    raise SlotviewerError("the live source showed no frame in time")


def dispose(app: QApplication, window: MainWindow) -> None:
    """Close and delete the window now, while Qt is whole: left to the interpreter's exit, Qt objects
    may be destroyed in an order that crashes the process after its last line was printed."""
    window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()


def check_view_options(window: MainWindow, iteration: int | None, hide: list[int] | None) -> None:
    """`--iteration` and `--hide` must name what exists, in one clear line (never silently ignored)."""
    trace = window.session.documents["A"].trace
    if iteration is not None and not 0 <= iteration <= trace.iterations:
        raise SlotviewerError(f"--iteration {iteration}: this run has iterations 0..{trace.iterations}")
    bad = [i for i in hide or [] if not 0 <= i < trace.num_slots]
    if bad:
        raise SlotviewerError(f"--hide {','.join(map(str, bad))}: this run has slots 0..{trace.num_slots - 1}")


# Qt's offscreen platform (`--screenshot` without a display, CI) says this on every window it shows: noise beside the
# one line an error is
QUIET_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)
_quieted = False


def quiet_qt_noise() -> None:
    """Drop Qt's known harmless messages; every other message goes where it went (the handler before, or stderr)."""
    global _quieted
    if _quieted:  # once per process (the handler before it stays the one messages go on to)
        return
    _quieted = True
    from PySide6.QtCore import qInstallMessageHandler

    previous = None

    def handler(mode, context, message: str) -> None:  # noqa: ANN001
        if message in QUIET_QT_MESSAGES:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)


_collector: object | None = None  # pyqtgraph's GarbageCollector, once made


def collect_garbage_on_gui_thread() -> None:
    """Collect reference cycles on the GUI thread only (once per process, after the QApplication exists).

    Python's cycle collector runs on whichever thread happens to allocate past its threshold. When that is a
    worker (inference, an adaptation building its model, capture), the cycles it frees include Qt objects (a
    closed dialog, an old window's items), destroyed off the GUI thread: Qt then aborts or deadlocks (a test
    run aborted in the event loop while an adaptation thread built its model). Automatic collection is
    switched off and a timer on the GUI thread collects each second instead (pyqtgraph's GarbageCollector),
    for the rest of the process: call it only where a Qt event loop runs to the end (the app, the GUI benches,
    which are the last thing their `slotviewer bench` runs)."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector  # after PySide6: pyqtgraph uses its binding

        _collector = GarbageCollector(interval=1.0)


def main(path: str | None = None, screenshot: str | None = None, iteration: int | None = None,
         hide: list[int] | None = None, model: str | None = None, backend: str | None = None,
         size: str | None = None, b: str | None = None, compare: str | None = None,
         camera: int | None = None, sequence: str | None = None, overlay: str | None = None) -> int:
    window_size = parse_size(size) if size else (1600, 1000)
    if iteration is not None and iteration < 0:
        raise SlotviewerError(f"--iteration must be 0 or more, got {iteration}")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    quiet_qt_noise()
    collect_garbage_on_gui_thread()
    app.setApplicationName("slotviewer")
    app.setOrganizationName("slotviewer")
    app.setDesktopFileName("slotviewer")  # matches resources/slotviewer.desktop (taskbar grouping, Wayland)
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    if screenshot:  # a reproducible window: default layout, and the user's settings left alone
        settings = QSettings(str(Path(tempfile.mkdtemp()) / "screenshot.ini"), QSettings.Format.IniFormat)
    else:
        adopt_legacy_settings()
        settings = QSettings(str(settings_file()), QSettings.Format.IniFormat)  # the platform's config folder
    apply_theme(str(settings.value("theme", "System")))
    window = create_window(settings)
    viewer = window.viewer
    if screenshot:
        window.setProperty("quiet", True)
        window.resize(*window_size)
    changes = {k: v for k, v in (("model", model), ("backend", backend)) if v}
    if changes:
        viewer.params = dataclasses.replace(viewer.params, **changes)
        viewer.params.validate()
    viewer.model_chosen = model is not None  # an explicit --model wins over a bundled sample's own
    window.show()
    viewer.load_engine()
    from slotviewer.io.sources import is_video_path

    live = camera is not None or sequence is not None or (path is not None and is_video_path(path))
    start = None if live else path or sample_scene(viewer.params.model)
    early: list[str] = []  # errors said while opening (an empty folder says so at once, before any wait)
    if screenshot:  # the interactive window shows its errors itself; nothing to collect for its lifetime
        viewer.events.error.connect(early.append)
    if camera is not None:  # live sources start once the model is loaded (qt_live.QtLive)
        window.live.open_camera(camera)
    elif live:
        window.live.open_path(sequence or path, realtime=not screenshot)
    if start:
        viewer.open_path(str(start))
    if b:
        viewer.open_path(b, "B")
    elif compare:
        viewer.events.document.connect(lambda name: viewer.compare(compare) if name == "A" and
                                       viewer.session.documents["B"] is None else None)
    if not screenshot:
        return app.exec()
    failure = None
    try:
        if early:
            raise SlotviewerError(early[0])
        if live:
            failure = wait_for_live_frame(app, window)
        elif start is None:
            raise SlotviewerError("nothing to show: give an image path (no sample scene for this model)")
        names = ("A", "B") if b or compare else ("A",)
        if not wait_until_rendered(app, window, names):
            raise SlotviewerError("the window did not finish rendering in time")
        check_view_options(window, iteration, hide)
        if hide:
            trace = window.session.documents["A"].trace
            viewer.set_enabled("A", [i not in hide for i in range(trace.num_slots)])
        if iteration is not None:
            viewer.set_position(iteration)
        if overlay is not None:
            viewer.set_overlay(overlay)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        window.save_screenshot(screenshot)
    finally:
        dispose(app, window)
    print(f"wrote {screenshot}")
    if failure:  # written from the frames before it, and said as any failure is: one line, status 1
        print(f"slotviewer: error: {failure}", file=sys.stderr)
        return 1
    return 0

"""`slotviewer gui PATH --screenshot`: a real start-up in a fresh process, here without torch installed."""

import gc
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from slotviewer.gui.app import collect_garbage_on_gui_thread


def _shot(tmp_path: Path, name: str, args: list[str], block_torch: bool = False) -> np.ndarray:
    out = tmp_path / f"{name}.png"
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        if {block_torch!r}:
            sys.meta_path.insert(0, NoTorch())
        from slotviewer.cli import main
        code = main(["gui", *{args!r}, "--backend", "onnx", "--size", "1000x700", "--screenshot", {str(out)!r}])
        assert not {block_torch!r} or "torch" not in sys.modules
        sys.exit(code)
    """)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]  # nothing reports to a closed window
    return np.asarray(Image.open(out).convert("RGB")).astype(int)


def test_screenshot_options_change_the_picture_without_torch(tiny_model: Path, images: list[Path],
                                                             tmp_path: Path) -> None:
    base = [str(images[0]), "--model", str(tiny_model.with_suffix(".onnx"))]
    plain = _shot(tmp_path, "plain", base, block_torch=True)
    assert plain.shape[:2] == (700, 1000), "--size sets the window's size"
    assert plain.std() > 10
    first = _shot(tmp_path, "t0", [*base, "--iteration", "0"])
    hidden = _shot(tmp_path, "hide", [*base, "--hide", "0"])
    # the window frame and controls are the same in all three: the pictures must differ somewhere else too
    for other in (first, hidden):
        changed = np.abs(other - plain).sum(-1) > 30
        assert changed.sum() > 500, "the option changed what is shown"
        ys, xs = np.nonzero(changed)
        assert 250 < xs.mean() < 800, "the change is in the image panels and slot cards"


def test_screenshot_of_a_video_shows_a_decoded_frame(tiny_model: Path, tmp_path: Path) -> None:
    """A video opened from the command line plays until its 30th frame (here: its last, of 6) and is
    captured paused there, with the input, the overlay and the slot cards drawn."""
    from slotviewer.data.moving_shapes import MovingShapes

    frames = [Image.fromarray(image) for image, _ in MovingShapes(seed=1, height=48, width=64).frames(6)]
    video = tmp_path / "clip.gif"
    frames[0].save(video, save_all=True, append_images=frames[1:], duration=40)
    shot = _shot(tmp_path, "video", [str(video), "--model", str(tiny_model.with_suffix(".onnx"))])
    assert shot.shape[:2] == (700, 1000) and shot.std() > 10
    missing = tmp_path / "missing.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "slotviewer.cli", "gui", str(missing), "--model", str(tiny_model.with_suffix(".onnx")),
         "--backend", "onnx", "--screenshot", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1 and "missing.mp4" in result.stderr, result.stderr[-1000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "x.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()  # its error is said while opening, before the wait for rendering began: it waited 120 s
    result = subprocess.run(
        [sys.executable, "-m", "slotviewer.cli", "gui", str(empty), "--model", str(tiny_model.with_suffix(".onnx")),
         "--backend", "onnx", "--screenshot", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1 and f"{empty}: no images in this folder" in result.stderr, result.stderr[-1000:]


def test_screenshot_rejects_slots_and_iterations_that_do_not_exist(tiny_model: Path, images: list[Path],
                                                                   tmp_path: Path) -> None:
    for option, message in ((["--hide", "9"], "--hide 9: this run has slots 0..2"),
                            (["--iteration", "-1"], "--iteration must be 0 or more"),
                            (["--iteration", "99"], "--iteration 99: this run has iterations 0..")):
        result = subprocess.run(
            [sys.executable, "-m", "slotviewer.cli", "gui", str(images[0]), "--model",
             str(tiny_model.with_suffix(".onnx")), "--backend", "onnx", "--screenshot", str(tmp_path / "x.png"),
             *option], capture_output=True, text=True, timeout=120,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
        assert result.returncode == 1 and message in result.stderr, result.stderr[-1000:]
        assert "Traceback" not in result.stderr and not (tmp_path / "x.png").exists()


def test_screenshot_of_a_broken_image_fails_fast_with_one_line(tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage" * 10)
    result = subprocess.run(
        [sys.executable, "-m", "slotviewer.cli", "gui", str(bad), "--model", str(tiny_model.with_suffix(".onnx")),
         "--backend", "onnx", "--screenshot", str(tmp_path / "shot.png")],
        capture_output=True, text=True, timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1
    assert "slotviewer: error: " in result.stderr and "bad.png: not an image" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "shot.png").exists()


def test_themes(qapp) -> None:  # noqa: ANN001
    from slotviewer.gui.theme import apply_theme

    apply_theme("Dark")
    assert qapp.palette().window().color().lightness() < 100
    apply_theme("Light")
    assert qapp.palette().window().color().lightness() > 150


def test_screenshot_of_a_truncated_video_shows_its_last_good_frame_and_says_where_it_broke(
        tiny_model: Path, tmp_path: Path) -> None:
    import cv2

    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 5 * i, np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"  # breaks off before frame 30, the frame a screenshot shows
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = subprocess.run(
        [sys.executable, "-m", "slotviewer.cli", "gui", str(cut), "--model", str(tiny_model.with_suffix(".onnx")),
         "--backend", "onnx", "--screenshot", str(tmp_path / "shot.png")], capture_output=True, text=True,
        timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-1000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("slotviewer: error: ")]
    assert len(errors) == 1 and "cut.avi: stopped at frame" in errors[0] and "reconnect" not in errors[0]
    shot = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"))
    assert shot.std() > 10


def test_qt_noise_of_the_offscreen_platform_is_dropped_and_other_messages_pass(qtlog, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtCore import qWarning

    from slotviewer.gui import app as app_module

    monkeypatch.setattr(app_module, "_quieted", False)
    app_module.quiet_qt_noise()
    qWarning("This plugin does not support propagateSizeHints()")
    qWarning("a message that matters")
    assert [record.message for record in qtlog.records] == ["a message that matters"]


def test_reference_cycles_are_freed_on_the_gui_thread_whoever_made_them(qtbot) -> None:  # noqa: ANN001
    """A cycle made (and dropped) on a worker thread is freed by the GUI thread's timer, never on the worker:
    freeing Qt objects off the GUI thread aborts Qt."""
    script = ("from PySide6.QtWidgets import QApplication; import gc; app = QApplication([]); assert gc.isenabled(); "
              "from slotviewer.gui.app import collect_garbage_on_gui_thread as c; c(); print(gc.isenabled())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.stdout.strip() == "False", result.stderr[-2000:]  # the app switches automatic collection off
    collect_garbage_on_gui_thread()  # (this session's is off already: tests/conftest.py)
    freed_on: list[threading.Thread] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            freed_on.append(threading.current_thread())

    kept: list[list] = []

    def work() -> None:  # cycles, then (kept) far more allocations than a collection's threshold
        for _ in range(5):
            Cycle()
        kept.extend([] for _ in range(5 * gc.get_threshold()[0]))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert not freed_on, "nothing is collected on the worker"
    qtbot.waitUntil(lambda: len(freed_on) == 5, timeout=5_000)
    assert all(thread is threading.main_thread() for thread in freed_on)

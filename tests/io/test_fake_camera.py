"""The fake camera's own contract (the tests, the benchmarks and the GUI's live tests stand on it): frames
of the moving-shapes clip as fast as they are read unless told to keep time, timed by index, faults on cue,
and a replug after any disconnect."""

import time

import numpy as np
import pytest

from slotviewer.data.moving_shapes import MovingShapes
from slotviewer.io.sources import FakeCamera, SourceDisconnected, SourceError


def test_by_default_it_shows_the_moving_shapes_clip_as_fast_as_it_is_read() -> None:
    camera = FakeCamera(fps=2)
    assert not camera.opened
    with pytest.raises(SourceError, match="^fake camera: not open$"):
        camera.read()
    camera.open()
    assert camera.opened
    start = time.monotonic()
    frames = [camera.read() for _ in range(4)]
    assert time.monotonic() - start < 1.4, "not paced at 2 FPS (that would take 1.5 s)"
    clip = MovingShapes(seed=0)
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.image, clip.frame(i)[0])
    assert [f.time for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5]), "index / fps"
    camera.close()
    assert camera.opened is False


def test_in_real_time_it_keeps_its_rate() -> None:
    camera = FakeCamera(make_frame=lambda i: np.zeros((2, 2, 3)), fps=20, realtime=True)
    camera.open()
    start = time.monotonic()
    assert [camera.read().index for _ in range(5)] == [0, 1, 2, 3, 4]
    assert time.monotonic() - start >= 0.19, "frame 4 is due 0.2 s after opening"


def test_frames_are_8_bit_whatever_make_frame_returns() -> None:
    camera = FakeCamera(make_frame=lambda i: np.full((2, 3, 3), 7.9))
    camera.open()
    frame = camera.read()
    assert frame.image.dtype == np.uint8 and frame.image.max() == 7


def test_faults_on_cue_stall_drop_and_disconnect_then_replug() -> None:
    camera = FakeCamera(make_frame=lambda i: np.zeros((2, 2, 3)), stall_at={1: 0.3}, drop={2},
                        disconnect_at=4)
    camera.open()
    assert camera.read().index == 0
    start = time.monotonic()
    assert camera.read().index == 1 and time.monotonic() - start >= 0.29, "stalled 0.3 s before frame 1"
    start = time.monotonic()
    assert camera.read().index == 3 and time.monotonic() - start < 0.25, "frame 2 dropped; the stall was once"
    with pytest.raises(SourceDisconnected, match="^fake camera: disconnected at frame 4$"):
        camera.read()
    assert not camera.opened
    with pytest.raises(SourceError, match="^fake camera: not open$"):
        camera.read()
    camera.open()  # replugged
    assert camera.opened and camera.open_count == 2 and camera.read().index == 4


def test_a_camera_unplugged_by_hand_comes_back_when_reopened() -> None:
    camera = FakeCamera()
    camera.open()
    assert camera.read().index == 0
    camera.disconnect()
    with pytest.raises(SourceDisconnected, match="^fake camera: disconnected$"):
        camera.read()
    assert not camera.opened
    camera.open()
    assert camera.read().index == 1


def test_interrupt_makes_a_blocked_read_return_nothing() -> None:
    camera = FakeCamera()
    camera.open()
    camera.stall()
    camera.interrupt()
    assert camera.read() is None
    camera.open()  # a reopened camera delivers again
    camera.resume()
    assert camera.read() is not None


def test_a_finite_camera_ends() -> None:
    camera = FakeCamera(frames=2)
    camera.open()
    assert [camera.read().index, camera.read().index, camera.read()] == [0, 1, None]


def test_it_runs_at_30_fps_unless_told() -> None:
    assert FakeCamera().fps == 30.0


def test_a_reopened_real_time_camera_delivers_its_next_frame_at_once() -> None:
    """A reconnect after 30 frames must not wait the 1 s those frames took from the first open."""
    camera = FakeCamera(fps=30, realtime=True)
    camera.open()
    camera._next = 30  # as if it had delivered a second of frames
    camera.close()
    camera.open()
    start = time.monotonic()
    frame = camera.read()
    assert frame is not None and frame.index == 30 and time.monotonic() - start < 0.5

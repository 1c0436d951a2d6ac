"""The capture thread beyond newest-frame-wins: pacing files in real time, waiting at the end of a file
for a seek, the delivered rate, seeking a live source, and a driver's own exception as one line."""

import re
import time
from pathlib import Path

import pytest

from slotviewer.io.sources import CaptureThread, FakeCamera, Frame, FrameSource, SourceError, open_source
from tests.io.test_sources import write_video


def take_all(capture: CaptureThread, timeout: float = 5) -> list[int]:
    seen, seq = [], 0
    while (got := capture.latest(seq, timeout=timeout)) is not None:
        seq, frame = got
        seen.append(frame.index)
    return seen


def test_a_file_in_real_time_takes_as_long_as_it_plays(tmp_path: Path) -> None:
    source = open_source(write_video(tmp_path / "clip.avi", frames=10, fps=20.0))  # 0.45 s of video
    source.open()
    capture = CaptureThread(source, realtime=True)
    start = time.monotonic()
    capture.start()
    capture._thread.join(10)
    assert time.monotonic() - start >= 0.4, "paced at the file's 20 FPS, not read as fast as possible"
    assert capture.latest(0)[1].index == 9 and capture.ended and capture.error is None
    capture.stop()


def test_at_the_end_of_a_file_it_waits_for_a_seek(tmp_path: Path) -> None:
    source = open_source(write_video(tmp_path / "clip.avi", frames=6))
    source.open()
    arrived: list[int] = []
    capture = CaptureThread(source, realtime=False, keep_open=True, on_frame=lambda f: arrived.append(f.index))
    capture.start()
    assert take_all(capture, timeout=0.5) == list(range(6))
    deadline = time.monotonic() + 5
    while not capture.at_end and time.monotonic() < deadline:
        time.sleep(0.01)
    assert capture.at_end and capture._thread.is_alive() and not capture.ended
    seq = capture.latest(0)[0]
    capture.seek(3)
    got = capture.latest(seq, timeout=5)
    assert got is not None and got[1].index == 3 and not capture.at_end
    assert arrived[:7] == [0, 1, 2, 3, 4, 5, 3], "on_frame sees every frame read"
    capture.stop()
    assert not capture._thread.is_alive()


def test_the_delivered_rate_is_measured() -> None:
    """The rate is frames over the span of their arrivals (checked against the arrivals themselves, so a
    loaded machine that delivers fewer frames still passes: what is tested is the measuring)."""
    arrivals: list[float] = []
    camera = FakeCamera(realtime=True, fps=40)
    camera.open()
    capture = CaptureThread(camera, on_frame=lambda frame: arrivals.append(time.monotonic()))
    assert capture.fps == 0.0
    capture.start()
    deadline = time.monotonic() + 10
    while len(arrivals) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    capture.stop()
    now = time.monotonic()
    rate = capture.fps
    recent = [t for t in arrivals if now - t < 2.0]  # the rate is over the last two seconds
    assert len(recent) >= 12, "frames arrived"
    assert rate == pytest.approx((len(recent) - 1) / (recent[-1] - recent[0]), rel=0.05)


def test_a_live_source_cannot_seek() -> None:
    capture = CaptureThread(FakeCamera())
    with pytest.raises(SourceError, match="^fake camera: cannot seek in a live source$"):
        capture.seek(3)
    with pytest.raises(SourceError, match="^fake camera: cannot seek in a live source$"):
        FakeCamera().seek(3)


def test_no_stall_while_frames_flow_and_a_stall_is_said_once() -> None:
    camera = FakeCamera(realtime=True, fps=30)
    errors: list[Exception] = []
    capture = CaptureThread(camera, stall_timeout=1.0, on_error=errors.append)
    camera.open()
    capture.start()
    time.sleep(0.8)
    assert errors == [] and not capture.stalled, "frames every 33 ms are not a stall"
    camera.stall()
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)  # more watchdog rounds: still one message
    capture.stop()
    assert len(errors) == 1 and capture.stalled
    assert re.fullmatch(r"fake camera: no frame for \d+\.\d s \(stalled\); waiting for it to come back",
                        str(errors[0])), str(errors[0])



class BrokenDriver(FrameSource):
    name = "usb camera"
    live = False

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        raise RuntimeError("device reset\nkernel says more")


def test_a_drivers_own_exception_ends_capture_with_one_line() -> None:
    errors: list[SourceError] = []
    capture = CaptureThread(BrokenDriver(), realtime=False, on_error=errors.append)
    capture.start()
    capture._thread.join(5)
    assert capture.ended and str(capture.error) == "usb camera: RuntimeError: device reset"
    assert errors == [capture.error] and capture.latest(0, timeout=0.1) is None
    capture.stop()


def test_latest_without_arguments_is_the_newest_frame_of_all() -> None:
    camera = FakeCamera(frames=1)
    camera.open()
    capture = CaptureThread(camera)
    capture.start()
    got = capture.latest(timeout=5)
    capture.stop()
    assert got is not None and got[0] == 1 and got[1].index == 0


def test_a_seek_in_the_middle_of_a_file_read_frame_by_frame(tmp_path: Path) -> None:
    """Frame by frame (not real time) the reader waits for the consumer; a seek must not leave both waiting,
    and the frame read before the seek is never handed out."""
    source = open_source(write_video(tmp_path / "clip.avi", frames=20))
    source.open()
    capture = CaptureThread(source, realtime=False, keep_open=True)
    capture.start()
    seq, frame = capture.latest(0, timeout=5)
    assert frame.index == 0
    time.sleep(0.1)  # frame 1 is read and waits for the consumer
    capture.seek(12)
    got = capture.latest(seq, timeout=5)
    assert got is not None and got[1].index == 12
    assert capture.latest(got[0], timeout=5)[1].index == 13
    capture.stop()

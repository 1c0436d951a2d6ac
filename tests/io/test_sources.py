"""Frame sources: generated video files, GIFs, folders and the fake camera; the newest-frame capture thread."""

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from slotviewer.io.sources import (
    CaptureThread,
    FakeCamera,
    FolderSource,
    GifSource,
    SourceDisconnected,
    SourceError,
    SourceStalled,
    SourceTruncated,
    VideoFileSource,
    is_video_path,
    open_source,
)

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def colour_frame(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """RGB frame whose red channel encodes the frame number and whose green is constant (order check)."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[..., 0] = min(255, 20 + 8 * i)
    frame[..., 1] = 90
    return frame


def write_video(path: Path, frames: int = 12, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), fps, (64, 48))
    for i in range(frames):
        writer.write(colour_frame(i)[:, :, ::-1])
    writer.release()
    return path


def write_truncated_video(folder: Path, frames: int = 40) -> Path:
    """`folder/cut.avi`: the first half of the bytes of a `frames`-frame MJPG video (it breaks off mid-file)."""
    whole = write_video(folder / "whole.avi", frames=frames, fps=50.0)
    cut = folder / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def read_all(source) -> list:  # noqa: ANN001
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_video_files_read_every_frame_in_rgb(tmp_path: Path, suffix: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}")
    assert is_video_path(path)
    with open_source(path) as source:
        assert isinstance(source, VideoFileSource)
        assert source.fps == pytest.approx(20.0) and source.frame_count == 12
        frames = read_all(source)
    assert [f.index for f in frames] == list(range(12))
    red, green, blue = frames[5].image.reshape(-1, 3).mean(axis=0)
    assert abs(red - (20 + 8 * 5)) < 8 and abs(green - 90) < 8 and blue < 10  # RGB, not OpenCV's BGR
    assert frames[5].time == pytest.approx(5 / 20.0)


def test_seek_in_a_file(tmp_path: Path) -> None:
    with open_source(write_video(tmp_path / "clip.avi")) as source:
        source.seek(7)
        frame = source.read()
    assert frame.index == 7 and abs(frame.image[..., 0].mean() - (20 + 8 * 7)) < 8


def test_truncated_file_gives_its_readable_frames_then_says_where_it_stopped(tmp_path: Path) -> None:
    data = write_video(tmp_path / "clip.avi", frames=40).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    source = open_source(cut)
    source.open()
    frames = []
    with pytest.raises(SourceTruncated, match=r"cut.avi: stopped at frame \d+ of 40") as info:
        while (frame := source.read()) is not None:
            frames.append(frame)
    source.close()
    assert 5 < len(frames) < 40 and info.value.stopped_at == len(frames)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_files_are_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="broken.mp4: (empty file|not a video OpenCV can open)"):
        open_source(path).open()
    with pytest.raises(SourceError, match="file not found"):
        open_source(tmp_path / "missing.mkv").open()


def test_animated_gif_is_a_clip_and_a_still_gif_is_not(tmp_path: Path) -> None:
    frames = [Image.fromarray(colour_frame(i)) for i in range(6)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    frames[0].save(tmp_path / "still.gif")
    assert is_video_path(tmp_path / "anim.gif") and not is_video_path(tmp_path / "still.gif")
    with open_source(tmp_path / "anim.gif") as source:
        assert isinstance(source, GifSource) and source.frame_count == 6 and source.fps == pytest.approx(20.0)
        got = read_all(source)
    assert len(got) == 6 and got[3].image.shape == (48, 64, 3)
    assert abs(int(got[3].image[0, 0, 0]) - (20 + 8 * 3)) <= 8


def test_folder_plays_as_a_sequence(tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(colour_frame(i)).save(tmp_path / f"f{i}.png")
    Image.fromarray(colour_frame(0)[..., 0]).save(tmp_path / "f3.png")  # grey: becomes RGB
    source = open_source(tmp_path, fps=5)
    assert isinstance(source, FolderSource)
    with source:
        frames = read_all(source)
        source.seek(1)
        again = source.read()
    assert [f.index for f in frames] == [0, 1, 2, 3] and frames[3].image.shape == (48, 64, 3)
    assert again.index == 1 and frames[2].time == pytest.approx(0.4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        FolderSource(tmp_path / "empty").open()


def test_a_folder_of_frames_plays_in_the_order_they_are_numbered(tmp_path: Path) -> None:
    """Unpadded numbers (frame2 before frame10) and upper/lower case mixed, as exporters write them."""
    names = ["frame1.png", "Frame2.PNG", "frame3.png", "frame10.png", "frame11.png", "FRAME12.png"]
    for i, name in enumerate(names):
        Image.fromarray(colour_frame(i)).save(tmp_path / name)
    with open_source(tmp_path) as source:
        frames = read_all(source)
    shades = [int(frame.image[0, 0, 0]) for frame in frames]
    assert shades == sorted(shades) and len(set(shades)) == len(names), shades  # colour_frame(i) brightens with i


def test_fake_camera_drops_and_disconnects_on_cue_and_reconnects() -> None:
    camera = FakeCamera(drop={1, 2}, disconnect_at=5)
    camera.open()
    assert [camera.read().index for _ in range(3)] == [0, 3, 4]
    with pytest.raises(SourceDisconnected):
        camera.read()
    camera.open()  # replugged
    assert camera.read().index == 5 and camera.open_count == 2


def test_capture_keeps_only_the_newest_frame() -> None:
    camera = FakeCamera(frames=50)  # live, and faster than anyone consumes
    camera.open()
    capture = CaptureThread(camera)
    capture.start()
    capture._thread.join(10)  # the source is exhausted; nobody took a frame yet
    seq, frame = capture.latest(0, timeout=1)
    assert frame.index == 49 and seq == 50  # the 49 older frames were dropped, not queued
    assert capture.latest(seq, timeout=0.05) is None and capture.error is None
    capture.stop()


def test_capture_of_a_file_hands_out_every_frame_when_not_realtime(tmp_path: Path) -> None:
    capture = CaptureThread(open_source(write_video(tmp_path / "clip.avi")), realtime=False)
    capture.source.open()
    capture.start()
    seen, seq = [], 0
    while (got := capture.latest(seq, timeout=5)) is not None:
        seq, frame = got
        seen.append(frame.index)
    capture.stop()
    assert seen == list(range(12))


def test_a_stalling_camera_is_reported_and_comes_back() -> None:
    camera = FakeCamera(frames=None)
    errors: list[Exception] = []
    reported = threading.Event()
    capture = CaptureThread(camera, stall_timeout=0.2, on_error=lambda e: (errors.append(e), reported.set()))
    camera.open()
    capture.start()
    seq, _ = capture.latest(0, timeout=5)
    camera.stall()
    assert reported.wait(10)
    assert isinstance(errors[0], SourceStalled) and "stalled" in str(errors[0]) and capture.stalled
    last = capture.latest(0, timeout=1)[1]  # the last frame stays available
    camera.resume()
    newer = capture.latest(capture.latest(0)[0], timeout=5)
    assert newer is not None and newer[1].index > last.index and not capture.stalled
    capture.stop()
    assert not capture._thread.is_alive()


def test_a_disconnect_ends_capture_with_the_error_and_keeps_the_last_frame() -> None:
    camera = FakeCamera(disconnect_at=10)
    capture = CaptureThread(camera)
    camera.open()
    capture.start()
    capture._thread.join(10)
    assert isinstance(capture.error, SourceDisconnected) and capture.ended
    assert capture.latest(0)[1].index == 9
    capture.stop()


def test_stop_wakes_a_stalled_camera() -> None:
    camera = FakeCamera()
    camera.open()
    camera.stall()
    capture = CaptureThread(camera)
    capture.start()
    capture.stop(timeout=5)
    assert not capture._thread.is_alive() and not camera.opened


def test_a_missing_camera_is_one_clear_error() -> None:
    from slotviewer.io.sources import CameraSource, list_cameras

    index = max(list_cameras(), default=-1) + 10  # an index no camera here has
    with pytest.raises(SourceError, match=f"camera {index}: not found or in use by another program"):
        open_source(index).open()
    assert isinstance(open_source(f"camera:{index}"), CameraSource)
    with pytest.raises(SourceError, match="camera -1: camera numbers start at 0"):  # OpenCV would segfault
        open_source("camera:-1").open()


def test_a_read_that_fails_after_stop_is_not_reported() -> None:
    """A camera blocked in read when Stop came returns with no frame later (its capture was released under it):
    that is the stop, not a failure of the next run that reuses the same view."""
    import threading

    from slotviewer.io.sources import Frame, FrameSource, SourceDisconnected

    entered, go_on = threading.Event(), threading.Event()

    class BlockedCamera(FrameSource):
        live = True
        name = "blocked camera"

        def open(self) -> None:
            pass

        def read(self) -> Frame | None:
            entered.set()
            go_on.wait(10)
            raise SourceDisconnected("blocked camera: no frame")

    errors: list[Exception] = []
    capture = CaptureThread(BlockedCamera(), on_error=errors.append)
    capture.start()
    assert entered.wait(10)
    capture.stop(timeout=0.05)  # the read is still blocked: stop gives up waiting
    go_on.set()
    capture._thread.join(10)
    assert not capture._thread.is_alive() and errors == [] and capture.error is None

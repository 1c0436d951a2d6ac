"""`CameraSource` and `list_cameras` against a stand-in for OpenCV's capture (no webcam here), and which
source `open_source` / `is_video_path` pick for each kind of input."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from slotviewer.io import sources
from slotviewer.io.sources import (
    CameraSource,
    FolderSource,
    GifSource,
    SourceDisconnected,
    SourceError,
    VideoFileSource,
    is_video_path,
    list_cameras,
    open_source,
)


class FakeCapture:
    """Cameras 0 and 2 exist; camera 2 reports 30 FPS and gives two frames, then nothing (unplugged)."""

    instances: list["FakeCapture"] = []

    def __init__(self, index: int) -> None:
        self.index, self.released, self.settings, self.reads = index, False, {}, 0
        FakeCapture.instances.append(self)

    def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
        return self.index in (0, 2)

    def release(self) -> None:
        self.released = True

    def set(self, prop: int, value: float) -> bool:
        self.settings[prop] = value
        return True

    def get(self, prop: int) -> float:
        return {0: 0.0, 2: 30.0}.get(self.index, 0.0) if prop == FAKE_CV2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.reads += 1
        if self.reads > 2:
            return False, None
        bgr = np.zeros((4, 6, 3), np.uint8)
        bgr[..., 0] = 200  # blue in OpenCV's BGR order
        return True, bgr


FAKE_CV2 = SimpleNamespace(VideoCapture=FakeCapture, CAP_PROP_FPS=5, CAP_PROP_FRAME_WIDTH=3,
                           CAP_PROP_FRAME_HEIGHT=4)


@pytest.fixture(autouse=True)
def fake_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCapture.instances = []
    monkeypatch.setattr(sources, "_cv2", lambda: FAKE_CV2)


def test_list_cameras_probes_and_releases_every_index() -> None:
    assert list_cameras(4) == [0, 2]
    assert [c.index for c in FakeCapture.instances] == [0, 1, 2, 3]
    assert all(c.released for c in FakeCapture.instances)


def test_a_camera_gives_rgb_frames_in_order_then_says_it_was_unplugged() -> None:
    camera = CameraSource(2, width=640, height=480)
    with pytest.raises(SourceError, match="camera 2: not open"):
        camera.read()
    assert camera.fps is None and camera.name == "camera 2"
    camera.open()
    cap = FakeCapture.instances[-1]
    assert cap.settings == {3: 640, 4: 480}, "the asked size is requested from the driver"
    assert camera.fps == 30.0
    first, second = camera.read(), camera.read()
    assert (first.index, second.index) == (0, 1) and 0 <= first.time <= second.time
    assert first.image.shape == (4, 6, 3) and first.image[0, 0].tolist() == [0, 0, 200], "BGR became RGB"
    with pytest.raises(SourceDisconnected, match=r"camera 2: no frame \(unplugged or taken by another program\)"):
        camera.read()
    camera.close()
    assert cap.released and camera.fps is None
    camera.close()  # twice is fine


def test_a_missing_camera_is_released_and_named() -> None:
    with pytest.raises(SourceError, match="^camera 1: not found or in use by another program$"):
        CameraSource(1).open()
    assert FakeCapture.instances[-1].released


def test_a_camera_without_a_rate_or_size_request() -> None:
    camera = CameraSource(0)
    camera.open()
    assert FakeCapture.instances[-1].settings == {} and camera.fps is None, "0 FPS from the driver means unknown"
    only_width = CameraSource(0, width=320)
    only_width.open()
    assert FakeCapture.instances[-1].settings == {}


def test_open_source_picks_the_source_by_what_it_is_given(tmp_path: Path) -> None:
    assert isinstance(open_source(3), CameraSource) and open_source(3).index == 3
    assert open_source("1").index == 1 and open_source("camera:2").index == 2
    assert isinstance(open_source(tmp_path), FolderSource)
    assert open_source(tmp_path, fps=4).fps == 4
    for name in ("a.gif", "a.webp", "a.apng", "a.PNG"):
        assert isinstance(open_source(tmp_path / name), GifSource), name
    assert isinstance(open_source(tmp_path / "clip.mp4"), VideoFileSource)


def test_is_video_path_by_suffix_and_by_frame_count(tmp_path: Path) -> None:
    assert is_video_path("x.mp4") and is_video_path("X.MKV") and not is_video_path("x.jpg")
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "still.gif")
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    (tmp_path / "junk.gif").write_bytes(b"not a gif")
    assert is_video_path(tmp_path / "anim.gif") and is_video_path(tmp_path / "anim.png")
    assert not is_video_path(tmp_path / "still.gif") and not is_video_path(tmp_path / "junk.gif")
    assert not is_video_path(tmp_path / "missing.gif")


def test_camera_frames_count_up_and_are_timed_from_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeCapture, "read", lambda self: (True, np.zeros((4, 6, 3), np.uint8)))
    camera = CameraSource(0)
    camera.open()
    frames = [camera.read() for _ in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert 0 <= frames[0].time <= frames[1].time <= frames[2].time < 5


def test_a_frame_handed_back_with_ok_false_is_a_disconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeCapture, "read", lambda self: (False, np.zeros((4, 6, 3), np.uint8)))
    camera = CameraSource(0)
    camera.open()
    with pytest.raises(SourceDisconnected, match="^camera 0: no frame"):
        camera.read()


def test_list_cameras_probes_the_first_eight_indices_by_default() -> None:
    assert list_cameras() == [0, 2]
    assert [c.index for c in FakeCapture.instances] == list(range(8))


def test_the_first_camera_is_the_default() -> None:
    assert CameraSource().index == 0 and CameraSource().name == "camera 0"


@pytest.mark.parametrize(("frozen", "hint"), [(False, "pip install opencv-python-headless"),
                                              (True, r"this app was built without it \(slotviewer bundle "
                                                     r"--with-video\)")])
def test_without_opencv_video_input_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, frozen: bool,
                                                       hint: str) -> None:
    monkeypatch.undo()  # the real _cv2, not the stand-in
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    if frozen:
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(SourceError, match=f"^video and camera input need OpenCV: {hint}$"):
        sources._cv2()


def test_opencv_is_told_to_be_quiet_unless_the_user_said_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "32")
    sources._cv2()
    assert os.environ["OPENCV_LOG_LEVEL"] == "SILENT", "no probing chatter: failures are said once, by us"
    assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "32", "a level the user set is kept"
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL")
    sources._cv2()
    assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "-8"


def test_closing_a_camera_during_a_blocked_read_releases_it_only_when_the_read_returns() -> None:
    """An unplugged camera blocks in read (V4L2 waits 10 s); Stop closes it from the GUI thread meanwhile.
    Releasing under a read is a use-after-free in OpenCV: the close returns at once and the read releases."""
    import threading

    camera = CameraSource(0)
    camera.open()
    capture = FakeCapture.instances[-1]
    entered, go_on = threading.Event(), threading.Event()
    released_during_read: list[bool] = []

    def blocked_read() -> tuple[bool, np.ndarray | None]:
        entered.set()
        go_on.wait(10)
        return False, None

    def release() -> None:
        released_during_read.append(not go_on.is_set())
        capture.released = True

    capture.read, capture.release = blocked_read, release
    errors: list[Exception] = []

    def reader() -> None:
        try:
            camera.read()
        except SourceDisconnected as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert entered.wait(10)
    camera.close()  # returns at once: nothing waits for the blocked read
    assert not capture.released and camera._cap is None
    go_on.set()
    thread.join(10)
    assert capture.released and released_during_read == [False], "released once, after the read returned"
    assert len(errors) == 1 and "no frame" in str(errors[0])
    camera.close()  # twice is safe
    assert released_during_read == [False]


def test_a_closed_camera_is_released_at_once_when_no_read_runs() -> None:
    camera = CameraSource(0)
    camera.open()
    capture = FakeCapture.instances[-1]
    camera.close()
    assert capture.released and camera._cap is None

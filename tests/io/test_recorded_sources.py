"""Video files and image folders in detail: which rates and frame counts a container may report, where a
clip counts as cut short, seeking, closing, and every refusal as one exact line. OpenCV's capture is replaced
by a stand-in whose reported rate, count and decodable frames each test chooses."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from slotviewer.io import sources
from slotviewer.io.sources import FolderSource, SourceError, SourceTruncated, VideoFileSource, open_source
from tests.io.test_sources import read_all


class FileCapture:
    """A video file that reports `fps` and `count` and decodes `frames` frames (red = frame number)."""

    fps, count, frames, stale_frame_at_end = 25.0, 5, 5, False
    last: "FileCapture"

    def __init__(self, path: str) -> None:
        self.path, self.position, self.released, self.positions_set = path, 0, False, []
        FileCapture.last = self

    def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
        return True

    def get(self, prop: int) -> float:
        return {FAKE_CV2.CAP_PROP_FPS: self.fps, FAKE_CV2.CAP_PROP_FRAME_COUNT: float(self.count)}[prop]

    def set(self, prop: int, value: float) -> bool:
        assert prop == FAKE_CV2.CAP_PROP_POS_FRAMES
        self.position = int(value)
        self.positions_set.append(int(value))
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.position >= self.frames:  # OpenCV may hand back a stale buffer with ok=False
            return False, (np.zeros((2, 2, 3), np.uint8) if self.stale_frame_at_end else None)
        bgr = np.zeros((2, 2, 3), np.uint8)
        bgr[..., 2] = 10 * self.position
        self.position += 1
        return True, bgr

    def release(self) -> None:
        self.released = True


FAKE_CV2 = SimpleNamespace(VideoCapture=FileCapture, CAP_PROP_FPS=5, CAP_PROP_FRAME_COUNT=7, CAP_PROP_POS_FRAMES=1)


@pytest.fixture
def clip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """A factory: `clip(fps=…, count=…, frames=…)` → an unopened VideoFileSource on the stand-in."""
    monkeypatch.setattr(sources, "_cv2", lambda: FAKE_CV2)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0")

    def make(**reported: object) -> VideoFileSource:
        for key, value in {"fps": 25.0, "count": 5, "frames": 5, "stale_frame_at_end": False, **reported}.items():
            monkeypatch.setattr(FileCapture, key, value)
        return VideoFileSource(path)

    return make


@pytest.mark.parametrize("fps", [0.5, 29.97, 999.0])
def test_a_plausible_rate_is_the_clips_rate_and_times_follow_it(clip, fps: float) -> None:  # noqa: ANN001
    source = clip(fps=fps)
    source.open()
    assert source.fps == fps
    assert [f.time for f in read_all(source)] == pytest.approx([i / fps for i in range(5)])


@pytest.mark.parametrize("fps", [0.0, -5.0, float("nan"), float("inf"), 1000.0, 1500.0])
def test_an_implausible_rate_is_unknown_and_times_assume_25_fps(clip, fps: float) -> None:  # noqa: ANN001
    source = clip(fps=fps)
    source.open()
    assert source.fps is None
    assert [f.time for f in read_all(source)] == pytest.approx([i / 25 for i in range(5)])


@pytest.mark.parametrize(("count", "expected"), [(0, None), (-1, None), (1, 1), (5, 5)])
def test_a_frame_count_below_one_is_unknown(clip, count: int, expected: int | None) -> None:  # noqa: ANN001
    source = clip(count=count, frames=max(count, 1))
    assert source.frame_count is None and source.fps is None, "nothing is known before opening"
    source.open()
    assert source.frame_count == expected


def test_frames_come_in_order_as_rgb_and_the_clip_ends_where_the_container_said(clip) -> None:  # noqa: ANN001
    source = clip(count=5, frames=4)  # one frame short of the count: containers over-count, a normal end
    source.open()
    frames = read_all(source)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 10, 20, 30] and not frames[1].image[..., 2].any()


def test_a_frame_returned_with_ok_false_ends_the_clip(clip) -> None:  # noqa: ANN001
    source = clip(count=3, frames=3, stale_frame_at_end=True)
    source.open()
    assert len(read_all(source)) == 3


def test_two_or_more_missing_frames_mean_a_cut_file(clip) -> None:  # noqa: ANN001
    source = clip(count=5, frames=3)
    source.open()
    assert len([source.read() for _ in range(3)]) == 3
    with pytest.raises(SourceTruncated, match=r"^\S*clip\.mp4: stopped at frame 3 of 5 "
                                              r"\(truncated or corrupt data after it\)$") as info:
        source.read()
    assert info.value.stopped_at == 3


def test_seek_clamps_at_the_start_and_drops_the_frame_read_ahead(clip) -> None:  # noqa: ANN001
    source = clip()
    source.open()
    source.seek(-3)
    assert FileCapture.last.positions_set == [0]
    assert source.read().index == 0
    source.seek(3)
    frame = source.read()
    assert (frame.index, int(frame.image[0, 0, 0])) == (3, 30)


def test_close_releases_the_capture_once_and_then_it_is_not_open(clip) -> None:  # noqa: ANN001
    source = clip()
    source.open()
    cap = FileCapture.last
    source.close()
    assert cap.released
    source.close()
    for action in (source.read, lambda: source.seek(1)):
        with pytest.raises(SourceError, match=r"^\S*clip\.mp4: not open$"):
            action()


def test_a_file_with_no_decodable_frame_is_refused_and_released(clip) -> None:  # noqa: ANN001
    source = clip(frames=0)
    with pytest.raises(SourceError, match=r"^\S*clip\.mp4: OpenCV opened the file but cannot decode a frame "
                                          r"\(unsupported codec or corrupt data\)$"):
        source.open()
    assert FileCapture.last.released


def test_folders_empty_files_and_non_videos_are_one_exact_line_each(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=rf"^{tmp_path}: is a folder, not a video \(use it as an image sequence\)$"):
        VideoFileSource(tmp_path).open()
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(SourceError, match=r"^\S*empty\.mp4: empty file$"):
        VideoFileSource(tmp_path / "empty.mp4").open()
    (tmp_path / "one.mp4").write_bytes(b"x")
    with pytest.raises(SourceError, match=r"^\S*one\.mp4: not a video OpenCV can open \(unknown container or codec\)$"):
        VideoFileSource(tmp_path / "one.mp4").open()


def test_a_folder_source_names_its_folder_and_refuses_a_file(tmp_path: Path) -> None:
    assert FolderSource(tmp_path).name == str(tmp_path) and open_source(tmp_path).fps == 10.0
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(SourceError, match=rf"^{tmp_path / 'a.png'}: not a folder$"):
        FolderSource(tmp_path / "a.png").open()


def test_folder_frames_are_8_bit_rgb_whatever_the_files_hold(tmp_path: Path) -> None:
    Image.fromarray(np.full((3, 4), 32768, np.uint16)).save(tmp_path / "a_grey16.png")
    Image.fromarray(np.full((3, 4), 65535, np.uint16)).save(tmp_path / "b_white16.png")
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba).save(tmp_path / "c_rgba.png")
    source = FolderSource(tmp_path)
    source.open()
    frames = [source.read() for _ in range(3)]
    for frame in frames:
        assert frame.image.dtype == np.uint8 and frame.image.shape == (3, 4, 3)
    assert frames[0].image[0, 0].tolist() == [128, 128, 128]  # 32768 / 65535 · 255 = 127.5 → 128
    assert frames[1].image[0, 0].tolist() == [255, 255, 255]
    assert frames[2].image[0, 0].tolist() == [200, 0, 0]
    source.seek(-2)
    assert source.read().index == 0


def test_a_folder_source_plays_at_ten_fps_unless_told(tmp_path: Path) -> None:
    source = FolderSource(tmp_path)
    assert source.fps == 10.0 and source.frame_count == 0, "nothing listed before opening"


def test_animations_are_clips_but_a_multi_page_tiff_is_an_image(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "anim.apng", format="PNG", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    assert sources.is_video_path(tmp_path / "anim.webp") and sources.is_video_path(tmp_path / "anim.apng")
    assert not sources.is_video_path(tmp_path / "pages.tif"), "TIFF pages are not frames of a clip"

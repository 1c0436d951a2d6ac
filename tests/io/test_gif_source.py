"""Animated GIFs as clips: per-frame times from their own durations, the rate from the median duration,
seeking, a frame Pillow cannot decode, the errors of a missing or unreadable file; and the channel order of
what OpenCV hands over (grey, BGR, BGRA)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slotviewer.io.sources import GifSource, SourceError, SourceTruncated, _bgr_to_rgb
from tests.io.test_sources import colour_frame, read_all


def write_gif(path: Path, durations: list[int]) -> Path:
    frames = [Image.fromarray(colour_frame(i)) for i in range(len(durations))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


def test_frames_carry_their_index_and_the_time_their_durations_add_up_to(tmp_path: Path) -> None:
    source = GifSource(write_gif(tmp_path / "anim.gif", [40, 60, 200, 200, 200]))
    assert source.name == str(tmp_path / "anim.gif")
    source.open()
    assert source.frame_count == 5 and source.fps == pytest.approx(5.0), "1000 / the median duration (200 ms)"
    frames = read_all(source)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.04, 0.1, 0.3, 0.5])
    reds = [int(f.image[0, 0, 0]) for f in frames]
    assert all(abs(red - (20 + 8 * i)) <= 8 for i, red in enumerate(reds)) and reds == sorted(reds)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    source.close()
    assert source._image is None


def test_a_frame_without_a_duration_counts_as_a_tenth_of_a_second(tmp_path: Path) -> None:
    source = GifSource(write_gif(tmp_path / "anim.gif", [0, 0, 0]))
    source.open()
    assert source.fps == pytest.approx(10.0)
    assert [f.time for f in read_all(source)] == pytest.approx([0.0, 0.1, 0.2])


def test_seek_clamps_and_restarts_the_clock_at_that_frame(tmp_path: Path) -> None:
    source = GifSource(write_gif(tmp_path / "anim.gif", [50] * 6))
    source.open()
    read_all(source)
    source.seek(2)
    frame = source.read()
    assert frame.index == 2 and frame.time == pytest.approx(0.1)
    source.seek(-4)
    assert source.read().index == 0
    source.seek(99)
    assert source.read() is None
    source.open()  # reopening starts over
    assert source.read().index == 0 and source.read().time == pytest.approx(0.05)


def test_a_frame_pillow_cannot_decode_ends_the_clip_saying_where(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_gif(tmp_path / "anim.gif", [50] * 6)
    source = GifSource(path)
    source.open()
    assert len([source.read() for _ in range(3)]) == 3
    real_seek = source._image.seek
    monkeypatch.setattr(source._image, "seek", lambda i: real_seek(i) if i < 3 else (_ for _ in ()).throw(
        EOFError("no more data")))
    with pytest.raises(SourceTruncated, match=rf"^{path}: stopped at frame 3 of 6 \(no more data\)$") as info:
        source.read()
    assert info.value.stopped_at == 3


def test_missing_unopened_and_unreadable_gifs_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=rf"^{tmp_path / 'gone.gif'}: file not found$"):
        GifSource(tmp_path / "gone.gif").open()
    with pytest.raises(SourceError, match=rf"^{tmp_path / 'gone.gif'}: not open$"):
        GifSource(tmp_path / "gone.gif").read()
    (tmp_path / "bad.gif").write_bytes(b"GIF89a but not really")
    with pytest.raises(SourceError, match=rf"^{tmp_path / 'bad.gif'}: not an animation Pillow can read \(.+\)$"):
        GifSource(tmp_path / "bad.gif").open()


def test_a_still_image_opened_as_a_clip_is_one_frame(tmp_path: Path) -> None:
    Image.fromarray(colour_frame(2)).save(tmp_path / "still.png")
    source = GifSource(tmp_path / "still.png")
    source.open()
    assert source.frame_count == 1 and source.fps == pytest.approx(10.0)
    assert len(read_all(source)) == 1


def test_opencv_frames_become_rgb_whatever_their_channels() -> None:
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 20, 30  # blue, green, red
    np.testing.assert_array_equal(_bgr_to_rgb(bgr)[0, 0], [30, 20, 10])
    bgra = np.concatenate([bgr, np.full((2, 3, 1), 255, np.uint8)], axis=2)
    rgb = _bgr_to_rgb(bgra)
    assert rgb.shape == (2, 3, 3) and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb[1, 2], [30, 20, 10])
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = _bgr_to_rgb(grey)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[..., 0], grey)
    np.testing.assert_array_equal(out[..., 2], grey)

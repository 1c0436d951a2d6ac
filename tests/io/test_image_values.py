"""What `read_image` returns, by value, for the modes a user's files come in (issue 14: shapes alone prove little)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slotviewer.errors import InputError
from slotviewer.io.images import list_images, png_bytes, read_image


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    image.putdata([0, 1, 2])
    image.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]])
    image.info["transparency"] = 1
    image.save(tmp_path / "pt.png", transparency=1)
    out = read_image(tmp_path / "pt.png")
    assert out.shape == (1, 3, 4)
    np.testing.assert_array_equal(out[0, :, 3], [255, 0, 255])


def test_grey_alpha_one_bit_and_float(tmp_path: Path) -> None:
    Image.fromarray(np.array([[[10, 200], [90, 0]]], np.uint8), mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), [[[10, 10, 10, 200], [90, 90, 90, 0]]])
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "bw.png")
    np.testing.assert_array_equal(read_image(tmp_path / "bw.png"), [[255, 0]])
    Image.fromarray(np.array([[2.0, 4.0, 6.0]], np.float32), mode="F").save(tmp_path / "f.tif")
    np.testing.assert_allclose(read_image(tmp_path / "f.tif"), [[0.0, 0.5, 1.0]])  # stretched to [0, 1]


def test_sixteen_bit_values_survive(tmp_path: Path) -> None:
    deep = np.array([[0, 1000, 65535]], np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    np.testing.assert_array_equal(read_image(tmp_path / "d.png"), deep)


def test_exif_rotation_moves_the_pixels(tmp_path: Path) -> None:
    image = Image.new("RGB", (4, 2), (0, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))  # top-left white
    exif = image.getexif()
    exif[0x0112] = 6  # display rotated 90° clockwise: top-left goes to top-right
    image.save(tmp_path / "r.png", exif=exif)
    out = read_image(tmp_path / "r.png")
    assert out.shape == (4, 2, 3) and out[0, 1].min() == 255 and out[0, 0].max() == 0


def test_first_frame_of_an_animation(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (2, 2), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = read_image(tmp_path / "a.gif")
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


def test_a_folder_and_an_empty_picture_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match=r"dir\.png: is a folder"):
        read_image(tmp_path / "dir.png")


def test_list_images_keeps_files_and_order(tmp_path: Path) -> None:
    for name in ("c.webp", "b.TIFF", "a.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert list_images([tmp_path / "z.png", tmp_path]) == [tmp_path / "z.png", tmp_path / "b.TIFF",
                                                            tmp_path / "c.webp"]


def test_png_bytes_round_trip(tmp_path: Path) -> None:
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(png_bytes(array))
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), array)


def test_thirty_two_bit_integers_become_sixteen_or_eight_bit(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 300, 70000, -5]], np.int32), mode="I").save(tmp_path / "wide.tif")
    out = read_image(tmp_path / "wide.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, [[0, 300, 65535, 0]])  # clipped into 16 bits
    Image.fromarray(np.array([[0, 256]], np.int32), mode="I").save(tmp_path / "just.tif")
    assert read_image(tmp_path / "just.tif").dtype == np.uint16  # 256 does not fit in 8 bits
    Image.fromarray(np.array([[0, 100, 255, -3]], np.int32), mode="I").save(tmp_path / "narrow.tif")
    out = read_image(tmp_path / "narrow.tif")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 100, 255, 0]])


@pytest.mark.parametrize("mode", ["I;16B", "I;16L", "I;16"])
def test_sixteen_bit_byte_orders_keep_their_values(tmp_path: Path, mode: str) -> None:
    order = ">" if mode.endswith("B") else "<"
    values = np.array([1, 2, 65535], f"{order}u2")
    Image.frombytes(mode, (3, 1), values.tobytes()).save(tmp_path / "d.tif")
    out = read_image(tmp_path / "d.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, [[1, 2, 65535]])


def test_a_constant_float_image_is_black_and_nan_is_ignored_in_the_stretch(tmp_path: Path) -> None:
    Image.fromarray(np.full((1, 3), 7.0, np.float32), mode="F").save(tmp_path / "flat.tif")
    flat = read_image(tmp_path / "flat.tif")
    assert flat.shape == (1, 3) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat, [[0.0, 0.0, 0.0]])
    Image.fromarray(np.array([[1.0, np.nan, 3.0]], np.float32), mode="F").save(tmp_path / "nan.tif")
    out = read_image(tmp_path / "nan.tif")
    assert out[0, 0] == 0.0 and out[0, 2] == 1.0 and np.isnan(out[0, 1])


def test_grey_with_palette_alpha_and_cmyk_by_value(tmp_path: Path) -> None:
    pa = Image.new("PA", (2, 1))
    pa.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    pa.putdata([(1, 255), (0, 40)])
    pa.save(tmp_path / "pa.tif")  # TIFF keeps the mode (PNG cannot store it)
    out = read_image(tmp_path / "pa.tif")
    assert out.shape == (1, 2, 4)
    np.testing.assert_array_equal(out[0, :, 3], [255, 40])
    Image.new("CMYK", (2, 1), (0, 255, 0, 0)).save(tmp_path / "c.tif")  # full magenta ink: green is absorbed
    np.testing.assert_array_equal(read_image(tmp_path / "c.tif"), [[[255, 0, 255], [255, 0, 255]]])


def test_the_pixel_limit_is_inclusive_and_leaves_pillows_own_limit_alone(tmp_path: Path) -> None:
    Image.new("RGB", (4, 3)).save(tmp_path / "x.png")
    limit = Image.MAX_IMAGE_PIXELS
    assert read_image(tmp_path / "x.png", max_pixels=12).shape == (3, 4, 3)
    said = r"x\.png: 4×3 = 12 pixels exceeds the limit of 11 \(`slotviewer run --max-pixels N` takes larger"
    with pytest.raises(InputError, match=said):
        read_image(tmp_path / "x.png", max_pixels=11)
    assert limit == Image.MAX_IMAGE_PIXELS and isinstance(limit, int), "Pillow's own limit is back in place"

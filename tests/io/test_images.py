from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slotviewer.errors import InputError
from slotviewer.io.images import folder_images, images_folder, list_images, read_image, some_of


def test_modes_become_usable_arrays(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(read_image(tmp_path / "rgb.png"), rgb)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert read_image(tmp_path / "cmyk.jpg").shape == (12, 20, 3)
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    assert read_image(tmp_path / "rgba.png").shape == (12, 20, 4)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey.png")
    assert read_image(tmp_path / "grey.png").shape == (12, 20)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.gif")
    assert read_image(tmp_path / "palette.gif").shape == (12, 20, 3)


def test_sixteen_bit_stays_sixteen_bit(tmp_path: Path) -> None:
    deep = (np.arange(300, dtype=np.uint16).reshape(10, 30) * 200).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png")
    assert out.dtype == np.uint16 and out.max() == deep.max()


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 10), (200, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert read_image(tmp_path / "rotated.jpg").shape[:2] == (40, 10)


def test_unicode_path(tmp_path: Path) -> None:
    path = tmp_path / "картинка ☃.png"
    Image.new("RGB", (3, 2)).save(path)
    assert read_image(path).shape == (2, 3, 3)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.png", b"", "empty file"),
    ("text.png", b"hello, I am not a picture" * 3, "not an image"),
])
def test_broken_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=f"{name}: {message}"):
        read_image(tmp_path / name)


def test_truncated_and_missing(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t\.png: truncated or corrupt image"):
        read_image(tmp_path / "t.png")
    with pytest.raises(InputError, match=r"nope\.png: file not found"):
        read_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    Image.new("L", (5000, 5000)).save(tmp_path / "bomb.png")
    with pytest.raises(InputError, match=r"bomb\.png: 5000×5000 = 25,000,000 pixels exceeds the limit of 1,000,000"):
        read_image(tmp_path / "bomb.png", max_pixels=1_000_000)


def test_list_images_expands_folders(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images([tmp_path])] == ["a.JPG", "b.png"]


def test_some_of_names_the_first_three_and_counts_the_rest() -> None:
    assert some_of(["a (x)"]) == "a (x)"
    assert some_of(["a", "b", "c"]) == "a; b; c"
    assert some_of(["a", "b", "c", "d", "e"]) == "a; b; c; and 2 more"


def test_a_data_set_folder_has_its_images_in_images(tmp_path: Path) -> None:
    assert images_folder(tmp_path) == tmp_path
    (tmp_path / "images").mkdir()
    assert images_folder(tmp_path) == tmp_path / "images"
    for i in range(7):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "images" / f"f{i}.png")
    assert [p.name for p in folder_images(tmp_path, max_images=3)] == ["f0.png", "f2.png", "f4.png"]

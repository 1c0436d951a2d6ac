"""Reading image files safely: every failure is an `InputError` whose one line names the file and the problem."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from slotviewer.errors import InputError

DEFAULT_MAX_PIXELS = 64_000_000
# what a window screenshot can be written as (Qt's writers), by the name's suffix
SCREENSHOT_FORMATS = {".png": "PNG", ".jpg": "JPG", ".jpeg": "JPG", ".bmp": "BMP"}
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to `[H, W]` / `[H, W, 3|4]`, uint8 or uint16, upright (EXIF applied).

    The pixel count is checked from the header *before* decoding, so a decompression bomb costs nothing.
    CMYK, palette and other modes become RGB(A); 16-bit greys stay 16-bit; a multi-frame file gives
    its first frame.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    # our own limit replaces Pillow's (which would refuse a large file the user allowed with --max-pixels)
    saved_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise InputError(f"{path}: {width}×{height} = {width * height:,} pixels exceeds the limit of "
                                 f"{max_pixels:,} (`slotviewer run --max-pixels N` takes larger; the app does not)")
            if width == 0 or height == 0:
                raise InputError(f"{path}: image has no pixels ({width}×{height})")
            im.load()
            return _to_array(ImageOps.exif_transpose(im))
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: truncated or corrupt image ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit


def unreadable(path: Path, error: Exception) -> str:
    """`name (reason)` for a file passed over because `read_image` refused it (its message names the path)."""
    return f"{path.name} ({str(error).removeprefix(f'{path}: ')})"


def some_of(names: list[str] | tuple[str, ...], shown: int = 3) -> str:
    """`a; b; c; and 4 more`: the first `shown` of a list of skipped files for a one-line message."""
    more = len(names) - shown
    return "; ".join(names[:shown]) + (f"; and {more} more" if more > 0 else "")


def _to_array(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I;16"):  # any byte order: numpy reads it as native uint16
        return np.asarray(im, dtype=np.uint16).copy()
    if im.mode == "I":  # 32-bit integer planes: most often 16-bit data; 8 bits when the values fit
        a = np.maximum(np.asarray(im), 0)
        return np.minimum(a, 65535).astype(np.uint16) if a.max() > 255 else a.astype(np.uint8)
    if im.mode == "F":
        a = np.asarray(im)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if im.mode in ("RGB", "RGBA", "L"):
        return np.asarray(im).copy()
    if im.mode in ("LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA")).copy()
    if im.mode == "1":
        return np.asarray(im.convert("L")).copy()
    return np.asarray(im.convert("RGB")).copy()  # CMYK, YCbCr, LAB, HSV, P


def natural_key(path: Path) -> tuple:
    """Sort key that orders file names as people and frame exporters number them: `frame2` before `frame10`,
    `F3.PNG` beside `f3.png` (case ignored; the exact name breaks ties, so the order is total)."""
    parts = re.split(r"(\d+)", path.name.casefold())  # text, number, text, …: the same kind at each position
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), path.name


def folder_files(folder: Path, suffixes: Collection[str] = IMAGE_SUFFIXES) -> list[Path]:
    """The files of `folder` (non-recursive) with one of `suffixes`, in `natural_key` order: a folder of
    frames plays in sequence."""
    return sorted((f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in suffixes), key=natural_key)


def list_images(inputs: list[str | Path]) -> list[Path]:
    """Expand folders into their image files (`folder_files`); plain files pass through unchecked."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        paths += folder_files(p) if p.is_dir() else [p]
    return paths


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 `[H, W]` / `[H, W, 3|4]` array as PNG (for writers that save several files atomically)."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


MAX_FOLDER_IMAGES = 2000  # images a folder is adapted on at most (evenly spaced)


def images_folder(folder: Path) -> Path:
    """Where a folder's images are: its `images/` when it has one (a data set folder, beside `masks/`), else
    the folder itself."""
    return folder / "images" if (folder / "images").is_dir() else folder


def folder_images(folder: Path, max_images: int = MAX_FOLDER_IMAGES) -> list[Path]:
    """The images a folder (see `images_folder`) is adapted on: at most `max_images`, evenly spaced through the
    folder's order, so a huge folder still adapts on all of its kinds of scenes."""
    paths = list_images([images_folder(folder)])
    if not paths:
        raise InputError(f"{folder}: no images found")
    return paths[:: max(1, len(paths) // max_images)][:max_images]

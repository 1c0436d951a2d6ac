"""Write procedural scenes to disk in the folder-data-set layout, so users can inspect or reuse them."""

from __future__ import annotations

import shutil
from pathlib import Path

from slotviewer.data import generate
from slotviewer.errors import InputError
from slotviewer.io.atomic import temporary_dir
from slotviewer.io.images import png_bytes
from slotviewer.progress import progress_bar


def write_dataset(kind: str, n: int, out: Path, seed: int = 0, chunk: int = 256) -> Path:
    """Write `out/images/000000.png …` and `out/masks/000000.png …` (labels 0 = background).

    The folder appears whole or not at all (written beside it and renamed: an interrupted run leaves no
    images without masks), and never over another data set (the two would mix silently)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder (a data set written into it would mix with "
                         "what is there): give a new --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(out)
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        width = max(6, len(str(n - 1)))
        with progress_bar(n, f"{kind} → {out}", "img") as bar:
            for start in range(0, n, chunk):
                images, masks = generate(kind, min(chunk, n - start), seed, start)
                for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
                    name = f"{start + i:0{width}d}.png"
                    (tmp / "images" / name).write_bytes(png_bytes(image))
                    (tmp / "masks" / name).write_bytes(png_bytes(mask))
                bar.update(len(images))
        if out.exists():  # an empty folder given as --out
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out

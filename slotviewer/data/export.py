"""Write procedural scenes to disk in the folder-data-set layout, so users can inspect or reuse them."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from slotviewer.data import generate
from slotviewer.io.atomic import write_bytes
from slotviewer.io.images import png_bytes


def write_dataset(kind: str, n: int, out: Path, seed: int = 0, chunk: int = 256) -> Path:
    """Write `out/images/000000.png …` and `out/masks/000000.png …` (labels 0 = background)."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(n - 1)))
    with tqdm(total=n, desc=f"{kind} → {out}", unit="img") as bar:
        for start in range(0, n, chunk):
            images, masks = generate(kind, min(chunk, n - start), seed, start)
            for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
                name = f"{start + i:0{width}d}.png"
                write_bytes(out / "images" / name, png_bytes(image))
                write_bytes(out / "masks" / name, png_bytes(mask))
            bar.update(len(images))
    return out

"""A data set on disk: `DIR/images/*.png` and, optionally, `DIR/masks/*.png` label maps of the same names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from slotviewer.errors import InputError


class FolderDataset:
    """Images (and masks when present) resized to one square resolution, loaded once into memory.

    Masks are resized with nearest-neighbour so labels stay labels.
    """

    def __init__(self, root: str | Path, resolution: int) -> None:
        self.root = Path(root)
        image_dir = self.root / "images"
        self.paths = sorted(image_dir.glob("*.png"))
        if not self.paths:
            raise InputError(f"{image_dir}: no .png images found (expected DIR/images/*.png)")
        mask_dir = self.root / "masks"
        self.has_masks = mask_dir.is_dir()
        images, masks = [], []
        for path in self.paths:
            images.append(_load(path, resolution, "RGB", Image.BILINEAR))
            if self.has_masks:
                mask_path = mask_dir / path.name
                if not mask_path.exists():
                    raise InputError(f"{mask_path}: mask missing for {path.name}")
                masks.append(_load(mask_path, resolution, None, Image.NEAREST))
        self.images = np.stack(images)
        self.masks = np.stack(masks) if self.has_masks else None

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.images[indices], None if self.masks is None else self.masks[indices]


def _load(path: Path, resolution: int, mode: str | None, resample: Image.Resampling) -> np.ndarray:
    """`mode=None` keeps label values as stored (palette indices, 8/16-bit integers)."""
    try:
        with Image.open(path) as im:
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            elif mode is None and im.mode not in ("L", "P", "I", "I;16"):
                raise InputError(f"{path}: a label map must be 8/16-bit grey or palette, not {im.mode}")
            labels = np.asarray(im.resize((resolution, resolution), resample))
            return labels if mode is not None else labels.astype(np.int32)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None

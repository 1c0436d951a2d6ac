"""Training and evaluation data: procedural generators and a folder data set, all numpy, no torch.

Every source yields `(images [n, H, W, 3] uint8, masks [n, H, W] uint8)`; mask 0 is background and
1..n are objects. Procedural scenes are a pure function of `(seed, index)`, so a training run can
resume exactly and an evaluation set is reproducible without storing it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from slotviewer.data import moving_shapes, shapes, shifted, tetrominoes, wide
from slotviewer.data.folder import FolderDataset

GENERATORS: dict[str, Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {
    "tetrominoes": tetrominoes.sample,
    "shapes": shapes.sample,
    "shapes-wide": wide.sample,  # training: the spec read widely
    **shifted.SAMPLERS,  # validation only: the spec drawn by an independent program, shifted
}


# clips for training with carry-over (SAVi): `sample(rng, length) -> (images [L, H, W, 3], masks [L, H, W])`
CLIP_GENERATORS: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]] = {
    "moving-shapes": moving_shapes.sample_clip,
}
CLIP_STILLS = {"moving-shapes": "shapes"}  # the still scenes a clip generator's model is validated on


def generate(name: str, n: int, seed: int = 0, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scenes `start .. start+n-1` of generator `name` for `seed`; scene i depends only on (seed, i)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose from {', '.join(GENERATORS)}")
    sample = GENERATORS[name]
    pairs = [sample(np.random.default_rng([seed, start + i])) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def generate_clips(name: str, n: int, length: int, seed: int = 0, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clips `start .. start+n-1` of clip generator `name`: images `[n, L, H, W, 3]`, masks `[n, L, H, W]`."""
    if name not in CLIP_GENERATORS:
        raise ValueError(f"unknown clip generator {name!r}; choose from {', '.join(CLIP_GENERATORS)}")
    sample = CLIP_GENERATORS[name]
    pairs = [sample(np.random.default_rng([seed, start + i]), length) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def check_folder_exists(data: str) -> None:
    """`data` named neither a generator nor a TFRecord: it must be a folder that exists (a typo of a
    generator's name would otherwise read as a folder without images/)."""
    from slotviewer.errors import InputError

    if not Path(data).exists():
        raise InputError(f"{data}: no such generator, folder or file (generators: {', '.join(GENERATORS)}; "
                         "or a folder with images/, or a TFRecord file as NAME:PATH)")


def load_scenes(data: str, n: int, resolution: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Up to `n` scenes of a generator (fresh, from `seed`), a TFRecord file (its first `n` records) or
    a folder (its first `n` images), at `resolution`; masks are None for a folder without masks/."""
    from slotviewer.data.tfrecord import TFRecordScenes, split_spec
    from slotviewer.errors import DataMismatch

    if data in GENERATORS:
        images, masks = generate(data, n, seed)
        if images.shape[1] != resolution:
            raise DataMismatch(f"{data} scenes are {images.shape[1]}×{images.shape[1]} but the model expects "
                             f"{resolution}")
        return images, masks
    tfrecord = split_spec(data)
    if tfrecord is not None:
        return TFRecordScenes(*tfrecord, resolution).head(n)
    check_folder_exists(data)
    folder = FolderDataset(data, resolution)
    return folder.images[:n], None if folder.masks is None else folder.masks[:n]


__all__ = ["CLIP_GENERATORS", "CLIP_STILLS", "GENERATORS", "FolderDataset", "check_folder_exists", "generate",
           "generate_clips", "load_scenes"]

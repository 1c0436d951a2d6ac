"""`shapes-wide`: the `shapes` spec read widely, for training models that generalise within the spec.

Compared with `shapes`: 1–6 sprites of a wider size range (some partly out of frame), a background
of any colour with a gradient and/or smooth noise, and the finished image
mildly degraded (blur, sensor noise, JPEG, global colour jitter). Why: a model trained on one
program's narrowest reading of the spec learns that program (flat grey, mid-sized, fully visible
sprites) and drops on scenes drawn by another program from the same words.

The mask is decided before degradation: a pixel belongs to the topmost sprite covering its centre,
and every sprite keeps at least `MIN_VISIBLE` visible pixels (a sprite that would hide an earlier
one, or be hidden itself, is drawn again).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from slotviewer.data.shapes import KINDS, _inside

SIZE = 64
MIN_OBJECTS, MAX_OBJECTS = 1, 6
MIN_SCALE, MAX_SCALE = 4.0, 18.0  # half-extent in pixels (`shapes`: 6–13)
OUT_OF_FRAME = 0.5  # a centre may lie this fraction of the scale outside the frame
MIN_VISIBLE = 12
MIN_CONTRAST = 50  # largest per-channel difference to the mean background under the sprite
TRIES = 30

_yy, _xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5


def background(rng: np.random.Generator) -> np.ndarray:
    """Float `[64, 64, 3]` in 0..255: a base colour (grey half the time), maybe a gradient, maybe smooth noise."""
    base = np.full(3, rng.uniform(0, 255)) if rng.random() < 0.5 else rng.uniform(0, 255, size=3)
    image = np.broadcast_to(base, (SIZE, SIZE, 3)).astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * (_xx - SIZE / 2) + np.sin(angle) * (_yy - SIZE / 2)) / SIZE
        image = image + ramp[..., None] * rng.uniform(-80, 80, size=3)
    if rng.random() < 0.3:
        coarse = rng.normal(0, rng.uniform(5, 20), size=(int(rng.integers(3, 9)),) * 2 + (3,)).astype(np.float32)
        image = image + _upsample(coarse)
    return np.clip(image, 0, 255)


def _upsample(coarse: np.ndarray) -> np.ndarray:
    """Bilinear upsampling of a small `[h, w, 3]` float grid to `[64, 64, 3]` (smooth noise)."""
    channels = [np.asarray(Image.fromarray(coarse[..., c]).resize((SIZE, SIZE), Image.BILINEAR)) for c in range(3)]
    return np.stack(channels, axis=-1)


def _footprint(rng: np.random.Generator) -> np.ndarray:
    kind = KINDS[rng.integers(len(KINDS))]
    scale = float(np.exp(rng.uniform(np.log(MIN_SCALE), np.log(MAX_SCALE))))  # as many small as large sprites
    angle = rng.uniform(0, 2 * np.pi)
    margin = OUT_OF_FRAME * scale
    cy, cx = rng.uniform(-margin, SIZE + margin, size=2)
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = (_xx - cx) / scale, (_yy - cy) / scale
    return _inside(kind, c * dx + s * dy, -s * dx + c * dy)


def _colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour that differs clearly from the mean background under the sprite."""
    reference = under.mean(axis=0)
    for _ in range(TRIES):
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - reference).max() >= MIN_CONTRAST:
            return colour
    return np.where(reference < 128, 255.0, 0.0)


def compose(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The clean scene before degradation: (float image `[64, 64, 3]`, mask `[64, 64]` uint8)."""
    image = background(rng)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    count = int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))
    label = 0
    for _ in range(count):
        for _ in range(TRIES):
            shape = _footprint(rng)
            trial = np.where(shape, label + 1, mask)
            visible = np.bincount(trial.ravel(), minlength=label + 2)[1:]
            if visible.min() >= MIN_VISIBLE:
                break
        else:
            continue  # no placement keeps every sprite visible: draw one sprite fewer
        label += 1
        image[shape] = _colour(rng, image[shape])
        mask = trial.astype(np.uint8)
    if label == 0:  # vanishingly rare; a scene needs an object
        return compose(rng)
    return image, mask


def degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Mild camera-like damage to a float image: colour jitter, blur, noise, JPEG; returns uint8."""
    if rng.random() < 0.5:  # brightness, contrast, saturation
        grey = image.mean(axis=-1, keepdims=True)
        image = grey + (image - grey) * rng.uniform(0.7, 1.3)
        image = (image - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9))))
    if rng.random() < 0.3:
        noisy = out + rng.normal(0, rng.uniform(1, 6), size=out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=int(rng.integers(60, 96)))
        out = np.asarray(Image.open(buffer).convert("RGB"))
    return out


def sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (image `[64, 64, 3]` uint8, mask `[64, 64]` uint8, 0 = background, 1..n = sprites)."""
    image, mask = compose(rng)
    return degrade(rng, image), mask

"""Shifted validation scenes: the `shapes` spec drawn by a second, independent program.

The training generators rasterise sprites by testing every pixel centre against an implicit shape
(`shapes.py`, `wide.py`). This module draws polygons with PIL instead — its own outlines (a heart from
the classic parametric curve, an ellipse as a 40-gon), its own placement and colour rules — so a model
that scores here has learned objects, not one program's pixels. Each variant moves one thing
away from the training distribution:

- `shifted-spec`: the spec itself (64×64, grey background, 2–5 sprites, mid sizes);
- `shifted-big` / `shifted-small`: sprites larger / smaller than `shapes` draws them;
- `shifted-textured`: stripes, checks or blotches behind the sprites;
- `shifted-crowded`: 7–9 sprites, more than the 6 slots of the shipped model.

Image and mask are drawn with the same polygon and no antialiasing, so the mask is exactly the
visible pixels; every sprite keeps at least `MIN_VISIBLE` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
MIN_VISIBLE = 10
MIN_CONTRAST = 70


@dataclass(frozen=True)
class Variant:
    objects: tuple[int, int]  # inclusive range
    radius: tuple[float, float]  # pixels from centre to the outline's far point
    texture: bool = False


VARIANTS: dict[str, Variant] = {
    "shifted-spec": Variant(objects=(2, 5), radius=(6.0, 13.0)),
    "shifted-big": Variant(objects=(2, 4), radius=(14.0, 22.0)),
    "shifted-small": Variant(objects=(3, 6), radius=(3.5, 6.0)),
    "shifted-textured": Variant(objects=(2, 5), radius=(6.0, 13.0), texture=True),
    "shifted-crowded": Variant(objects=(7, 9), radius=(5.0, 10.0)),
}


def _outline(kind: int, steps: int = 40) -> np.ndarray:
    """Unit outline `[n, 2]` (x, y), roughly within the unit disc."""
    if kind == 0:  # square
        return np.array([[-0.75, -0.75], [0.75, -0.75], [0.75, 0.75], [-0.75, 0.75]])
    if kind == 1:  # ellipse, aspect 0.55..0.85
        t = np.linspace(0, 2 * math.pi, steps, endpoint=False)
        return np.stack([np.cos(t), 0.7 * np.sin(t)], axis=1)
    if kind == 2:  # isosceles-ish triangle
        return np.array([[0.0, -1.0], [0.9, 0.7], [-0.9, 0.7]])
    t = np.linspace(0, 2 * math.pi, steps, endpoint=False)  # heart: x = 16 sin³t, y = 13 cos t - 5 cos 2t - …
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y + 2.5], axis=1) / 17.0


def _polygon(rng: np.random.Generator, variant: Variant) -> list[tuple[float, float]]:
    points = _outline(int(rng.integers(4)))
    radius = rng.uniform(*variant.radius)
    angle = rng.uniform(0, 2 * math.pi)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = rng.uniform(radius * 0.7, SIZE - radius * 0.7, size=2) if radius * 1.4 < SIZE else np.full(2, SIZE / 2)
    placed = points @ rotation.T * radius + centre
    return [(float(x), float(y)) for x, y in placed]


def _texture(rng: np.random.Generator, grey: int) -> np.ndarray:
    """A grey-level texture around `grey`: stripes, a checkerboard or blotches (uint8 `[64, 64]`)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    amplitude = int(rng.integers(15, 35))
    kind = int(rng.integers(3))
    if kind == 0:
        period, angle = rng.uniform(4, 12), rng.uniform(0, math.pi)
        pattern = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    elif kind == 1:
        cell = int(rng.integers(3, 9))
        pattern = ((xx // cell + yy // cell) % 2) * 2.0 - 1
    else:
        coarse = rng.uniform(-1, 1, size=(8, 8)).astype(np.float32)
        pattern = np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.BICUBIC))
    return np.clip(grey + amplitude * pattern, 0, 255).astype(np.uint8)


def sample(variant: Variant, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One scene of `variant`: (image `[64, 64, 3]` uint8, mask `[64, 64]` uint8)."""
    while True:
        grey = int(rng.integers(40, 216)) if variant.texture else int(rng.integers(0, 256))
        plane = _texture(rng, grey) if variant.texture else np.full((SIZE, SIZE), grey, np.uint8)
        canvas = Image.fromarray(np.repeat(plane[..., None], 3, axis=2))
        labels = Image.new("L", (SIZE, SIZE), 0)
        paint, label_paint = ImageDraw.Draw(canvas), ImageDraw.Draw(labels)
        count = int(rng.integers(variant.objects[0], variant.objects[1] + 1))
        for label in range(1, count + 1):
            polygon = _polygon(rng, variant)
            colour = rng.integers(0, 256, size=3)
            while np.abs(colour - grey).max() < MIN_CONTRAST:
                colour = rng.integers(0, 256, size=3)
            paint.polygon(polygon, fill=tuple(int(c) for c in colour))
            label_paint.polygon(polygon, fill=label)
        mask = np.asarray(labels).copy()
        if np.bincount(mask.ravel(), minlength=count + 1)[1:].min() >= MIN_VISIBLE:
            return np.asarray(canvas).copy(), mask


SAMPLERS = {name: partial(sample, variant) for name, variant in VARIANTS.items()}

"""`shapes`, a Multi-dSprites-like scene: 64×64, grey background, 2–5 occluding sprites.

Sprites are squares, ellipses, triangles and hearts of random colour, scale, rotation and position,
drawn in order so later ones occlude earlier ones. The mask holds visible pixels only. Two
choices keep the ground truth honest: a sprite's colour differs clearly from the background (an
invisible object cannot be segmented), and a sprite must keep a visible part after occlusion.
"""

from __future__ import annotations

import numpy as np

SIZE = 64
KINDS = ("square", "ellipse", "triangle", "heart")
MIN_OBJECTS, MAX_OBJECTS = 2, 5
MIN_VISIBLE = 12  # pixels a sprite must keep after occlusion
MIN_CONTRAST = 60  # largest per-channel difference to the background, 0..255

_yy, _xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5


def _inside(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership test in the sprite's own frame, where the sprite spans about [-1, 1]²."""
    if kind == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if kind == "ellipse":
        return (u / 1.0) ** 2 + (v / 0.6) ** 2 <= 1.0
    if kind == "triangle":  # equilateral, pointing up in its own frame
        return (v <= 0.6) & (v >= -0.9 + 1.732 * np.abs(u))
    x, y = u * 1.25, -v * 1.25 + 0.25  # heart curve (x²+y²-1)³ ≤ x²y³
    return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0


def _sprite(rng: np.random.Generator) -> np.ndarray:
    """Boolean footprint of one random sprite on the image grid."""
    kind = KINDS[rng.integers(len(KINDS))]
    scale = rng.uniform(6.0, 13.0)
    angle = rng.uniform(0, 2 * np.pi)
    cy, cx = rng.uniform(scale * 0.6, SIZE - scale * 0.6, size=2)
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = (_xx - cx) / scale, (_yy - cy) / scale
    return _inside(kind, c * dx + s * dy, -s * dx + c * dy)


def sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (image `[64, 64, 3]` uint8, mask `[64, 64]` uint8, 0 = background, 1..n = sprites)."""
    while True:
        grey = int(rng.integers(0, 256))
        image = np.full((SIZE, SIZE, 3), grey, np.uint8)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        count = int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))
        for label in range(1, count + 1):
            shape = _sprite(rng)
            colour = rng.integers(0, 256, size=3)
            while np.abs(colour - grey).max() < MIN_CONTRAST:
                colour = rng.integers(0, 256, size=3)
            image[shape] = colour
            mask[shape] = label
        visible = np.bincount(mask.ravel(), minlength=count + 1)[1:]
        if visible.min() >= MIN_VISIBLE:
            return image, mask

"""Shapes that move across the image, frame after frame, with their true masks.

The test bed for slots over time: each object keeps its shape and colour and drifts at constant speed,
bouncing off the borders, so "which slot holds object j" should stay the same from frame to frame.
Sprites are drawn like the `shapes` data set's (`slotviewer.data.shapes`), at any frame size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from slotviewer.data.shapes import KINDS, MIN_CONTRAST, _inside


@dataclass(frozen=True)
class MovingObject:
    kind: str
    colour: tuple[int, int, int]
    scale: float  # half-size as a fraction of the shorter image side
    angle: float
    position: tuple[float, float]  # (y, x) in [0, 1] at frame 0
    velocity: tuple[float, float]  # (dy, dx) per frame, in image fractions


def _bounce(start: float, speed: float, frame: int, low: float, high: float) -> float:
    """Position at `frame` of a point moving at `speed` that reflects off `low` and `high`."""
    span = high - low
    if span <= 0:
        return low
    u = (start - low + speed * frame) % (2 * span)
    return low + (u if u <= span else 2 * span - u)


class MovingShapes:
    """A reproducible clip: `frame(i)` gives (image `[H, W, 3]` uint8, mask `[H, W]` uint8, 0 = background).

    `speed` is the largest step per frame as a fraction of the image (0.02 = about 1.3 px at 64×64).
    Objects are drawn in a fixed order, so a later one occludes an earlier one where they cross.
    `enter_at` > 0 keeps the last object out of the frames before it (an object entering the scene).
    """

    def __init__(self, seed: int = 0, objects: int = 3, height: int = 64, width: int = 64,
                 speed: float = 0.02, scale: tuple[float, float] = (0.12, 0.18), enter_at: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.height, self.width, self.enter_at = height, width, enter_at
        self.background = int(rng.integers(0, 256))
        self.objects: list[MovingObject] = []
        for _ in range(objects):
            colour = rng.integers(0, 256, size=3)
            while np.abs(colour - self.background).max() < MIN_CONTRAST:
                colour = rng.integers(0, 256, size=3)
            size = float(rng.uniform(*scale))
            self.objects.append(MovingObject(
                kind=KINDS[int(rng.integers(len(KINDS)))], colour=tuple(int(c) for c in colour), scale=size,
                angle=float(rng.uniform(0, 2 * np.pi)), position=tuple(float(p) for p in rng.uniform(0.2, 0.8, 2)),
                velocity=tuple(float(v) for v in rng.uniform(-speed, speed, 2)),
            ))
        self._yy, self._xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5

    def centre(self, obj: MovingObject, frame: int) -> tuple[float, float]:
        margin = obj.scale * 0.8
        return (_bounce(obj.position[0], obj.velocity[0], frame, margin, 1 - margin),
                _bounce(obj.position[1], obj.velocity[1], frame, margin, 1 - margin))

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        side = min(h, w)
        image = np.full((h, w, 3), self.background, np.uint8)
        mask = np.zeros((h, w), np.uint8)
        for label, obj in enumerate(self.objects, start=1):
            if label == len(self.objects) and index < self.enter_at:
                continue
            cy, cx = self.centre(obj, index)
            s = obj.scale * side
            dx, dy = (self._xx - cx * w) / s, (self._yy - cy * h) / s
            c, si = np.cos(obj.angle), np.sin(obj.angle)
            inside = _inside(obj.kind, c * dx + si * dy, -si * dx + c * dy)
            image[inside] = obj.colour
            mask[inside] = label
        return image, mask

    def frames(self, count: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(count):
            yield self.frame(i)


CLIP_SEED_OFFSET = 1_000  # training clips never reuse the benchmark's clips (seeds 0, 1, 2, …)


def sample_clip(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """A random training clip of `length` frames: (images `[L, 64, 64, 3]`, masks `[L, 64, 64]`).

    Wider than the benchmark's clips on purpose (2–5 objects, the `shapes` size range, speeds up to 0.04
    of the image per frame, any point of the bounce), so that training with carry-over teaches slots to
    follow objects in general rather than these three.
    """
    clip = MovingShapes(seed=CLIP_SEED_OFFSET + int(rng.integers(2**31)), objects=int(rng.integers(2, 6)),
                        speed=float(rng.uniform(0.01, 0.04)), scale=(0.09, 0.2))
    start = int(rng.integers(0, 500))
    frames = [clip.frame(start + i) for i in range(length)]
    return np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])


def majority_slots(labels: np.ndarray, mask: np.ndarray, min_pixels: int = 12) -> dict[int, int]:
    """Object id → the slot that holds most of its pixels, for every id in `mask` (0, the background,
    included) seen with at least `min_pixels` pixels in the label map `labels` (same size)."""
    out: dict[int, int] = {}
    for obj in np.unique(mask):
        pixels = labels[mask == obj]
        if len(pixels) >= min_pixels:
            out[int(obj)] = int(np.bincount(pixels).argmax())
    return out


def identity_switches(labels: list[np.ndarray], masks: list[np.ndarray], min_pixels: int = 12) -> int:
    """How often an object changes slot between consecutive frames.

    `labels[t]` is the slot label map, `masks[t]` the true object map (same size). In each frame an
    object belongs to the slot that holds most of its pixels; a switch is counted when an object seen
    (≥ `min_pixels`) in two consecutive frames belongs to different slots in them.
    """
    switches = 0
    previous: dict[int, int] = {}
    for label_map, mask in zip(labels, masks, strict=True):
        current = majority_slots(label_map, mask, min_pixels)
        current.pop(0, None)  # the background is not an object
        switches += sum(1 for obj, slot in current.items() if obj in previous and previous[obj] != slot)
        previous = current
    return switches

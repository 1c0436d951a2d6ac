"""Slots over time: run frame after frame through an `Engine`, carrying each frame's slots to the next.

`FrameRunner` is the one place that decides how a frame is run, shared by `slotviewer run VIDEO`, the
benchmark and the live view. With carry-over (SAVi) the final slots of frame t start frame t+1 with a
few iterations, so slot k keeps following the same object, keeps its colour, and an edit made to slot k
(hide, solo, swap) still means the same object on the next frames. Fresh slots draw new initial slots
per frame (seed + frame number), for comparison: their order is arbitrary from frame to frame.

Also the per-frame pictures (label map at the input's size, 8-bit masks, overlay) done with OpenCV,
because at video rates PIL's per-plane resizing is the bottleneck. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slotviewer.engine import Engine, Trace
from slotviewer.errors import SlotviewerError
from slotviewer.io.render import slot_colours
from slotviewer.io.sources import _cv2

DEFAULT_ITERS_PER_FRAME = 2


@dataclass
class CarryOver:
    """How frames are chained: `enabled` (carry slots over) and the iterations per carried frame."""

    enabled: bool = True
    iters_per_frame: int = DEFAULT_ITERS_PER_FRAME

    def as_dict(self) -> dict:
        return {"carry_over": self.enabled, "iters_per_frame": self.iters_per_frame}


class FrameRunner:
    """Runs frames in order; remembers the last frame's slots for the next one.

    The first frame (and every frame with fresh slots, and the first after `reset()`) runs the model's
    full T iterations (`iters`, default the model's) from drawn slots; carried frames run
    `carry.iters_per_frame` iterations from the previous frame's final slots.
    """

    def __init__(self, engine: Engine, carry: CarryOver | None = None, slots: int | None = None,
                 iters: int | None = None, seed: int = 0) -> None:
        self.engine, self.carry = engine, carry or CarryOver()
        self.slots, self.iters, self.seed = slots, iters, int(seed)
        if self.carry.iters_per_frame < 0:
            raise SlotviewerError(f"iterations per frame must be ≥ 0, got {self.carry.iters_per_frame}")
        self._cv2 = _cv2()
        self.previous: np.ndarray | None = None  # final slots [K, D] of the last frame
        self.frames = 0

    def reset(self) -> None:
        """Forget the carried slots: the next frame starts fresh (after a seek or a scene cut)."""
        self.previous = None

    def carry_slots(self, slots: np.ndarray) -> None:
        """Use these slots for the next frame (e.g. after the user swapped two slots)."""
        self.previous = np.asarray(slots, np.float32)

    def model_image(self, image: np.ndarray) -> np.ndarray:
        """The frame scaled to the model's square input with OpenCV (area averaging, fast at any size)."""
        r = self.engine.config.resolution
        if image.shape[:2] == (r, r):
            return image
        return self._cv2.resize(image, (r, r), interpolation=self._cv2.INTER_AREA)

    def run(self, image: np.ndarray) -> Trace:
        """One frame (RGB uint8 `[H, W, 3]`) → its `Trace` (`trace.image` is the full-size frame)."""
        small = self.model_image(image)
        if self.carry.enabled and self.previous is not None:
            trace = self.engine.run(small, init_slots=self.previous, iters=self.carry.iters_per_frame)
        else:
            trace = self.engine.run(small, slots=self.slots, iters=self.iters, seed=self.seed + self.frames)
            trace = trace.replace(provenance=trace.provenance | {"init": "fresh"})
        self.previous = trace.slots[-1]
        self.frames += 1
        return trace.replace(image=image)


def masks_u8(trace: Trace, enabled: np.ndarray | None = None) -> np.ndarray:
    """The slots' alpha `[K, R, R]` as uint8 (0..255), at the model's resolution."""
    return (trace.alpha(enabled) * 255.0 + 0.5).astype(np.uint8)


def labels_at(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Label map `[H, W]` uint8: the argmax of the masks scaled bilinearly to the frame's size (as the
    still-image exporter does, so `labels` and `masks` agree).

    Plane by plane with a running maximum: numpy's argmax over a short last axis is ~10× slower."""
    cv2 = _cv2()
    best = labels = None
    for k, mask in enumerate(masks):
        plane = mask if mask.shape == (height, width) else cv2.resize(mask, (width, height),
                                                                      interpolation=cv2.INTER_LINEAR)
        if best is None:
            best, labels = plane.copy(), np.zeros((height, width), np.uint8)
            continue
        higher = plane > best
        labels[higher] = k
        np.maximum(best, plane, out=best)
    return labels


def colour_lut(colours: np.ndarray) -> np.ndarray:
    """A 256-entry lookup table label → RGB for `cv2.LUT` (labels beyond the colours stay black)."""
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[: len(colours), 0] = colours[:256]
    return lut


def overlay(image: np.ndarray, labels: np.ndarray, colours: np.ndarray | None = None,
            strength: float = 0.5, hidden: np.ndarray | None = None) -> np.ndarray:
    """The frame with each pixel tinted by its slot's colour (the same colours as everywhere else);
    hidden slots keep the plain frame."""
    cv2 = _cv2()
    colours = slot_colours(int(labels.max()) + 1) if colours is None else colours
    tint = cv2.LUT(cv2.merge([labels, labels, labels]), colour_lut(colours))
    mixed = cv2.addWeighted(image, 1.0 - strength, tint, strength, 0.0)
    if hidden is not None and np.any(hidden):
        plain = np.asarray(hidden, bool)[labels]
        mixed[plain] = image[plain]
    return mixed

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
from slotviewer.engine.matching import match_order
from slotviewer.engine.trace import STICKY_MARGINS, argmax_planes, check_label_by, held_scores
from slotviewer.errors import SlotviewerError
from slotviewer.io.render import slot_colours
from slotviewer.io.sources import _cv2

# one iteration per carried frame: on the 24 identity clips (README, "Identity"), with the mask prior, it
# keeps objects in their slots as well as two (4.2 and 4.1 switches per 100 frames at K=6, 3.3 and 3.3 at
# K=4) and segments nearly as well (FG-ARI 0.872 against 0.874), at half the Slot Attention cost
DEFAULT_ITERS_PER_FRAME = 1
# weight of the last frame's masks in a carried frame's attention (`mask_prior`): on the identity clips
# 2, 3 and 4 give 4.6, 4.3 and 4.6 switches per 100 frames against 9.0 without, FG-ARI 0.878, 0.872, 0.867
# against 0.863; from 6 on pixels stick to their old slot too hard and both get worse (README, "Identity")
DEFAULT_MASK_PRIOR = 3.0
MAX_MASK_PRIOR = 20.0
MASK_PRIOR_FLOOR = 1e-4  # the smallest mask value the prior believes in (×weight in log space)


@dataclass
class CarryOver:
    """How frames are chained: `enabled` (carry slots over), the iterations per carried frame, `match`
    (reorder each carried frame's slots to overlap the last frame's best, see `engine.matching`),
    `mask_prior` (how strongly the last frame's masks steer a carried frame's attention; 0 = not at all),
    and `sticky_labels` (a carried frame's label keeps the last frame's slot on near-ties, `Trace.sticky`)."""

    enabled: bool = True
    iters_per_frame: int = DEFAULT_ITERS_PER_FRAME
    match: bool = True
    mask_prior: float = DEFAULT_MASK_PRIOR
    sticky_labels: bool = True

    def __post_init__(self) -> None:  # checked here, so the CLI, the live view and Python all get the same
        if self.iters_per_frame < 0:
            raise SlotviewerError(f"iterations per frame must be ≥ 0, got {self.iters_per_frame}")
        if not 0 <= self.mask_prior <= MAX_MASK_PRIOR:  # NaN fails this too
            raise SlotviewerError(f"the mask prior must be 0..{MAX_MASK_PRIOR:g}, got {self.mask_prior:g}")

    def as_dict(self) -> dict:
        return {"carry_over": self.enabled, "iters_per_frame": self.iters_per_frame, "match_slots": self.match,
                "mask_prior": self.mask_prior, "sticky_labels": self.sticky_labels}


class FrameRunner:
    """Runs frames in order; remembers the last frame's slots for the next one.

    The first frame (and every frame with fresh slots, and the first after `reset()`) runs the model's
    full T iterations (`iters`, default the model's) from the best of `draws` drawn slot sets (default the
    model's); carried frames run `carry.iters_per_frame` iterations from the previous frame's final slots,
    then (with `carry.match`) are reordered so that slot k overlaps the previous frame's slot k best.
    With `carry.mask_prior` > 0 a carried frame's attention leans towards the previous frame's masks
    (`mask_prior`): an object that only moved a pixel stays with its slot instead of being re-contested;
    with `carry.sticky_labels` its labels keep the previous frame's slot on near-ties (`Trace.sticky`), so
    slots that share the background with near-equal alpha do not flicker pixel by pixel.
    """

    def __init__(self, engine: Engine, carry: CarryOver | None = None, slots: int | None = None,
                 iters: int | None = None, seed: int = 0, draws: int | None = None,
                 label_by: str = "posterior") -> None:
        self.engine, self.carry, self.label_by = engine, carry or CarryOver(), check_label_by(label_by)
        self.start = (slots, iters, seed, draws)
        self._cv2 = _cv2()
        self.previous: np.ndarray | None = None  # final slots [K, D] of the last frame
        self.previous_alpha: np.ndarray | None = None  # and their masks [K, R, R]
        self.previous_labels: np.ndarray | None = None  # and its label map [R, R] (see `Trace.sticky`)
        self.initial: np.ndarray | None = None  # the drawn slots [K, D] of the last fresh start
        self.frames = 0

    @property
    def start(self) -> tuple[int | None, int | None, int, int | None]:
        """(K, T, seed, draws) of a fresh start: the first frame, fresh slots per frame, after `reset()`."""
        return self.slots, self.iters, self.seed, self.draws

    @start.setter
    def start(self, value: tuple[int | None, int | None, int, int | None]) -> None:
        slots, iters, seed, draws = value
        self.slots, self.iters, self.seed, self.draws = slots, iters, int(seed), draws

    @property
    def mask_prior_weight(self) -> float:
        """The mask prior really applied: `carry.mask_prior`, or 0 with fresh slots per frame and where the
        engine cannot take an attention bias (an ONNX step graph from an older slotviewer)."""
        return self.carry.mask_prior if self.carry.enabled and self.engine.takes_attention_bias else 0.0

    @property
    def mask_prior_missing(self) -> str | None:
        """Why the requested mask prior cannot be applied, or None when it is (or none was asked for)."""
        if self.carry.enabled and self.carry.mask_prior > 0 and not self.engine.takes_attention_bias:
            return (f"{self.engine.backend.model_name}: its ONNX step graph has no attention_bias input (exported "
                    "by an older slotviewer), so frames run without the mask prior; export the model again")
        return None

    def settings(self) -> dict:
        """The carry-over settings as run, for trace files: the mask prior really applied, and why it was
        left out when it was asked for but the engine cannot take it; with fresh slots per frame only
        `carry_over: false` (the others as None: not used, whatever the options said)."""
        missing = self.mask_prior_missing
        if not self.carry.enabled:  # fresh slots per frame: none of carry-over's own settings was used
            return {"carry_over": False, "iters_per_frame": None, "match_slots": None, "mask_prior": None,
                    "sticky_labels": None}
        return self.carry.as_dict() | {"mask_prior": self.mask_prior_weight} | (
            {"mask_prior_unavailable": missing} if missing else {})

    def reset(self) -> None:
        """Forget the carried slots: the next frame starts fresh (after a seek, a scene cut or new settings),
        from `seed` as the first frame did, so the same restart gives the same slots."""
        self.previous = self.previous_alpha = self.previous_labels = None
        self.frames = 0

    def reorder(self, order: np.ndarray) -> None:
        """Rename the carried slots: slot k of the next frame continues today's slot `order[k]`
        (e.g. after the user swapped two slots)."""
        if self.previous is not None:
            self.previous = self.previous[order]
        if self.previous_alpha is not None:
            self.previous_alpha = self.previous_alpha[order]
        if self.previous_labels is not None:
            self.previous_labels = np.argsort(order).astype(np.uint8)[self.previous_labels]

    def model_image(self, image: np.ndarray) -> np.ndarray:
        """The frame scaled to the model's square input with OpenCV (area averaging, fast at any size)."""
        r = self.engine.config.resolution
        if image.shape[:2] == (r, r):
            return image
        return self._cv2.resize(image, (r, r), interpolation=self._cv2.INTER_AREA)

    def run(self, image: np.ndarray) -> Trace:
        """One frame (RGB uint8 `[H, W, 3]`) → its `Trace` (`trace.image` is the full-size frame)."""
        small = self.model_image(image)
        carried = self.carry.enabled and self.previous is not None
        if carried:
            init = redraw_duplicates(self.previous, self.initial)
            bias = None
            weight = self.mask_prior_weight
            if weight > 0 and self.previous_alpha is not None:
                # a slot redrawn from its initial draw keeps its collapsed twin's prior: with none (a zero row)
                # it contests every place on every frame, and switches rose from 4.3 to 4.8 per 100 frames
                bias = mask_prior(self.previous_alpha, self.engine.config.feature_size, weight)
            trace = self.engine.run(small, init_slots=init, iters=self.carry.iters_per_frame, attention_bias=bias)
        else:
            trace = self.engine.run(small, slots=self.slots, iters=self.iters, seed=self.seed + self.frames,
                                    draws=self.draws)
            trace = trace.replace(provenance=trace.provenance | {"init": "fresh"})
            self.initial = trace.slots[0]
        alpha = trace.alpha()  # once per frame: for the matching and as the next frame's reference
        if carried and self.carry.match and self.previous_alpha is not None and len(self.previous_alpha) == len(alpha):
            order = match_order(self.previous_alpha, alpha)
            trace, alpha = trace.reordered(order), alpha[order]
        if carried and self.carry.sticky_labels and self.previous_labels is not None:
            trace = trace.replace(sticky=self.previous_labels)
        self.previous, self.previous_alpha = trace.slots[-1], alpha
        self.previous_labels = trace.labels(by=self.label_by) if self.carry.sticky_labels else None
        self.frames += 1
        return trace.replace(image=image)


def mask_prior(alpha: np.ndarray, feature_size: int, weight: float) -> np.ndarray:
    """Attention bias `[K, f, f]` from the last frame's masks `alpha [K, R, R]`: `weight · log(alpha)`
    at the feature grid (area-averaged), floored so that no slot is ever ruled out.

    Added to the logits it multiplies the attention by `alpha ** weight` before the softmax over slots
    renormalises: a place keeps its slot unless the image argues clearly for another. Without it one
    iteration per frame re-contests every pixel, and an object split over two slots flips between them
    as it moves.
    """
    cv2 = _cv2()
    planes = [m if m.shape == (feature_size, feature_size)
              else cv2.resize(m, (feature_size, feature_size), interpolation=cv2.INTER_AREA) for m in alpha]
    return (weight * np.log(np.clip(np.stack(planes), MASK_PRIOR_FLOOR, 1.0))).astype(np.float32)


def redraw_duplicates(slots: np.ndarray, initial: np.ndarray | None, tolerance: float = 1e-3) -> np.ndarray:
    """`slots` with every slot that has collapsed onto an earlier one replaced by its initial draw.

    Two identical slots stay identical under the update forever (same input, same output), so a
    collapsed pair is one slot wasted and a label that flips between the two on rounding noise. Its
    initial draw is a fresh start for the second one, free to take an object the others missed.
    """
    if initial is None or initial.shape != slots.shape:
        return slots
    scale = np.linalg.norm(slots, axis=-1).mean() + 1e-6
    distance = np.linalg.norm(slots[:, None] - slots[None], axis=-1) / scale
    duplicate = np.triu(distance < tolerance, k=1).any(axis=0)
    if not duplicate.any():
        return slots
    out = slots.copy()
    out[duplicate] = initial[duplicate]
    return out


def masks_u8(trace: Trace, enabled: np.ndarray | None = None) -> np.ndarray:
    """The slots' alpha `[K, R, R]` as uint8 (0..255), at the model's resolution."""
    return (trace.alpha(enabled) * 255.0 + 0.5).astype(np.uint8)


def labels_at(masks: np.ndarray, height: int, width: int, sticky: np.ndarray | None = None,
              by: str = "posterior") -> np.ndarray:
    """Label map `[H, W]` uint8: the argmax of `masks [K, R, R]` (what the labels are the argmax of,
    `Trace.scores`: the posterior, or the alpha with `by="alpha"`; float in [0, 1], or uint8 0..255) scaled
    bilinearly to the frame's size, as the still-image exporter does; with `sticky` (a video trace's previous
    labels at the masks' size) a pixel keeps that slot on near-ties, as `Trace.labels` does. Give float
    scores where they exist: slots that share the background can differ by less than uint8's step, and the
    rounded tie would go to another slot than the trace's own labels (the next frame's sticky labels)."""
    cv2 = _cv2()
    if sticky is not None:  # the margin goes on at the model's size, before scaling
        margin = STICKY_MARGINS[by]
        masks = held_scores(masks, sticky, round(margin * 255) if masks.dtype == np.uint8 else margin)
    return argmax_planes(mask if mask.shape == (height, width)
                         else cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR) for mask in masks)


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

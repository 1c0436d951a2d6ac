"""`Trace`: everything one run produced, as plain numpy, so views and exporters never touch a backend."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slotviewer.errors import SlotviewerError


def softmax(logits: np.ndarray, axis: int = 0) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class Trace:
    """One image through the model (all arrays float32 unless noted; R = model resolution).

    - `image`: the input as given, `[H, W, 3]` uint8 (exports map back to this size);
    - `features`: encoder output `[N, D]` that Slot Attention iterated on (kept for re-converge), and
      `key_features`, what its keys came from when that differs (`None`: the same as `features`);
    - `attention`: per iteration, `[T, K, h, w]`, sums to 1 over K at every position;
    - `slots`: `[T+1, K, D]`, index 0 = the initial slots;
    - `rgb` `[K, R, R, 3]` and `alpha_logits` `[K, R, R]`: the final slots decoded;
    - `provenance`: model, sha256, backend, device, K, T, seed, method — what a result came from;
    - `enabled`: which slots take part in the composite (slot removal is just this mask);
    - `edits`: human-readable list of surgery applied, in order; `timings_ms`: where time went;
    - `sticky`: in video, the previous frame's label map `[R, R]` (uint8, in this trace's slot order):
      `labels()` keeps a pixel with that slot unless another slot's score beats it by `STICKY_MARGINS`;
    - `target`: the model's input `[R, R, 3]` in [0, 1], what the reconstruction is compared with (for
      `posterior`; `None` in traces built without it, which then label by alpha).
    """

    image: np.ndarray
    features: np.ndarray
    attention: np.ndarray
    slots: np.ndarray
    rgb: np.ndarray
    alpha_logits: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    enabled: tuple[bool, ...] = ()
    edits: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    key_features: np.ndarray | None = None
    sticky: np.ndarray | None = None
    target: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.enabled:
            object.__setattr__(self, "enabled", (True,) * self.num_slots)
        if len(self.enabled) != self.num_slots:
            raise ValueError(f"enabled has {len(self.enabled)} entries for {self.num_slots} slots")

    @property
    def num_slots(self) -> int:
        return self.slots.shape[1]

    @property
    def method(self) -> str:
        """What made it: "slot-attention" (also for traces that do not say), "soft-kmeans" or "kmeans"."""
        return self.provenance.get("method", "slot-attention")

    @property
    def iterations(self) -> int:
        return self.attention.shape[0]

    @property
    def resolution(self) -> int:
        return self.rgb.shape[1]

    def _mask(self, enabled: np.ndarray | None) -> np.ndarray:
        return np.asarray(self.enabled if enabled is None else enabled, dtype=bool)

    def alpha(self, enabled: np.ndarray | None = None) -> np.ndarray:
        """Alpha `[K, R, R]`, renormalised over enabled slots (default: `self.enabled`); others get 0."""
        return masked_alpha(self.alpha_logits, self._mask(enabled))

    def composite(self, enabled: np.ndarray | None = None) -> np.ndarray:
        """The reconstruction `[R, R, 3]` from the enabled slots only: Σ alpha·rgb.

        Follows a slider: the exponentials and exp·rgb are computed once per trace, so a re-composite
        is two sums and a division over the enabled slots (exact softmax where they underflow).
        """
        mask = self._mask(enabled)
        if not mask.any():
            return np.zeros(self.rgb.shape[1:], np.float32)
        weights, weighted_rgb = self._exp_weights
        denominator = weights[mask].sum(axis=0)
        if denominator.min() < 1e-30:  # every enabled slot underflowed somewhere: do it exactly
            return composite(self.rgb, self.alpha_logits, mask)
        return weighted_rgb[mask].sum(axis=0) / denominator[..., None]

    @functools.cached_property
    def _exp_weights(self) -> tuple[np.ndarray, np.ndarray]:
        weights = np.exp(self.alpha_logits - self.alpha_logits.max(axis=0, keepdims=True))
        return weights, weights[..., None] * self.rgb

    def posterior(self, enabled: np.ndarray | None = None) -> np.ndarray:
        """Each enabled slot's share of each pixel `[K, R, R]`, given the pixel's colour (see `posterior`);
        the alpha where the trace has no `target`."""
        if self.target is None:
            return self.alpha(enabled)
        if enabled is None:
            return self._posterior
        return posterior(self.rgb, self.alpha_logits, self.target, self._mask(enabled))

    @functools.cached_property
    def _posterior(self) -> np.ndarray:
        """The posterior over `self.enabled`, once per trace: a video frame's labels and its written outputs
        both read it (read-only)."""
        found = posterior(self.rgb, self.alpha_logits, self.target, self._mask(None))
        found.setflags(write=False)
        return found

    def scores(self, enabled: np.ndarray | None = None, by: str = "posterior") -> np.ndarray:
        """What the labels are the argmax of, `[K, R, R]`: `posterior` (default) or `alpha` (see `LABELS`)."""
        if by not in LABELS:
            raise ValueError(f"labels by {by!r}: choose from {', '.join(LABELS)}")
        return self.posterior(enabled) if by == "posterior" else self.alpha(enabled)

    def labels(self, enabled: np.ndarray | None = None, by: str = "posterior") -> np.ndarray:
        """Segmentation `[R, R]` (uint8): the enabled slot with the largest score at each pixel (`by`, see
        `LABELS`; with `sticky`, the previous frame's slot wins ties within `STICKY_MARGINS[by]`)."""
        return self.label_scores(enabled, by).argmax(axis=0).astype(np.uint8)

    def label_scores(self, enabled: np.ndarray | None = None, by: str = "posterior") -> np.ndarray:
        """What `labels` is the argmax of, float32 `[K, R, R]`: the scores, -1 for disabled slots, and with
        `sticky` the previous frame's slot raised by its margin. Scaled plane by plane to another size, its
        argmax is the label map at that size (the exporter's `labels.png`), with no rounding to decide ties."""
        scores = np.where(self._mask(enabled)[:, None, None], self.scores(enabled, by), -1.0).astype(np.float32)
        if self.sticky is not None:  # a trace without a target has only its alpha to go by
            scores = held_scores(scores, self.sticky, STICKY_MARGINS[by if self.target is not None else "alpha"])
        return scores

    def reordered(self, order: np.ndarray) -> Trace:
        """The same result with the slots renamed: slot k of the copy is slot `order[k]` of this one.

        Every per-slot array and flag moves together, so nothing a view shows changes but the indices.
        """
        order = np.asarray(order, int)
        if sorted(order.tolist()) != list(range(self.num_slots)):
            raise ValueError(f"{order.tolist()} is not an order of {self.num_slots} slots")
        if np.array_equal(order, np.arange(self.num_slots)):
            return self
        sticky = None if self.sticky is None else np.argsort(order).astype(np.uint8)[self.sticky]
        return self.replace(attention=self.attention[:, order], slots=self.slots[:, order], rgb=self.rgb[order],
                            alpha_logits=self.alpha_logits[order], enabled=tuple(self.enabled[k] for k in order),
                            sticky=sticky)

    def replace(self, **changes: Any) -> Trace:
        """A copy with `changes`; keeps the re-composite and posterior caches when what they depend on stays."""
        new = dataclasses.replace(self, **changes)
        if "_exp_weights" in self.__dict__ and not {"rgb", "alpha_logits"} & set(changes):
            new.__dict__["_exp_weights"] = self.__dict__["_exp_weights"]
        changed = {name for name, value in changes.items() if not _same(value, getattr(self, name))}
        if "_posterior" in self.__dict__ and not {"rgb", "alpha_logits", "enabled", "target"} & changed:
            new.__dict__["_posterior"] = self.__dict__["_posterior"]
        return new


# What labels are the argmax of. "alpha": the decoder's masks, as in the Slot Attention paper. "posterior": the
# same masks weighed by how well each slot's decoded colour explains the pixel (`posterior`); the decoder draws
# soft, roundish masks, and the posterior puts their borders where the image's are (shapes model, 1,000 test
# scenes: FG-ARI 0.886 → 0.94; README, "Labels").
LABELS: tuple[str, ...] = ("posterior", "alpha")


def check_label_by(by: str) -> str:
    """`by` if it names one of `LABELS`, else one clear line (for the writers that take it from a caller)."""
    if by not in LABELS:
        raise SlotviewerError(f"labels by {by!r}: choose from {', '.join(LABELS)}")
    return by


# Colour differences well below this do not decide a label: the decoder's colours carry its own artefacts
# (a faint grid from upsampling, ~0.05), and several slots that share a flat background differ by about that
# much, so a sharper likelihood (σ² the reconstruction error alone) cut the background into speckle (on 150
# shapes scenes 4.9 % of pixels disagreed with their 3×3 neighbourhood, against 1.2 % by alpha and 2.5 % with
# this) for no better FG-ARI (0.946 against 0.941; on `shapes-wide`, noisy images, 0.683 against 0.705).
COLOUR_TOLERANCE = 0.1
# Colour fits within this many nats of the best slot's count as equally good, and the alpha decides among them.
# Where slots share a background their colours differ by decoder noise, and the posterior cut the background
# into irregular patches that followed that noise instead of the alpha's smooth borders: on 150 shapes scenes
# 23 % of background pixels went to another slot than by alpha, 12 % with 0.5 (FG-ARI 0.944 and 0.942; 1 nat:
# 9 % and 0.941; on `shapes-wide` 0.685 and 0.688).
COLOUR_DEAD_ZONE = 0.5


def posterior(rgb: np.ndarray, alpha_logits: np.ndarray, target: np.ndarray,
              enabled: np.ndarray | None = None) -> np.ndarray:
    """p(slot | pixel colour) `[K, R, R]` of the decoder's mixture: alpha is each slot's prior on a pixel, and
    a Gaussian around the slot's decoded colour its likelihood, `softmax_k(alpha_logit_k - |x - rgb_k|² / 2σ²)`
    over the enabled slots.

    σ² is the reconstruction's mean squared error over all slots plus `COLOUR_TOLERANCE`², so the colour
    counts for as much as the model's fit earns: on a clean scene it moves a blurry mask's border to the
    object's edge, on a noisy photo it barely moves it. The decoder's masks alone draw a triangle as a disc,
    give one of two slots the rim of an object, or cover a small object's visible corner with its occluder.
    A slot's misfit counts only beyond the best enabled slot's plus `COLOUR_DEAD_ZONE`, so near-equal colours
    leave the choice to the alpha.
    """
    variance = float(np.mean((composite(rgb, alpha_logits) - target) ** 2)) + COLOUR_TOLERANCE**2
    misfit = ((rgb - target[None]) ** 2).sum(axis=-1) / (2.0 * variance)
    chosen = np.ones(len(rgb), bool) if enabled is None or not np.any(enabled) else np.asarray(enabled, bool)
    best = misfit[chosen].min(axis=0)
    return masked_alpha(alpha_logits - np.maximum(misfit - best - COLOUR_DEAD_ZONE, 0.0), enabled)


# How much more another slot must score (posterior or alpha, by what the labels are the argmax of) to take a
# pixel from the slot that had it on the last video frame. Several slots often share the background with
# near-equal alpha, and without a margin the label flips between them pixel by pixel from frame to frame. By
# alpha: 12 % of pixels changed label per frame on the identity clips, 5 % at 0.05 (0.02: 7 %, 0.1: 4 %; 0.3
# lowered FG-ARI by 0.005). The posterior is sharper and takes a wider one: on 24 clips (not the benchmark's)
# 5.2 / 3.4 / 2.2 % of pixels changed label per frame at 0.1 / 0.2 / 0.3, the background changed its slot 4.3 /
# 2.0 / 1.7 times per 100 frames, at the same FG-ARI (0.955) and object switches (3.5–3.7); at 0.3 an object
# entering the scene got its own slot in 85 % of frames instead of 93 % (README, "Identity").
STICKY_MARGINS: dict[str, float] = {"posterior": 0.2, "alpha": 0.05}


def _same(a: Any, b: Any) -> bool:
    """The same object, or equal plain values (the live view re-applies an unchanged `enabled` every frame)."""
    return a is b or (isinstance(a, tuple) and a == b)


def held_scores(scores: np.ndarray, previous: np.ndarray, margin: float) -> np.ndarray:
    """A copy of `scores [K, H, W]` with `margin` added to the slot `previous [H, W]` names at each pixel,
    where that slot scores above 0 (a hidden slot's zero plane never wins this way); uint8 scores come back
    as int16, to leave room above 255."""
    boosted = scores.astype(np.int16 if scores.dtype == np.uint8 else scores.dtype)
    index = previous.astype(np.intp)[None]
    held = np.take_along_axis(boosted, index, 0)
    np.put_along_axis(boosted, index, np.where(held > 0, held + margin, held), 0)
    return boosted


def argmax_planes(planes: Iterable[np.ndarray]) -> np.ndarray:
    """Index (uint8) of the largest of `planes` at each pixel, the first winning ties as `argmax` does. One
    plane at a time with a running maximum, so a label map at a 6000² input's size never needs a `[K, H, W]`
    stack (and numpy's argmax over a short last axis is ~10× slower); the planes are not changed."""
    best = labels = None
    for k, plane in enumerate(planes):
        if best is None:
            best, labels = plane.copy(), np.zeros(plane.shape, np.uint8)
            continue
        labels[plane > best] = k
        np.maximum(best, plane, out=best)
    return labels


def sticky_argmax(scores: np.ndarray, previous: np.ndarray, margin: float) -> np.ndarray:
    """Argmax over slots of `scores [K, H, W]` after `held_scores`: the slot `previous` names keeps a pixel
    unless another scores higher by more than `margin`."""
    return held_scores(scores, previous, margin).argmax(axis=0).astype(np.uint8)


def masked_alpha(alpha_logits: np.ndarray, enabled: np.ndarray | None = None) -> np.ndarray:
    """Softmax over slots of the logits, restricted to `enabled` (a bool per slot)."""
    if enabled is None:
        return softmax(alpha_logits, axis=0)
    enabled = np.asarray(enabled, dtype=bool)
    alpha = np.zeros_like(alpha_logits)
    if enabled.any():
        alpha[enabled] = softmax(alpha_logits[enabled], axis=0)
    return alpha


def composite(rgb: np.ndarray, alpha_logits: np.ndarray, enabled: np.ndarray | None = None) -> np.ndarray:
    """Σ_k alpha_k · rgb_k over enabled slots; black where no slot is enabled.

    Written as a loop over the (few) enabled slots: for the sizes here it is ~2× faster than einsum,
    which matters because this runs on every slot toggle.
    """
    indices = np.arange(len(rgb)) if enabled is None else np.flatnonzero(enabled)
    out = np.zeros(rgb.shape[1:], np.float32)
    if len(indices) == 0:
        return out
    alpha = softmax(alpha_logits[indices], axis=0)
    for weight, k in zip(alpha, indices, strict=True):
        out += weight[..., None] * rgb[k]
    return out

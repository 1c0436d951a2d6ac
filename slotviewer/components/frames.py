"""What a document looks like at one (possibly fractional) iteration, as display arrays. Qt-free.

The overlay shows Slot Attention's own attention by default — the thing the app is for: at t = 0 no slot
has claimed anything (a uniform tint), then slots compete and settle. `alpha` shows the decoder's masks
instead, and `posterior` the decoder's masks weighed by how well each slot's colour explains the pixel (the
labels `slotviewer run` writes: object-shaped where alpha draws discs). Hidden slots are left out of every
overlay, so a hidden slot's region loses its colour. On a video frame's final iteration the `alpha` and
`posterior` overlays keep the last frame's slot on near-ties (`Trace.sticky`), as the frame's labels do; the
attention overlays always show the attention as it is (the held labels are the decoder's, and would paint
its artefacts into them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from slotviewer.components.document import Document, IterationView
from slotviewer.engine.trace import STICKY_MARGINS, sticky_argmax
from slotviewer.io.render import slot_colours, to_uint8

OVERLAYS: tuple[str, ...] = ("attention", "attention-blend", "alpha", "posterior")
OVERLAY_LABELS = {"attention": "attention (argmax)", "attention-blend": "attention (blend)",
                  "alpha": "decoder alpha (argmax)", "posterior": "decoder posterior (argmax)"}
# the same, short enough for the control panel's box (the full labels title the input panel)
OVERLAY_NAMES = {"attention": "attention", "attention-blend": "attention blend", "alpha": "decoder alpha",
                 "posterior": "decoder posterior"}
DECODER_OVERLAYS = ("alpha", "posterior")
# attention shares that differ by less than this across the shown slots claim nothing: at t = 0 and on a flat
# image (every share ~1/K, entropy log K) the argmax would otherwise paint noise-chosen regions in slot colours
UNDECIDED = 0.02


@dataclass(frozen=True)
class Frame:
    """Display arrays of one iteration: attention `[K, h, w]` (uniform 1/K at t = 0), alpha `[K, R, R]`,
    rgb `[K, R, R, 3]`, composite `[R, R, 3]`, the colour posterior `[K, R, R]` (None when the frame was made
    for another overlay: it costs a playback frame ~1 ms), all float in [0, 1]; `sticky`, the last video
    frame's labels `[R, R]` (final iteration of a carried frame only)."""

    position: float
    attention: np.ndarray
    alpha: np.ndarray
    rgb: np.ndarray
    composite: np.ndarray
    enabled: tuple[bool, ...]
    posterior: np.ndarray | None = None
    sticky: np.ndarray | None = None

    def overlay(self, mode: str) -> np.ndarray | None:
        """uint8 RGB `[h, w, 3]` in the slot colours (stretched over the image by the view)."""
        enabled = np.asarray(self.enabled, bool)
        if not enabled.any():
            return None
        colours = slot_colours(len(enabled)).astype(np.float32)
        decoder = mode in DECODER_OVERLAYS
        if mode == "posterior" and self.posterior is None:
            raise ValueError("this frame was made without its posterior (frame_at(..., posterior=True))")
        weights = {"alpha": self.alpha, "posterior": self.posterior}.get(mode, self.attention * enabled[:, None, None])
        if mode == "attention-blend":
            total = np.maximum(weights.sum(0, keepdims=True), 1e-8)
            return (np.einsum("khw,kc->hwc", weights / total, colours) + 0.5).astype(np.uint8)
        masked = np.where(enabled[:, None, None], weights, -1.0)
        if self.sticky is None or not decoder:
            labels = masked.argmax(0)
        else:  # the held labels at the overlay's grid (nearest), a margin for them (hidden slots score -1)
            h, w = masked.shape[1:]
            rows, cols = (np.arange(n) * len(self.sticky) // n for n in (h, w))
            labels = sticky_argmax(masked, self.sticky[np.ix_(rows, cols)], STICKY_MARGINS[mode])
        shown = colours.astype(np.uint8)[labels]
        if not decoder:  # pixels no slot has claimed (all of them at t = 0) get the shown slots' mean tint
            undecided = np.ptp(self.attention[enabled], axis=0) < UNDECIDED
            shown[undecided] = (colours[enabled].mean(0) + 0.5).astype(np.uint8)
        return shown

    def slot_maps(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slot `k`'s three pictures, uint8: attention (in its colour, scaled to the iteration's peak so
        weak slots stay visible), alpha mask, decoded RGB over grey where its alpha is low."""
        colour = slot_colours(len(self.enabled))[k].astype(np.float32) / 255.0
        peak = max(float(self.attention.max()), 1e-8)
        attention = to_uint8((self.attention[k] / peak)[..., None] * colour)
        a = self.alpha[k][..., None]
        return attention, to_uint8(self.alpha[k]), to_uint8(self.rgb[k] * a + (1 - a) * 0.15)


def _frame(view: IterationView | None, position: float, posterior: bool) -> Frame | None:
    if view is None:
        return None
    k = len(view.rgb)
    attention = view.attention if view.attention is not None else np.full((k, 1, 1), 1.0 / k, np.float32)
    return Frame(position, attention, view.alpha(), view.rgb, view.composite(), view.enabled,
                 view.posterior() if posterior else None)


def _mix(a: Frame, b: Frame, w: float, position: float) -> Frame:
    if a.attention.shape != b.attention.shape:  # t = 0 (uniform) to t = 1 (maps)
        a = dataclasses.replace(a, attention=np.broadcast_to(a.attention[:, :1, :1], b.attention.shape))
    mix = lambda x, y: (1 - w) * x + w * y  # noqa: E731
    posterior = None if a.posterior is None or b.posterior is None else mix(a.posterior, b.posterior)
    return Frame(position, mix(a.attention, b.attention), mix(a.alpha, b.alpha), mix(a.rgb, b.rgb),
                 mix(a.composite, b.composite), b.enabled, posterior)


def frame_at(document: Document, position: float, posterior: bool = True) -> Frame | None:
    """The document at `position` (clamped to its iterations; fractional positions blend the two
    neighbouring iterations for smooth playback), or None while a decode it needs is on the way;
    `posterior=False` leaves out the colour posterior (for the overlays that do not show it)."""
    trace = document.trace
    if trace is None:
        return None
    position = min(max(float(position), 0.0), float(trace.iterations))
    t0 = int(position)
    a = _frame(document.view(t0), position, posterior)
    if a is not None and t0 == trace.iterations and trace.sticky is not None:
        a = dataclasses.replace(a, sticky=trace.sticky)
    if a is None or position == t0:
        return a
    b = _frame(document.view(t0 + 1), position, posterior)
    return None if b is None else _mix(a, b, position - t0, position)

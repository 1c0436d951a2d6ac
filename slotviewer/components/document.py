"""One open image in the viewer: its trace, the unedited one, and the decodes of earlier iterations.

The scrubbed position is the `Viewer`'s (A and B follow one scrubber), not a document's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slotviewer.engine.trace import Trace, composite

MAX_DECODED = 256


def _slot_key(slots: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(slots, np.float32).tobytes(), digest_size=16).digest()


@dataclass(frozen=True)
class IterationView:
    """What the views show at iteration t: attention (None at t = 0) and the slots decoded at t."""

    iteration: int
    attention: np.ndarray | None  # [K, h, w]
    rgb: np.ndarray  # [K, R, R, 3]
    alpha_logits: np.ndarray  # [K, R, R]
    enabled: tuple[bool, ...]
    target: np.ndarray | None = None  # the model's input [R, R, 3], for the posterior

    def alpha(self) -> np.ndarray:
        from slotviewer.engine.trace import masked_alpha

        return masked_alpha(self.alpha_logits, np.array(self.enabled))

    def posterior(self) -> np.ndarray:
        """The slots' colour posterior at this iteration (`engine.trace.posterior`); the alpha without a target."""
        from slotviewer.engine.trace import posterior

        if self.target is None:
            return self.alpha()
        return posterior(self.rgb, self.alpha_logits, self.target, np.array(self.enabled))

    def composite(self) -> np.ndarray:
        return composite(self.rgb, self.alpha_logits, np.array(self.enabled))


@dataclass
class Document:
    """An image and everything the viewer derived from it: the current (possibly edited) trace and the
    unedited one from the last run (for "reset"). Undo lives in `Session`, across documents."""

    source: str  # a path, or a description such as "clipboard"
    image: np.ndarray
    trace: Trace | None = None
    original: Trace | None = None
    method: str | None = None  # run with this method instead of the panel's (side-by-side comparison)
    frame: int | None = None  # the frame number in `source`, for a frame of a video, sequence or camera
    # decoded slots keyed by the slot values themselves, so edits that leave an iteration's slots alone
    # (a swap changes only the last one) reuse its decode; oldest entries go first
    _decoded: dict[bytes, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return Path(self.source).name if self.source else "untitled"

    def set_run(self, trace: Trace) -> None:
        """A fresh run: the new unedited trace; decodes of the old one are dropped."""
        self.trace = self.original = trace
        self._decoded.clear()

    def _cached(self, trace: Trace, t: int) -> tuple[np.ndarray, np.ndarray] | None:
        return self._decoded.get(_slot_key(trace.slots[t]))

    def needs_decode(self, t: int) -> bool:
        trace = self.trace
        return (trace is not None and t != trace.iterations and self._cached(trace, t) is None
                and trace.method == "slot-attention")

    def store_decoded(self, trace: Trace, t: int, rgb: np.ndarray, alpha_logits: np.ndarray) -> None:
        self._decoded[_slot_key(trace.slots[t])] = (rgb, alpha_logits)
        while len(self._decoded) > MAX_DECODED:
            del self._decoded[next(iter(self._decoded))]

    def view(self, t: int) -> IterationView | None:
        """The state at iteration `t` (0 = the initial slots, T = the final ones), or None while its
        decode is pending."""
        trace = self.trace
        if trace is None:
            return None
        final = t == trace.iterations or trace.method != "slot-attention"
        cached = (trace.rgb, trace.alpha_logits) if final else self._cached(trace, t)
        if cached is None:
            return None
        rgb, alpha_logits = cached
        attention = trace.attention[t - 1] if t >= 1 else None
        return IterationView(t, attention, rgb, alpha_logits, trace.enabled, trace.target)

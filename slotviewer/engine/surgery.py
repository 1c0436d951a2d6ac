"""Slot surgery on `Trace`s: remove, swap, transplant, re-converge. Decoding is the only model call.

Removing slots needs no model at all: the composite is re-normalised over the remaining slots.
Swapping slots *within* one image only re-orders them (the composite is permutation-invariant); the
interesting swap is *between* two images, where each decoded picture changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slotviewer.engine.engine import Engine
from slotviewer.engine.trace import Trace
from slotviewer.errors import SlotviewerError


def _require_slot_attention(*traces: Trace) -> None:
    for trace in traces:
        if trace.method != "slot-attention":
            raise SlotviewerError("slot surgery needs a slot-attention trace (k-means centroids cannot be decoded)")


def _check_index(trace: Trace, index: int) -> None:
    if not 0 <= index < trace.num_slots:
        raise SlotviewerError(f"slot {index} does not exist (this trace has slots 0..{trace.num_slots - 1})")


def set_enabled(trace: Trace, enabled: Sequence[bool]) -> Trace:
    """Show only the enabled slots (alpha renormalised over them). Instant: nothing is decoded."""
    enabled = tuple(bool(e) for e in enabled)
    if len(enabled) != trace.num_slots:
        raise SlotviewerError(f"expected {trace.num_slots} on/off flags, got {len(enabled)}")
    off = [i for i, e in enumerate(enabled) if not e]
    return trace.replace(enabled=enabled, edits=(*trace.edits, f"enabled: hide {off}" if off else "enabled: all"))


def remove(trace: Trace, indices: Sequence[int]) -> Trace:
    """Hide the given slots."""
    for i in indices:
        _check_index(trace, i)
    return set_enabled(trace, [e and i not in indices for i, e in enumerate(trace.enabled)])


def with_final_slots(engine: Engine, trace: Trace, slots: np.ndarray, edit: str) -> Trace:
    """`trace` with its final slots replaced by `slots [K, D]` and decoded again."""
    rgb, alpha_logits = engine.decode(slots)
    history = trace.slots.copy()
    history[-1] = slots
    return trace.replace(slots=history, rgb=rgb, alpha_logits=alpha_logits, edits=(*trace.edits, edit))


def swap(engine: Engine, a: Trace, i: int, b: Trace, j: int) -> tuple[Trace, Trace]:
    """Exchange slot `i` of `a` with slot `j` of `b` and re-decode both (`a is b` swaps within one image)."""
    _require_slot_attention(a, b)
    _check_index(a, i)
    _check_index(b, j)
    if a is b:  # only a re-ordering: permute every per-slot array, nothing to decode
        order = np.arange(a.num_slots)
        order[[i, j]] = order[[j, i]]
        out = a.reordered(order).replace(edits=(*a.edits, f"swap slot {i} <-> slot {j}"))
        return out, out
    sa, sb = a.slots[-1].copy(), b.slots[-1].copy()
    sa[i], sb[j] = b.slots[-1][j], a.slots[-1][i]
    return (with_final_slots(engine, a, sa, f"swap slot {i} <-> other image's slot {j}"),
            with_final_slots(engine, b, sb, f"swap slot {j} <-> other image's slot {i}"))


def transplant(engine: Engine, source: Trace, i: int, target: Trace, j: int) -> Trace:
    """Copy slot `i` of `source` over slot `j` of `target`; only `target` changes."""
    _require_slot_attention(source, target)
    _check_index(source, i)
    _check_index(target, j)
    slots = target.slots[-1].copy()
    slots[j] = source.slots[-1][i]
    return with_final_slots(engine, target, slots, f"transplant other image's slot {i} -> slot {j}")


def reconverge(engine: Engine, trace: Trace, iters: int = 3) -> Trace:
    """Let the visible slots run `iters` more Slot Attention iterations on the same features.

    The user's edits stand: hidden slots stay hidden *and keep what they held* — they still take part in
    the attention's competition for each position, frozen at their last state, so the visible slots
    re-settle among themselves without re-explaining a removed object. Every slot keeps its index (and so
    its colour), and the history is extended: iteration T+1… continues the run instead of replacing it.
    """
    _require_slot_attention(trace)
    if iters < 1:
        raise SlotviewerError(f"re-converge needs at least one iteration, got {iters}")
    enabled = np.asarray(trace.enabled, bool)
    if not enabled.any():
        raise SlotviewerError("no slots left to re-converge: enable at least one")
    slots, attention, history = trace.slots[-1].copy(), [], []
    for _ in range(iters):  # one step at a time, so the hidden slots can be held where they are
        step_attention, step_history = engine.iterate(trace.features, slots, 1, trace.key_features)
        slots = np.where(enabled[:, None], step_history[-1], slots)
        attention.append(step_attention[0])
        history.append(slots)
    rgb, alpha_logits = engine.decode(slots)  # each slot decodes on its own: hidden ones stay as they were
    removed = np.flatnonzero(~enabled).tolist()
    before = (trace.provenance.get("reconverged") or {}).get("iters", 0)  # a re-converge of a re-converge adds up
    provenance = trace.provenance | {"reconverged": {"kept_slots": np.flatnonzero(enabled).tolist(),
                                                     "iters": before + iters}}
    return trace.replace(attention=np.concatenate([trace.attention, np.stack(attention)]),
                         slots=np.concatenate([trace.slots, np.stack(history)]), rgb=rgb, alpha_logits=alpha_logits,
                         provenance=provenance,
                         edits=(*trace.edits, f"re-converge without slots {removed} for {iters} iterations"))

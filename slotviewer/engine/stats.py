"""Convergence statistics of a trace, per iteration (what the viewer's plots show)."""

from __future__ import annotations

import numpy as np

from slotviewer.engine.trace import Trace


def slot_movement(trace: Trace) -> np.ndarray:
    """`[T, K]`: ‖slots[t] − slots[t−1]‖ for t = 1..T — how far each slot moved in each iteration."""
    return np.linalg.norm(np.diff(trace.slots, axis=0), axis=-1)


def attention_entropy(trace: Trace) -> np.ndarray:
    """`[T]`: mean over positions of the entropy (nats) of the slot distribution — low = decided."""
    t, k, h, w = trace.attention.shape
    a = trace.attention.reshape(t, k, h * w).clip(1e-12, 1.0)
    return -(a * np.log(a)).sum(axis=1).mean(axis=1)

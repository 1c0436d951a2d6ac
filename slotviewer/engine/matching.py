"""Which slot of this frame is which slot of the last one: an optimal matching of their masks.

Slots are a set; carry-over (SAVi) starts frame t+1 from frame t's slots, which usually keeps slot k
on the same object, but the update can exchange two slots between frames (with one iteration per
frame the shapes model settles into a period-2 swap: two slots trade an object every frame). Matching
the new alpha masks to the previous frame's by overlap and reordering the slots undoes such exchanges;
the model is permutation-equivariant, so reordering changes no prediction, only the names.
"""

from __future__ import annotations

import numpy as np


def min_cost_assignment(cost: np.ndarray) -> np.ndarray:
    """For a square cost matrix, `col[i]`: the column given to row i so that Σ cost[i, col[i]] is least.

    The Hungarian method with row/column potentials (O(n³)); n is the number of slots, ≤ 32 here.
    """
    cost = np.asarray(cost, np.float64)
    n = cost.shape[0]
    if cost.shape != (n, n):
        raise ValueError(f"cost matrix must be square, got {cost.shape}")
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    owner = np.zeros(n + 1, int)  # owner[j]: the row (1-based) holding column j; 0 = free
    for row in range(1, n + 1):
        owner[0], free_col = row, 0
        best = np.full(n + 1, np.inf)
        came_from = np.zeros(n + 1, int)
        used = np.zeros(n + 1, bool)
        while True:
            used[free_col] = True
            i = owner[free_col]
            reduced = cost[i - 1] - u[i] - v[1:]
            better = ~used[1:] & (reduced < best[1:])
            best[1:][better] = reduced[better]
            came_from[1:][better] = free_col
            open_cols = np.flatnonzero(~used[1:]) + 1
            nxt = open_cols[np.argmin(best[open_cols])]
            delta = best[nxt]
            u[owner[used]] += delta
            v[used] -= delta
            best[~used] -= delta
            free_col = nxt
            if owner[free_col] == 0:
                break
        while free_col:  # flip the augmenting path back to the root
            prev = came_from[free_col]
            owner[free_col] = owner[prev]
            free_col = prev
    col = np.empty(n, int)
    col[owner[1:] - 1] = np.arange(n)
    return col


def soft_iou(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """`[K, K]` overlap of two sets of masks `[K, ...]` (values in [0, 1]): Σ min / Σ max per pair."""
    a = previous.reshape(len(previous), 1, -1).astype(np.float32)
    b = current.reshape(1, len(current), -1).astype(np.float32)
    union = np.maximum(a, b).sum(-1)
    return np.minimum(a, b).sum(-1) / np.maximum(union, 1e-6)


def match_order(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The order that puts the current slot most like previous slot k at index k (`current[order]`)."""
    return min_cost_assignment(-soft_iou(previous, current))

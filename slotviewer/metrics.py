"""Segmentation metrics in numpy: adjusted Rand index and its foreground-only variant (FG-ARI)."""

from __future__ import annotations

import numpy as np


def _pairs(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def adjusted_rand_index(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """ARI (Hubert & Arabie) between two flat labelings; 1.0 when both put everything in one cluster."""
    a, b = np.asarray(labels_true).ravel(), np.asarray(labels_pred).ravel()
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in size: {a.size} vs {b.size}")
    n = a.size
    if n < 2:
        return 1.0
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.bincount(ai * (bi.max() + 1) + bi, minlength=(ai.max() + 1) * (bi.max() + 1))
    index = _pairs(table)
    sum_a = _pairs(np.bincount(ai))
    sum_b = _pairs(np.bincount(bi))
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:  # both trivial (one cluster each, or all singletons): identical partitions
        return 1.0
    return (index - expected) / (maximum - expected)


def fg_ari(true_masks: np.ndarray, pred_labels: np.ndarray) -> np.ndarray:
    """Per-image ARI over ground-truth foreground pixels (mask > 0), as in the slot-attention papers.

    Images without foreground are skipped (NaN) rather than counted as perfect.
    """
    scores = np.full(len(true_masks), np.nan)
    for i, (t, p) in enumerate(zip(true_masks, pred_labels, strict=True)):
        fg = t > 0
        if fg.any():
            scores[i] = adjusted_rand_index(t[fg], p[fg])
    return scores


def psnr(mse_per_image: np.ndarray | float) -> float:
    """Mean over images of 10·log10(1 / MSE) for pixel values in [0, 1] (dB; higher is sharper)."""
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse_per_image, 1e-10))))


def error_trend(errors: list[float] | tuple[float, ...]) -> tuple[float, float]:
    """The training batches' reconstruction error at the start and at the end of an adaptation: the means of
    the first and the last (up to) five steps, never overlapping, so a short run shows its own change (1 step:
    that step twice)."""
    if not errors:
        return 0.0, 0.0
    n = max(1, min(5, len(errors) // 2))
    return float(np.mean(errors[:n])), float(np.mean(errors[-n:]))

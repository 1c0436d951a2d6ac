"""Soft and hard k-means on the encoder's features: the clustering Slot Attention grew out of.

Same inputs and the same `Trace` shape as Slot Attention, so the viewer can show both side by side.
There is no learned decoder for centroids, so each cluster is rendered as the mean colour of the
pixels it claims, with its responsibilities as alpha.
"""

from __future__ import annotations

import numpy as np

from slotviewer.engine.preprocess import resize_channels
from slotviewer.engine.trace import softmax


def _layer_norm(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)


def kmeans(features: np.ndarray, k: int, iters: int, seed: int, soft: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Cluster `features [N, D]` into `k` groups.

    Returns (responsibilities `[T, K, N]`, centroids `[T+1, K, D]`). Centroids start at `k`
    distinct inputs picked by `seed` (Forgy). Soft k-means uses a temperature of a tenth of the
    features' mean squared spread, so it is scale-free.
    """
    x = _layer_norm(features.astype(np.float32))
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(len(x), size=min(k, len(x)), replace=False)]
    if len(centroids) < k:  # fewer inputs than clusters: repeat some
        centroids = centroids[rng.integers(0, len(centroids), k)]
    beta = 0.1 * float(((x - x.mean(0)) ** 2).sum(1).mean()) + 1e-6
    history, responsibilities = [centroids], []
    for _ in range(iters):
        d2 = ((x[None] - centroids[:, None]) ** 2).sum(-1)  # [K, N]
        if soft:
            r = softmax(-d2 / beta, axis=0)
        else:
            r = np.zeros_like(d2)
            r[d2.argmin(0), np.arange(len(x))] = 1.0
        mass = r.sum(1, keepdims=True)
        # an empty cluster keeps its centroid instead of collapsing to NaN
        centroids = np.where(mass > 1e-8, (r @ x) / np.maximum(mass, 1e-8), centroids)
        responsibilities.append(r)
        history.append(centroids)
    if not responsibilities:
        responsibilities.append(np.zeros((0, k, len(x)), np.float32))
        return responsibilities[0], np.stack(history).astype(np.float32)
    return np.stack(responsibilities).astype(np.float32), np.stack(history).astype(np.float32)


def render_clusters(responsibilities: np.ndarray, image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(rgb `[K, R, R, 3]` mean colours, alpha logits `[K, R, R]`) from the last responsibilities.

    `image` is the model input `[3, R, R]`; responsibilities `[K, h, w]` are upsampled to R×R.
    """
    alpha = resize_channels(responsibilities, size, size).clip(1e-6, 1.0)
    alpha /= alpha.sum(0, keepdims=True)
    weights = alpha.reshape(len(alpha), -1)
    colours = weights @ image.reshape(3, -1).T / np.maximum(weights.sum(1, keepdims=True), 1e-8)  # [K, 3]
    rgb = np.broadcast_to(colours[:, None, None, :], (len(alpha), size, size, 3)).astype(np.float32)
    return rgb, np.log(alpha).astype(np.float32)

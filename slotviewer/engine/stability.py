"""Is a binding robust or an accident of the random initial slots? Re-run with several seeds and compare.

Slot indices are arbitrary from run to run, so each run's labels are first matched to the first run's
by greatest overlap; the per-pixel agreement is then the fraction of runs that agree with run 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from slotviewer.metrics import adjusted_rand_index


@dataclass(frozen=True)
class Stability:
    seeds: tuple[int, ...]
    labels: np.ndarray  # [S, R, R] each run's label map
    agreement: np.ndarray  # [R, R] in [0, 1]
    pairwise_ari: np.ndarray  # [S, S]

    @property
    def mean_ari(self) -> float:
        s = len(self.seeds)
        if s < 2:
            return 1.0
        return float(self.pairwise_ari[np.triu_indices(s, 1)].mean())


def align_labels(reference: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Relabel `labels` so each of its slots takes the reference slot it overlaps most (greedy, one-to-one)."""
    overlap = np.zeros((k, k), np.int64)
    np.add.at(overlap, (labels.ravel(), reference.ravel()), 1)
    mapping = np.full(k, -1)
    taken = np.zeros(k, bool)
    for flat in np.argsort(-overlap, axis=None):
        src, dst = divmod(int(flat), k)
        if mapping[src] < 0 and not taken[dst]:
            mapping[src], taken[dst] = dst, True
    return mapping[labels]


def stability(label_maps: Sequence[np.ndarray], seeds: Sequence[int], k: int) -> Stability:
    """Agreement and pairwise ARI of label maps from runs that differ only in their seed."""
    labels = np.stack(label_maps)
    aligned = np.stack([labels[0]] + [align_labels(labels[0], lab, k) for lab in labels[1:]])
    agreement = (aligned == aligned[0]).mean(axis=0)
    s = len(labels)
    ari = np.eye(s)
    for i, j in combinations(range(s), 2):
        ari[i, j] = ari[j, i] = adjusted_rand_index(labels[i], labels[j])
    return Stability(tuple(int(x) for x in seeds), labels, agreement, ari)

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from slotviewer.metrics import adjusted_rand_index, fg_ari


def test_ari_equals_sklearn_on_random_labelings() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        a = rng.integers(0, int(rng.integers(1, 6)), n)
        b = rng.integers(0, int(rng.integers(1, 6)), n)
        if rng.random() < 0.3:
            b = a.copy()
        assert np.isclose(adjusted_rand_index(a, b), adjusted_rand_score(a, b)), (a, b)


def test_ari_edge_cases_match_sklearn() -> None:
    cases = [([0, 0, 0], [1, 1, 1]), ([0, 1, 2], [2, 1, 0]), ([0, 0, 1, 1], [0, 0, 0, 0]), ([5], [3])]
    for a, b in cases:
        assert np.isclose(adjusted_rand_index(np.array(a), np.array(b)), adjusted_rand_score(a, b))


def test_fg_ari_ignores_background_and_skips_empty_images() -> None:
    truth = np.array([[[0, 0, 1, 1], [0, 0, 2, 2]], [[0, 0, 0, 0], [0, 0, 0, 0]]])
    pred = np.array([[[9, 8, 3, 3], [7, 6, 4, 4]], [[1, 2, 3, 0], [0, 0, 0, 0]]])
    scores = fg_ari(truth, pred)
    assert scores[0] == 1.0 and np.isnan(scores[1])


def test_two_points_are_scored_not_assumed_perfect() -> None:
    for a, b in (([0, 1], [0, 0]), ([0, 1], [1, 0]), ([0, 0], [0, 1]), ([3, 3], [5, 5])):
        assert adjusted_rand_index(np.array(a), np.array(b)) == adjusted_rand_score(a, b), (a, b)
    assert adjusted_rand_index(np.array([0, 1, 2]), np.array([0, 0, 0])) == adjusted_rand_score([0, 1, 2], [0, 0, 0])


def test_sizes_must_match() -> None:
    with pytest.raises(ValueError, match="label arrays differ in size: 3 vs 2"):
        adjusted_rand_index(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError):
        fg_ari(np.zeros((2, 2, 2)), np.zeros((3, 2, 2)))


def test_fg_ari_counts_every_object_label() -> None:
    truth = np.array([[[0, 1, 1, 2, 2]]])
    merged = np.array([[[5, 7, 7, 7, 7]]])  # objects 1 and 2 merged into one segment: no better than chance
    split = np.array([[[5, 3, 3, 4, 4]]])
    assert fg_ari(truth, merged)[0] == 0.0 and fg_ari(truth, split)[0] == 1.0

import numpy as np
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

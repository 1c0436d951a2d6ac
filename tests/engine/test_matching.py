"""Slot matching between frames: an optimal assignment, and the overlap it is computed from."""

import itertools

import numpy as np
import pytest

from slotviewer.engine.matching import match_order, min_cost_assignment, soft_iou


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_assignment_is_the_cheapest_permutation(n: int) -> None:
    rng = np.random.default_rng(n)
    for trial in range(20):
        cost = rng.normal(size=(n, n))
        if trial % 2:
            cost = np.round(cost)  # ties
        col = min_cost_assignment(cost)
        assert sorted(col.tolist()) == list(range(n))
        best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(n)))
        assert cost[np.arange(n), col].sum() == pytest.approx(best)


def test_assignment_rejects_a_non_square_matrix() -> None:
    with pytest.raises(ValueError, match="square"):
        min_cost_assignment(np.zeros((2, 3)))


def test_soft_iou_of_masks() -> None:
    a = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])
    iou = soft_iou(a, a[::-1])
    assert iou == pytest.approx(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert soft_iou(a, a) == pytest.approx(np.eye(2))
    half = soft_iou(a[:1], np.array([[1.0, 0.0, 0.0, 0.0]]))
    assert half == pytest.approx(np.array([[0.5]]))


def test_match_order_puts_each_mask_back_under_its_old_index() -> None:
    rng = np.random.default_rng(0)
    previous = rng.dirichlet(np.ones(5), size=64).T.reshape(5, 8, 8)
    shuffled = np.array([3, 0, 4, 1, 2])
    current = previous[shuffled] + rng.normal(0, 0.01, previous.shape)
    order = match_order(previous, np.clip(current, 0, 1))
    assert np.array_equal(shuffled[order], np.arange(5))


def test_soft_iou_of_faint_masks_is_still_a_ratio() -> None:
    faint = np.array([[0.1, 0.1, 0.0], [0.0, 0.05, 0.05]])
    assert soft_iou(faint, faint) == pytest.approx(np.array([[1.0, 0.2], [0.2, 1.0]]))  # 0.05 / 0.25
    assert soft_iou(np.zeros((1, 3)), np.zeros((1, 3))) == pytest.approx(np.array([[0.0]]))  # empty: no NaN

"""Convergence statistics and stability by value (not only by shape): entropy in nats per iteration,
movement per slot and iteration, label alignment, agreement and mean ARI."""

import numpy as np
import pytest

from slotviewer.engine.stability import align_labels, stability
from slotviewer.engine.stats import attention_entropy, slot_movement
from slotviewer.engine.trace import Trace


def trace_with(attention: np.ndarray, slots: np.ndarray) -> Trace:
    k = attention.shape[1]
    return Trace(image=np.zeros((2, 2, 3), np.uint8), features=np.zeros((4, 2), np.float32), attention=attention,
                 slots=slots, rgb=np.zeros((k, 2, 2, 3), np.float32), alpha_logits=np.zeros((k, 2, 2), np.float32))


def test_entropy_per_iteration_in_nats() -> None:
    k = 4
    uniform = np.full((k, 2, 2), 1 / k)
    decided = np.zeros((k, 2, 2))
    decided[0] = 1.0
    half = np.zeros((k, 2, 2))
    half[:2] = 0.5
    half[:, 1, 1] = [1, 0, 0, 0]  # one of four positions decided: mean of (log 2, log 2, log 2, 0)
    attention = np.stack([uniform, half, decided]).astype(np.float32)
    entropy = attention_entropy(trace_with(attention, np.zeros((4, k, 2), np.float32)))
    np.testing.assert_allclose(entropy, [np.log(4), 0.75 * np.log(2), 0.0], atol=1e-6)


def test_movement_per_slot_and_iteration() -> None:
    slots = np.zeros((3, 2, 2), np.float32)
    slots[1, 0] = (3, 4)  # slot 0 moves 5 in iteration 1
    slots[2, 0] = (3, 4)  # and stays in iteration 2
    slots[2, 1] = (0, -2)  # slot 1 moves 2 in iteration 2 only
    movement = slot_movement(trace_with(np.full((2, 2, 1, 1), 0.5, np.float32), slots))
    np.testing.assert_allclose(movement, [[5, 0], [0, 2]])


def test_alignment_is_one_to_one_by_largest_overlap() -> None:
    reference = np.array([0, 0, 0, 1, 1, 2])
    labels = np.array([2, 2, 0, 0, 0, 1])  # 2→0 (2 px), 0→1 (2 px; 0 also overlaps 0 by 1), 1→2
    np.testing.assert_array_equal(align_labels(reference, labels, 3), [0, 0, 1, 1, 1, 2])


def test_stability_agreement_and_mean_ari() -> None:
    a = np.array([[0, 0], [1, 1]])
    same_permuted = np.array([[1, 1], [0, 0]])
    one_off = np.array([[0, 0], [1, 0]])
    result = stability([a, same_permuted, one_off], [5, 6, 7], 2)
    assert result.seeds == (5, 6, 7)
    np.testing.assert_array_equal(result.labels, np.stack([a, same_permuted, one_off]))  # as run, not aligned
    np.testing.assert_allclose(result.agreement, [[1, 1], [1, 2 / 3]])
    assert result.pairwise_ari[0, 1] == 1.0 and result.pairwise_ari[0, 2] < 1.0
    np.testing.assert_allclose(result.pairwise_ari, result.pairwise_ari.T)
    expected = (1.0 + 2 * result.pairwise_ari[0, 2]) / 3
    assert result.mean_ari == pytest.approx(expected)
    assert stability([a], [1], 2).mean_ari == 1.0


def test_alignment_never_reassigns_or_shares_a_slot() -> None:
    # slot 0 matched to reference 0 stays there even though it also touches reference 2, which stays free for slot 2
    reference = np.array([0, 0, 0, 2, 1, 1])
    labels = np.array([0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(align_labels(reference, labels, 3), labels)
    # two slots whose best match is the same reference slot: the larger overlap wins, the other takes the next
    reference = np.array([0, 0, 0, 0, 0, 1, 2])
    labels = np.array([0, 0, 0, 1, 1, 1, 2])
    np.testing.assert_array_equal(align_labels(reference, labels, 3), labels)

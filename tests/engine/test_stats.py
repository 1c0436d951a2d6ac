import numpy as np

from slotviewer.engine import Engine
from slotviewer.engine.stability import align_labels, stability
from slotviewer.engine.stats import attention_entropy, slot_movement


def test_convergence_stats(torch_engine: Engine, scene: np.ndarray) -> None:
    trace = torch_engine.run(scene, seed=0, iters=4)
    movement, entropy = slot_movement(trace), attention_entropy(trace)
    assert movement.shape == (4, trace.num_slots) and entropy.shape == (4,)
    np.testing.assert_allclose(movement[0], np.linalg.norm(trace.slots[1] - trace.slots[0], axis=-1), rtol=1e-6)
    assert (entropy >= 0).all() and (entropy <= np.log(trace.num_slots) + 1e-6).all()
    none = torch_engine.run(scene, seed=0, iters=0)
    assert slot_movement(none).shape == (0, trace.num_slots) and attention_entropy(none).shape == (0,)


def test_stability_aligns_permuted_labels() -> None:
    a = np.array([[0, 0, 1], [1, 2, 2]])
    permuted = np.array([[2, 2, 0], [0, 1, 1]])
    assert np.array_equal(align_labels(a, permuted, 3), a)
    different = np.array([[0, 1, 1], [1, 2, 2]])
    result = stability([a, permuted, different], [0, 1, 2], 3)
    assert result.pairwise_ari[0, 1] == 1.0 and result.pairwise_ari[0, 2] < 1.0
    assert result.agreement[0, 1] == 2 / 3 and result.agreement[0, 0] == 1.0

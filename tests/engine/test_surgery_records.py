"""Surgery records what it did and refuses k-means traces on either side (mutation-testing survivors)."""

import numpy as np
import pytest

from slotviewer.engine import Engine, surgery
from slotviewer.errors import SlotviewerError


def test_every_edit_is_recorded_in_order(torch_engine: Engine, scene: np.ndarray) -> None:
    a = torch_engine.run(scene, seed=1)
    b = torch_engine.run(scene[::-1].copy(), seed=2)
    within, same = surgery.swap(torch_engine, a, 0, a, 2)
    assert within is same and within.edits == ("swap slot 0 <-> slot 2",)
    a1, b1 = surgery.swap(torch_engine, a, 1, b, 0)
    assert a1.edits == ("swap slot 1 <-> other image's slot 0",)
    assert b1.edits == ("swap slot 0 <-> other image's slot 1",)
    out = surgery.transplant(torch_engine, a, 2, b, 1)
    assert out.edits == ("transplant other image's slot 2 -> slot 1",)
    # the moved slot brings its mask along (slots decode independently): alpha logits are re-decoded too
    np.testing.assert_allclose(out.alpha_logits[1], a.alpha_logits[2], atol=1e-4)
    np.testing.assert_allclose(out.alpha_logits[[0, 2]], b.alpha_logits[[0, 2]], atol=1e-4)
    assert np.abs(out.alpha_logits[1] - b.alpha_logits[1]).max() > 0.1
    hidden = surgery.remove(within, [1])
    assert hidden.edits == ("swap slot 0 <-> slot 2", "enabled: hide [1]")
    assert surgery.set_enabled(hidden, [True] * 3).edits[-1] == "enabled: all"


def test_k_means_traces_are_refused_on_either_side(torch_engine: Engine, scene: np.ndarray) -> None:
    trace = torch_engine.run(scene, seed=0)
    km = torch_engine.run(scene, seed=0, method="kmeans")
    for call in (lambda: surgery.swap(torch_engine, trace, 0, km, 0),
                 lambda: surgery.swap(torch_engine, km, 0, trace, 0),
                 lambda: surgery.transplant(torch_engine, km, 0, trace, 0),
                 lambda: surgery.transplant(torch_engine, trace, 0, km, 0),
                 lambda: surgery.reconverge(torch_engine, km)):
        with pytest.raises(SlotviewerError, match="k-means"):
            call()


def test_indices_and_flags_are_checked(torch_engine: Engine, scene: np.ndarray) -> None:
    trace = torch_engine.run(scene, seed=0)
    for bad in (-1, 3):
        with pytest.raises(SlotviewerError, match=rf"slot {bad} does not exist \(this trace has slots 0\.\.2\)"):
            surgery.swap(torch_engine, trace, 0, trace, bad)
        with pytest.raises(SlotviewerError, match=f"slot {bad} does not exist"):
            surgery.transplant(torch_engine, trace, bad, trace, 0)
    with pytest.raises(SlotviewerError, match="expected 3 on/off flags, got 2"):
        surgery.set_enabled(trace, [True, False])


def test_reconverge_continues_from_the_final_slots(torch_engine: Engine, scene: np.ndarray) -> None:
    trace = surgery.remove(torch_engine.run(scene, seed=4), [1])
    out = surgery.reconverge(torch_engine, trace)  # three more iterations by default
    assert out.iterations == trace.iterations + 3 and out.attention.dtype == np.float32
    np.testing.assert_array_equal(out.slots[: trace.iterations + 1], trace.slots)
    # the first new iteration starts from the run's final slots (hidden ones compete, frozen)
    _, first = torch_engine.iterate(trace.features, trace.slots[-1], 1, trace.key_features)
    np.testing.assert_allclose(out.slots[trace.iterations + 1, [0, 2]], first[1, [0, 2]], atol=1e-5)
    np.testing.assert_array_equal(out.slots[trace.iterations + 1 :, 1],
                                  np.repeat(trace.slots[-1:, 1], 3, axis=0))  # the hidden slot stays as it was
    rgb, alpha_logits = torch_engine.decode(out.slots[-1])  # and the pictures are of the new final slots
    np.testing.assert_allclose(out.rgb, rgb, atol=1e-5)
    np.testing.assert_allclose(out.alpha_logits, alpha_logits, atol=1e-4)
    assert np.abs(out.rgb[[0, 2]] - trace.rgb[[0, 2]]).max() > 1e-3
    assert out.provenance["reconverged"] == {"kept_slots": [0, 2], "iters": 3}
    assert surgery.reconverge(torch_engine, trace, iters=1).iterations == trace.iterations + 1


def test_traces_without_a_method_are_slot_attention(torch_engine: Engine, scene: np.ndarray) -> None:
    """Older traces (and hand-made ones) carry no method in their provenance: surgery accepts them."""
    trace = torch_engine.run(scene, seed=6)
    bare = trace.replace(provenance={})
    swapped, _ = surgery.swap(torch_engine, bare, 0, bare.replace(), 1)
    out = surgery.transplant(torch_engine, bare, 0, bare.replace(), 1)
    assert swapped.num_slots == out.num_slots == 3


def test_alpha_follows_the_enabled_flags(torch_engine: Engine, scene: np.ndarray) -> None:
    from slotviewer.engine.trace import masked_alpha, softmax

    trace = torch_engine.run(scene, seed=7)
    np.testing.assert_allclose(masked_alpha(trace.alpha_logits), softmax(trace.alpha_logits, axis=0), atol=1e-6)
    np.testing.assert_allclose(masked_alpha(trace.alpha_logits).sum(0), 1.0, atol=1e-5)
    only_two = trace.alpha(np.array([False, False, True]))
    np.testing.assert_allclose(only_two[2], 1.0, atol=1e-6)
    assert (only_two[:2] == 0).all()
    hidden = surgery.remove(trace, [0])
    assert (hidden.alpha()[0] == 0).all() and np.abs(hidden.alpha(np.ones(3, bool))[0]).max() > 0.01

import numpy as np
import pytest

from slotviewer.engine import Engine, surgery
from slotviewer.errors import SlotviewerError


def test_recomposite_without_slots_renormalises(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=1)
    for keep in range(trace.num_slots):
        only = surgery.set_enabled(trace, [i == keep for i in range(trace.num_slots)])
        # the only remaining slot owns every pixel, so the picture is exactly its RGB
        np.testing.assert_allclose(only.composite(), trace.rgb[keep], atol=1e-6)
        assert (only.labels() == keep).all()
    hidden = surgery.remove(trace, [0])
    np.testing.assert_allclose(hidden.alpha().sum(0), 1.0, atol=1e-6)
    assert (hidden.alpha()[0] == 0).all() and hidden.edits == ("enabled: hide [0]",)


def test_swap_within_an_image_leaves_the_picture_identical(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=2)
    swapped, _ = surgery.swap(engine, trace, 0, trace, 2)
    np.testing.assert_allclose(swapped.composite(), trace.composite(), atol=1e-5)
    np.testing.assert_allclose(swapped.rgb[0], trace.rgb[2], atol=1e-5)


def test_swap_between_images_twice_is_identity(engine: Engine, scene: np.ndarray) -> None:
    a = engine.run(scene, seed=3)
    b = engine.run(scene[::-1].copy(), seed=4)
    a1, b1 = surgery.swap(engine, a, 1, b, 0)
    assert not np.allclose(a1.composite(), a.composite(), atol=1e-4)
    a2, b2 = surgery.swap(engine, a1, 1, b1, 0)
    np.testing.assert_allclose(a2.composite(), a.composite(), atol=1e-5)
    np.testing.assert_allclose(b2.composite(), b.composite(), atol=1e-5)


def test_transplant_changes_only_the_target_slot(engine: Engine, scene: np.ndarray) -> None:
    a = engine.run(scene, seed=5)
    b = engine.run(scene[:, ::-1].copy(), seed=6)
    out = surgery.transplant(engine, a, 2, b, 1)
    np.testing.assert_array_equal(out.slots[-1][[0, 2]], b.slots[-1][[0, 2]])
    np.testing.assert_array_equal(out.slots[-1][1], a.slots[-1][2])
    np.testing.assert_allclose(out.rgb[[0, 2]], b.rgb[[0, 2]], atol=1e-5)  # slots decode independently
    np.testing.assert_allclose(out.rgb[1], a.rgb[2], atol=1e-5)


def test_reconverge_keeps_edits_indices_and_history(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=7, slots=4)
    removed = surgery.remove(trace, [1, 3])
    out = surgery.reconverge(engine, removed, iters=2)
    assert out.num_slots == 4 and out.enabled == (True, False, True, False), "hidden slots stay hidden"
    assert out.iterations == trace.iterations + 2, "the history is extended, not replaced"
    np.testing.assert_array_equal(out.attention[: trace.iterations], trace.attention)
    np.testing.assert_array_equal(out.slots[: trace.iterations + 1], trace.slots)
    # the new iterations: every position is still shared by all slots, the hidden ones frozen where they were
    np.testing.assert_allclose(out.attention[-2:].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out.slots[-2:, [1, 3]], np.stack([trace.slots[-1, [1, 3]]] * 2))
    # and what the hidden slots held stays theirs: the kept slots do not take it over
    held = trace.attention[-1, [1, 3]].sum(0) > 0.5
    assert out.attention[-1, [1, 3]].sum(0)[held].mean() > 0.3
    assert not np.allclose(out.slots[-1, [0, 2]], trace.slots[-1, [0, 2]]), "the kept slots moved"
    np.testing.assert_allclose(out.alpha().sum(0), 1.0, atol=1e-5)
    assert out.alpha()[[1, 3]].max() == 0
    assert out.edits[-1] == "re-converge without slots [1, 3] for 2 iterations"
    again = surgery.reconverge(engine, out, iters=3)  # the record counts every re-converged iteration
    assert again.iterations == trace.iterations + 5 and again.provenance["reconverged"]["iters"] == 5


def test_surgery_errors(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=0)
    with pytest.raises(SlotviewerError, match="slot 9 does not exist"):
        surgery.remove(trace, [9])
    with pytest.raises(SlotviewerError, match="no slots left"):
        surgery.reconverge(engine, surgery.set_enabled(trace, [False] * trace.num_slots))
    with pytest.raises(SlotviewerError, match="k-means"):
        surgery.swap(engine, engine.run(scene, method="kmeans"), 0, trace, 0)


def test_swap_within_permutes_the_whole_history(engine: Engine, scene: np.ndarray) -> None:
    trace = surgery.remove(engine.run(scene, seed=8), [0])
    swapped, _ = surgery.swap(engine, trace, 0, trace, 1)
    np.testing.assert_array_equal(swapped.attention[:, 0], trace.attention[:, 1])
    np.testing.assert_array_equal(swapped.slots[:, 1], trace.slots[:, 0])
    assert swapped.enabled == (True, False, True)
    np.testing.assert_allclose(swapped.composite(), trace.composite(), atol=1e-6)


def test_reconverge_needs_an_iteration(engine: Engine, scene: np.ndarray) -> None:
    with pytest.raises(SlotviewerError, match="at least one iteration"):
        surgery.reconverge(engine, engine.run(scene, seed=0), iters=0)

"""What the engine accepts and refuses: slot and iteration limits, learned queries, timings that add up."""

import dataclasses

import numpy as np
import pytest

from slotviewer.engine import Engine
from slotviewer.engine.engine import MAX_SLOTS
from slotviewer.errors import SlotviewerError
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.weights import save_model
from tests.test_train import TINY_TETROMINOES


def test_slot_count_limits(engine: Engine, scene: np.ndarray) -> None:
    assert MAX_SLOTS == 32
    trace = engine.run(scene, slots=MAX_SLOTS, iters=1, seed=0)
    assert trace.num_slots == 32 and trace.rgb.shape[0] == 32
    np.testing.assert_allclose(trace.attention.sum(axis=1), 1.0, atol=1e-5)
    trace = engine.run(scene, slots=1, iters=1, seed=0)
    np.testing.assert_allclose(trace.attention, 1.0, atol=1e-6)  # one slot takes every position
    for bad in (33, 0, -1):
        with pytest.raises(SlotviewerError, match=rf"number of slots must be 1\.\.32, got {bad}"):
            engine.run(scene, slots=bad)


def test_iteration_limits(engine: Engine, scene: np.ndarray) -> None:
    assert engine.run(scene, iters=50, seed=0, slots=2).attention.shape[0] == 50
    for bad in (51, -1):
        with pytest.raises(SlotviewerError, match=rf"iterations must be 0\.\.50, got {bad}"):
            engine.run(scene, iters=bad)
    none = engine.run(scene, iters=0, seed=1)
    assert none.attention.shape[0] == 0 and none.slots.shape[0] == 1


def test_kmeans_has_the_same_limits(engine: Engine, scene: np.ndarray) -> None:
    with pytest.raises(SlotviewerError, match="number of slots"):
        engine.run(scene, slots=33, method="kmeans")
    with pytest.raises(SlotviewerError, match="iterations"):
        engine.run(scene, iters=51, method="soft-kmeans")


@pytest.fixture(scope="module")
def learned_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    stem = tmp_path_factory.mktemp("learned") / "learned"
    save_model(SlotAutoencoder(dataclasses.replace(TINY_TETROMINOES, slot_init="learned", implicit=True)), stem)
    return Engine.load(stem, "torch", "cpu")


def test_learned_queries_fix_k(learned_engine: Engine, scene: np.ndarray) -> None:
    assert learned_engine.fixed_slots
    assert learned_engine.run(scene, seed=0).num_slots == 3
    assert learned_engine.run(scene, slots=3, seed=0).num_slots == 3
    for k in (2, 4):
        with pytest.raises(SlotviewerError, match=f"learned 3 slot queries; it cannot run with {k} slots"):
            learned_engine.run(scene, slots=k)
    # k-means has no queries: any K is fine on the same model
    assert learned_engine.run(scene, slots=5, seed=0, method="kmeans").num_slots == 5


def test_learned_queries_ignore_the_seed(learned_engine: Engine, scene: np.ndarray) -> None:
    a, b = learned_engine.run(scene, seed=1), learned_engine.run(scene, seed=2)
    np.testing.assert_array_equal(a.slots, b.slots)


def test_gaussian_slots_follow_the_seed(torch_engine: Engine, scene: np.ndarray) -> None:
    assert not torch_engine.fixed_slots
    a, b = torch_engine.run(scene, seed=1), torch_engine.run(scene, seed=2)
    assert np.abs(a.slots[0] - b.slots[0]).max() > 0.1


def test_timings_add_up(engine: Engine, scene: np.ndarray) -> None:
    t = engine.run(scene, seed=0).timings_ms
    assert set(t) == {"preprocess", "forward", "total"}
    assert min(t.values()) >= 0
    assert t["total"] == pytest.approx(t["preprocess"] + t["forward"], rel=1e-6, abs=1e-6)


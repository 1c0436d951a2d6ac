"""What `Engine.run` reports beyond the pictures: timings that add up, the iteration limit's edge, k-means
traces built from their own last responsibilities, and decoding refused for k-means."""

import time

import numpy as np
import pytest

from slotviewer.engine import Engine
from slotviewer.engine.kmeans import render_clusters
from slotviewer.engine.preprocess import model_input
from slotviewer.errors import SlotviewerError


@pytest.mark.parametrize("carried", [False, True])
def test_timings_add_up_to_the_wall_clock(engine: Engine, scene: np.ndarray, carried: bool) -> None:
    init = engine.run(scene, seed=0).slots[-1] if carried else None
    start = time.perf_counter()
    trace = engine.run(scene, seed=1, init_slots=init, iters=2)
    wall_ms = (time.perf_counter() - start) * 1e3
    t = trace.timings_ms
    assert t["preprocess"] > 0 and t["forward"] > 0
    assert t["preprocess"] + t["forward"] == pytest.approx(t["total"], abs=1e-9)
    assert t["total"] <= wall_ms
    assert t["forward"] > 0.05, "milliseconds: a forward pass takes more than 50 µs"


def test_fifty_iterations_is_the_limit_itself(engine: Engine, scene: np.ndarray) -> None:
    assert engine.run(scene, seed=0, iters=50).iterations == 50
    with pytest.raises(SlotviewerError, match=r"^iterations must be 0\.\.50, got 51$"):
        engine.run(scene, seed=0, iters=51)


@pytest.mark.parametrize("method", ["kmeans", "soft-kmeans"])
def test_kmeans_traces_are_their_last_responsibilities_rendered(engine: Engine, scene: np.ndarray,
                                                               method: str) -> None:
    cfg = engine.config
    trace = engine.run(scene, seed=3, iters=4, method=method, slots=3)
    f = cfg.feature_size
    rgb, logits = render_clusters(trace.attention[-1].reshape(3, f, f), model_input(scene, cfg.resolution)[0],
                                  cfg.resolution)
    np.testing.assert_allclose(trace.rgb, rgb, atol=1e-6)
    np.testing.assert_allclose(trace.alpha_logits, logits, atol=1e-5)
    sa = engine.run(scene, seed=3)
    np.testing.assert_allclose(trace.features, sa.features, atol=1e-5)  # the same encoder features
    again, other = engine.run(scene, seed=3, iters=4, method=method, slots=3), engine.run(
        scene, seed=4, iters=4, method=method, slots=3)
    assert np.array_equal(again.attention, trace.attention), "the seed makes k-means repeatable"
    assert not np.array_equal(other.attention, trace.attention), "and another seed starts elsewhere"


def test_soft_and_hard_kmeans_differ_and_zero_iterations_is_one_uniform_cluster(engine: Engine,
                                                                                scene: np.ndarray) -> None:
    hard = engine.run(scene, seed=3, iters=3, method="kmeans", slots=3)
    soft = engine.run(scene, seed=3, iters=3, method="soft-kmeans", slots=3)
    assert set(np.unique(hard.attention)) <= {0.0, 1.0} and not set(np.unique(soft.attention)) <= {0.0, 1.0}
    none = engine.run(scene, seed=3, iters=0, method="kmeans", slots=3)
    assert none.iterations == 0
    np.testing.assert_allclose(none.alpha(), 1 / 3, atol=1e-6)
    mean_colour = model_input(scene, engine.config.resolution)[0].reshape(3, -1).mean(1)
    np.testing.assert_allclose(none.rgb[0, 0, 0], mean_colour, atol=1e-5)


def test_k_means_cannot_be_decoded_and_an_unmarked_trace_can(engine: Engine, scene: np.ndarray) -> None:
    km = engine.run(scene, seed=1, iters=2, method="kmeans")
    with pytest.raises(SlotviewerError, match="^k-means centroids live in feature space; there is no decoder"):
        engine.decode_iteration(km, 1)
    assert engine.decode_iterations(km) == []
    sa = engine.run(scene, seed=1, iters=2)
    unmarked = sa.replace(provenance={})  # older traces carry no method: they are Slot Attention's
    rgb, _ = engine.decode_iteration(unmarked, 1)
    np.testing.assert_allclose(rgb, engine.decode(sa.slots[1])[0], atol=1e-6)
    assert len(engine.decode_iterations(unmarked)) == 2
    assert engine.decode_iterations(engine.run(scene, seed=1, iters=0)) == []
    one = engine.run(scene, seed=1, iters=1)
    (rgb, _), = engine.decode_iterations(one)  # one iteration: the initial slots are decoded
    np.testing.assert_allclose(rgb, engine.decode(one.slots[0])[0], atol=1e-6)
    attention, history = engine.iterate(one.features, one.slots[-1].astype(np.float64), 1, one.key_features)
    assert attention.shape == (1, *one.attention.shape[1:]) and history.dtype == np.float32


def test_an_unknown_method_lists_the_known_ones(engine: Engine, scene: np.ndarray) -> None:
    with pytest.raises(SlotviewerError, match=r"^unknown method 'dbscan'; choose from slot-attention, soft-kmeans, "
                                              r"kmeans$"):
        engine.run(scene, method="dbscan")


def test_new_seeds_are_fresh_31_bit_numbers() -> None:
    from slotviewer.engine.engine import new_seed

    seeds = [new_seed() for _ in range(30)]
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) == 30 and max(seeds) > 2**20


def test_the_default_model_and_backend_and_what_the_provenance_names() -> None:
    engine = Engine.load()
    assert engine.backend.model_name == "shapes" and engine.backend.name == "onnx"
    assert engine.provenance()["slot_init"] == engine.config.slot_init == "gaussian"
    with pytest.raises(SlotviewerError, match=r"^unknown backend 'tf'; use auto, onnx, torch$"):
        Engine.load("shapes", "tf")


def test_carried_slots_one_slot_and_a_learned_query_model(engine: Engine, scene: np.ndarray) -> None:
    d = engine.config.slot_dim
    one = engine.run(scene, init_slots=np.zeros((1, d), np.float32), iters=1)
    assert one.num_slots == 1 and np.array_equal(one.image, model_input(scene, engine.config.resolution)[1])
    learned = Engine.load("tetrominoes", "onnx", "cpu")
    assert learned.fixed_slots
    k = learned.config.num_slots
    ok = learned.run(scene, init_slots=learned.run(scene, seed=0).slots[-1], iters=1)
    assert ok.num_slots == k
    with pytest.raises(SlotviewerError, match=rf"^tetrominoes runs with {k} slots, got {k - 1} initial slots$"):
        learned.run(scene, init_slots=np.zeros((k - 1, learned.config.slot_dim), np.float32))

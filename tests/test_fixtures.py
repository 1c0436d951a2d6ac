"""The test model really has pictures with content, on both backends (else every picture test is hollow)."""

import numpy as np
import pytest

from slotviewer.engine import Engine
from tests.fixtures import assert_distinct, assert_not_flat


@pytest.mark.parametrize("seed", range(8))
def test_every_slot_has_its_own_colour_and_region(engine: Engine, scene: np.ndarray, seed: int) -> None:
    trace = engine.run(scene, seed=seed)
    assert_not_flat(trace.composite(), what="reconstruction")
    assert_distinct(trace.rgb.clip(0, 1), what="slot colours")
    assert_distinct(trace.alpha(), what="slot masks")
    assert set(np.unique(trace.labels())) == set(range(trace.num_slots)), "every slot wins some pixels"
    assert_not_flat(trace.attention[-1], min_std=0.02, what="attention")


def test_iterations_decode_differently(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=3)
    decoded = [rgb for rgb, _ in engine.decode_iterations(trace)] + [trace.rgb]
    assert_distinct(np.stack(decoded).clip(0, 1), min_difference=0.02, what="iterations' slot colours")


def test_assertions_reject_flat_and_alike_pictures() -> None:
    with pytest.raises(AssertionError, match="flat"):
        assert_not_flat(np.full((8, 8, 3), 0.7))
    with pytest.raises(AssertionError, match="black"):
        assert_not_flat(np.random.default_rng(0).random((8, 8)) * 0.1 - 0.1, min_std=0.01)
    with pytest.raises(AssertionError, match="alike"):
        assert_distinct(np.stack([np.eye(4), np.eye(4), np.zeros((4, 4))]))
    assert_not_flat(np.eye(8, dtype=np.uint8) * 255)

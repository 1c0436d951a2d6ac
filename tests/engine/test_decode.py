"""Decoding slots and compositing: every iteration decodes its own slots, in order, and the composite is the
alpha-weighted sum of the slot pictures (on the colourful test model, so a wrong picture cannot hide)."""

import numpy as np
import pytest

from slotviewer.engine import Engine
from slotviewer.engine.trace import composite, masked_alpha, softmax
from tests.fixtures import assert_distinct, assert_not_flat


def test_each_iteration_decodes_its_own_slots_in_order(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=3, iters=4)
    decoded = engine.decode_iterations(trace)
    assert len(decoded) == trace.iterations == 4
    assert_distinct(np.stack([rgb for rgb, _ in decoded]).clip(0, 1), min_difference=0.02, what="iterations")
    for t, (rgb, alpha_logits) in enumerate(decoded):
        own_rgb, own_logits = engine.decode(trace.slots[t])
        np.testing.assert_allclose(rgb, own_rgb, atol=1e-5)
        np.testing.assert_allclose(alpha_logits, own_logits, atol=1e-4)
        single = engine.decode_iteration(trace, t)
        np.testing.assert_allclose(single[0], own_rgb, atol=1e-5)
    last_rgb, last_logits = engine.decode_iteration(trace, 4)
    np.testing.assert_allclose(last_rgb, trace.rgb, atol=1e-5)  # the last iteration is the run's own decode
    np.testing.assert_allclose(last_logits, trace.alpha_logits, atol=1e-4)
    assert engine.decode_iterations(engine.run(scene, seed=3, iters=0)) == []


def test_composite_is_the_alpha_weighted_sum(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=2)
    picture = trace.composite()
    assert_not_flat(picture)
    alpha = softmax(trace.alpha_logits, axis=0)
    np.testing.assert_allclose(picture, (alpha[..., None] * trace.rgb).sum(0), atol=1e-5)
    for k in range(trace.num_slots):  # not any single slot's picture
        assert np.abs(picture - trace.rgb[k]).max() > 0.05
    enabled = np.array([True, False, True])
    sub = softmax(trace.alpha_logits[enabled], axis=0)
    expected = (sub[..., None] * trace.rgb[enabled]).sum(0)
    np.testing.assert_allclose(trace.composite(enabled), expected, atol=1e-5)
    np.testing.assert_allclose(composite(trace.rgb, trace.alpha_logits, enabled), expected, atol=1e-5)
    np.testing.assert_allclose(masked_alpha(trace.alpha_logits, enabled)[1], 0.0)
    assert (trace.composite(np.zeros(3, bool)) == 0).all()


def test_composite_survives_underflow_exactly() -> None:
    """Logits so far apart that exp underflows for the enabled slots: the exact softmax takes over."""
    from slotviewer.engine.trace import Trace

    logits = np.zeros((2, 2, 2), np.float32)
    logits[0] = 0.0
    logits[1] = -200.0  # exp(-200) underflows in float32 relative to slot 0
    rgb = np.stack([np.full((2, 2, 3), 0.2, np.float32), np.full((2, 2, 3), 0.9, np.float32)])
    trace = Trace(image=np.zeros((2, 2, 3), np.uint8), features=np.zeros((1, 4), np.float32),
                  attention=np.zeros((0, 2, 1, 1), np.float32), slots=np.zeros((1, 2, 4), np.float32), rgb=rgb,
                  alpha_logits=logits)
    np.testing.assert_allclose(trace.composite(), 0.2, atol=1e-6)
    np.testing.assert_allclose(trace.composite(np.array([False, True])), 0.9, atol=1e-6)
    labels = trace.labels(np.array([False, True]))
    assert (labels == 1).all() and (trace.labels() == 0).all()


def test_re_composite_cache_follows_replaced_pictures(torch_engine: Engine, scene: np.ndarray) -> None:
    """`Trace.replace` keeps the cached exponentials only while the pictures stay: new rgb or alpha logits
    must never be composited with the old ones."""
    trace = torch_engine.run(scene, seed=8)
    trace.composite()  # fills the cache
    hidden = trace.replace(enabled=(True, False, True))
    np.testing.assert_allclose(hidden.composite(), composite(trace.rgb, trace.alpha_logits, hidden._mask(None)),
                               atol=1e-5)
    for change in ({"rgb": trace.rgb[::-1].copy()}, {"alpha_logits": trace.alpha_logits[::-1].copy()}):
        new = trace.replace(**change)
        np.testing.assert_allclose(new.composite(), composite(new.rgb, new.alpha_logits), atol=1e-5)
        assert np.abs(new.composite() - trace.composite()).max() > 0.01
    nothing = trace.composite(np.zeros(3, bool))
    assert nothing.shape == (35, 35, 3) and nothing.dtype == np.float32 and not nothing.any()
    assert trace.labels().dtype == np.uint8


def test_reordered_trace_moves_every_per_slot_array_together(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=0)
    k = trace.num_slots
    trace = trace.replace(enabled=tuple(i != 1 for i in range(k)))
    order = np.roll(np.arange(k), 1)
    moved = trace.reordered(order)
    assert np.array_equal(moved.attention, trace.attention[:, order])
    assert np.array_equal(moved.slots, trace.slots[:, order])
    assert np.array_equal(moved.rgb, trace.rgb[order])
    assert np.array_equal(moved.alpha_logits, trace.alpha_logits[order])
    assert moved.enabled == tuple(trace.enabled[i] for i in order)
    assert np.allclose(moved.composite(), trace.composite(), atol=1e-6)  # a rename changes no picture
    assert trace.reordered(np.arange(k)) is trace
    with pytest.raises(ValueError, match="not an order"):
        trace.reordered(np.zeros(k, int))

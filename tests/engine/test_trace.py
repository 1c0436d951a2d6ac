"""Trace's own arithmetic, on hand-made arrays: the softmax over slots, re-composites that follow a slider
(cached exponentials, exact where they underflow), masks given as 0/1, renaming slots, the copy cache."""

import numpy as np
import pytest

import slotviewer.engine.trace as trace_module
from slotviewer.engine.trace import Trace, composite, masked_alpha, softmax


def make_trace(k: int = 3, r: int = 4, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    return Trace(image=np.zeros((r, r, 3), np.uint8), features=rng.random((r * r, 8), dtype=np.float32),
                 attention=rng.random((2, k, r, r), dtype=np.float32),
                 slots=rng.random((3, k, 8), dtype=np.float32),
                 rgb=rng.random((k, r, r, 3), dtype=np.float32),
                 alpha_logits=rng.normal(0, 3, (k, r, r)).astype(np.float32))


def test_softmax_shifts_each_column_by_its_own_maximum() -> None:
    """A column far below the others must not underflow to 0/0 (a shift by the global maximum would)."""
    logits = np.array([[0.0, -1000.0], [0.0, -1001.0]])
    out = softmax(logits, axis=0)
    np.testing.assert_allclose(out, [[0.5, 1 / (1 + np.exp(-1))], [0.5, np.exp(-1) / (1 + np.exp(-1))]])


def test_softmax_over_a_later_axis() -> None:
    logits = np.log(np.array([[1.0, 3.0, 4.0], [2.0, 2.0, 6.0]]))  # 2 × 3: rows sum to 8 and 10
    np.testing.assert_allclose(softmax(logits, axis=1), [[1 / 8, 3 / 8, 4 / 8], [0.2, 0.2, 0.6]])
    np.testing.assert_allclose(softmax(logits, axis=-1).sum(axis=1), 1.0)


def test_enabled_must_name_every_slot() -> None:
    t = make_trace()
    with pytest.raises(ValueError, match=r"^enabled has 2 entries for 3 slots$"):
        t.replace(enabled=(True, False))


def test_a_mask_of_zeros_and_ones_means_the_same_as_booleans() -> None:
    t = make_trace()
    as_bool, as_int = np.array([True, False, True]), np.array([1, 0, 1])
    np.testing.assert_array_equal(t.composite(as_int), t.composite(as_bool))
    np.testing.assert_array_equal(t.alpha(as_int), t.alpha(as_bool))
    np.testing.assert_array_equal(masked_alpha(t.alpha_logits, as_int), masked_alpha(t.alpha_logits, as_bool))
    assert not t.alpha(as_int)[1].any() and np.allclose(t.alpha(as_int).sum(axis=0), 1)


def test_a_slider_recomposite_uses_the_cached_exponentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hiding a slot that wins some pixels leaves sums below 1 there, far from underflow: no exact pass."""
    t = make_trace()
    expected = composite(t.rgb, t.alpha_logits, np.array([False, True, True]))
    monkeypatch.setattr(trace_module, "composite", lambda *a: pytest.fail("the exact path ran"))
    np.testing.assert_allclose(t.composite(np.array([False, True, True])), expected, rtol=1e-5, atol=1e-6)


def test_where_every_enabled_slot_underflows_the_composite_is_exact() -> None:
    t = make_trace()
    logits = t.alpha_logits.copy()
    logits[0] = 200.0  # slot 0 wins everywhere by e^200: the others' cached exponentials are 0
    t = t.replace(alpha_logits=logits)
    out = t.composite(np.array([False, True, True]))
    np.testing.assert_allclose(out, composite(t.rgb, t.alpha_logits, np.array([False, True, True])), rtol=1e-6)
    assert np.isfinite(out).all() and out.any()


def test_renaming_slots_accepts_any_integer_valued_order() -> None:
    t = make_trace()
    moved = t.reordered(np.array([2.0, 0.0, 1.0]))
    np.testing.assert_array_equal(moved.rgb, t.rgb[[2, 0, 1]])
    np.testing.assert_array_equal(moved.attention, t.attention[:, [2, 0, 1]])


def test_a_copy_keeps_the_recomposite_cache_only_while_the_decode_is_the_same() -> None:
    t = make_trace()
    t.composite()
    cached = t.__dict__["_exp_weights"]
    assert t.replace(enabled=(True, False, True)).__dict__.get("_exp_weights") is cached
    assert "_exp_weights" not in t.replace(rgb=t.rgb * 0.5).__dict__
    assert "_exp_weights" not in t.replace(alpha_logits=t.alpha_logits + 1).__dict__
    np.testing.assert_allclose(t.replace(rgb=t.rgb * 0.5).composite(), t.composite() * 0.5, rtol=1e-5)


def tie_trace() -> Trace:
    """Two slots nearly tied over the left half (alpha 0.51 against 0.49), slot 1 clearly ahead on the right."""
    alpha = np.zeros((3, 2, 2), np.float32) + 1e-3
    alpha[0, :, 0], alpha[1, :, 0] = 0.51, 0.49
    alpha[1, :, 1] = 0.9
    trace = make_trace(k=3, r=2)
    return trace.replace(alpha_logits=np.log(alpha / alpha.sum(axis=0)).astype(np.float32))


def test_sticky_labels_keep_the_last_frames_slot_on_near_ties_only() -> None:
    trace = tie_trace()
    assert trace.labels().tolist() == [[0, 1], [0, 1]]
    held = trace.replace(sticky=np.ones((2, 2), np.uint8))  # slot 1 had every pixel on the last frame
    assert held.labels().tolist() == [[1, 1], [1, 1]]  # 0.49 + margin beats 0.51
    held = trace.replace(sticky=np.full((2, 2), 2, np.uint8))  # slot 2 (alpha ~0) cannot hold anything
    assert held.labels().tolist() == [[0, 1], [0, 1]]
    hidden = trace.replace(sticky=np.ones((2, 2), np.uint8))
    assert hidden.labels(np.array([True, False, True])).tolist() == [[0, 0], [0, 0]]  # a hidden slot holds nothing


def test_renaming_slots_renames_the_sticky_labels() -> None:
    trace = tie_trace().replace(sticky=np.array([[1, 1], [0, 2]], np.uint8))
    renamed = trace.reordered(np.array([2, 0, 1]))  # new slot 0 = old 2, new 1 = old 0, new 2 = old 1
    assert renamed.sticky.tolist() == [[2, 2], [1, 0]]
    assert np.array_equal(np.array([2, 0, 1])[renamed.labels()], trace.labels())  # the same picture, renamed


def disc_and_square() -> tuple[Trace, np.ndarray]:
    """A red square on grey, decoded as the shapes model decodes it: the red slot's alpha a blurry disc
    that spills over the square's corners' surroundings and misses its corners."""
    r = 16
    yy, xx = np.mgrid[0:r, 0:r]
    square = (abs(yy - 7.5) < 5) & (abs(xx - 7.5) < 5)
    target = np.where(square[..., None], [0.9, 0.1, 0.1], [0.5, 0.5, 0.5]).astype(np.float32)
    disc = np.hypot(yy - 7.5, xx - 7.5) < 5.8
    alpha_logits = np.stack([np.where(disc, -2.0, 2.0), np.where(disc, 2.0, -2.0)]).astype(np.float32)
    rgb = np.stack([np.full((r, r, 3), 0.5), np.broadcast_to([0.9, 0.1, 0.1], (r, r, 3))]).astype(np.float32)
    trace = Trace(image=(target * 255).astype(np.uint8), features=np.zeros((16, 4), np.float32),
                  attention=np.full((1, 2, 4, 4), 0.5, np.float32), slots=np.zeros((2, 2, 4), np.float32),
                  rgb=rgb, alpha_logits=alpha_logits, target=target)
    return trace, square


def test_posterior_labels_follow_the_pixels_where_the_decoders_mask_is_a_blurry_disc() -> None:
    trace, square = disc_and_square()
    assert not np.array_equal(trace.labels(by="alpha"), square)  # the disc: corners lost, edges overrun
    assert np.array_equal(trace.labels(), square)  # the posterior is the default
    posterior = trace.posterior()
    np.testing.assert_allclose(posterior.sum(0), 1.0, rtol=1e-6)
    assert posterior[1][square].min() > 0.5 and posterior[0][~square].min() > 0.5


def test_the_posterior_leans_on_colour_only_as_far_as_the_reconstruction_earns() -> None:
    """σ² is the reconstruction's error plus the colour tolerance², and misfits count only beyond the best
    slot's plus a dead zone: a colour a little off does not cost its slot a pixel its alpha holds, a clearly
    better one takes it."""
    trace, square = disc_and_square()
    corner = (3, 3)  # inside the square, outside the disc: alpha says grey slot (0) by e⁴
    slightly = trace.rgb.copy()
    slightly[1] += 0.05  # red slot's colour a little off: still far closer to red than grey is
    assert trace.replace(rgb=slightly).labels()[corner] == 1
    variance = float(np.mean((trace.composite() - trace.target) ** 2)) + trace_module.COLOUR_TOLERANCE**2
    misfit = ((trace.rgb - trace.target[None]) ** 2).sum(-1) / (2 * variance)
    beyond = np.maximum(misfit - misfit.min(0) - trace_module.COLOUR_DEAD_ZONE, 0)
    np.testing.assert_allclose(trace.posterior(), masked_alpha(trace.alpha_logits - beyond), rtol=1e-5)
    # equal colours: the colour cannot tell the slots apart, and the alpha decides
    same = trace.replace(rgb=np.repeat(trace.rgb[1:], 2, axis=0))
    np.testing.assert_allclose(same.posterior(), same.alpha(), rtol=1e-5)
    # two greys a hair apart (inside the dead zone) on the background: the alpha decides there as well
    near = trace.rgb.copy()
    near[1] = trace.rgb[0] + 0.02
    background = trace.replace(rgb=near)
    np.testing.assert_allclose(background.posterior()[:, ~square], background.alpha()[:, ~square], rtol=1e-5)


def test_posterior_labels_leave_hidden_slots_out_and_fall_back_to_alpha_without_a_target() -> None:
    trace, square = disc_and_square()
    assert (trace.labels(np.array([True, False])) == 0).all()
    assert np.allclose(trace.posterior(np.array([True, False]))[1], 0)
    plain = trace.replace(target=None)
    assert np.array_equal(plain.labels(), plain.labels(by="alpha"))
    with pytest.raises(ValueError, match="labels by 'colour'"):
        trace.labels(by="colour")


def test_a_copy_keeps_the_posterior_only_while_what_it_depends_on_is_the_same() -> None:
    trace, _ = disc_and_square()
    cached = trace.posterior()
    assert trace.replace(sticky=np.zeros((16, 16), np.uint8)).posterior() is cached  # a video frame's labels
    assert trace.replace(image=np.zeros((5, 5, 3), np.uint8)).posterior() is cached  # and its full-size copy
    hidden = trace.replace(enabled=(True, False))
    assert hidden.posterior() is not cached and np.allclose(hidden.posterior()[1], 0)
    brighter = trace.replace(target=np.clip(trace.target + 0.3, 0, 1))
    np.testing.assert_allclose(brighter.posterior(), trace_module.posterior(trace.rgb, trace.alpha_logits,
                                                                             brighter.target), rtol=1e-6)
    assert not np.allclose(trace.replace(rgb=trace.rgb[::-1]).posterior(), cached)


def test_posterior_labels_hold_the_last_frames_slot_by_a_wider_margin_than_alpha() -> None:
    """The posterior is sharper than the alpha, so its near-ties are wider (`STICKY_MARGINS`). Two slots of
    one colour: the colour cannot tell them apart and the posterior equals the alpha, 0.55 against 0.45."""
    alpha = np.array([[[0.55, 0.95]], [[0.45, 0.05]]], np.float32)  # [K=2, 1, 2]: a near-tie and a clear win
    grey = np.full((2, 1, 2, 3), 0.5, np.float32)
    trace = Trace(image=np.zeros((1, 2, 3), np.uint8), features=np.zeros((1, 4), np.float32),
                  attention=np.full((1, 2, 1, 1), 0.5, np.float32), slots=np.zeros((2, 2, 4), np.float32),
                  rgb=grey, alpha_logits=np.log(alpha), target=grey[0])
    np.testing.assert_allclose(trace.posterior(), alpha, rtol=1e-5)
    held = trace.replace(sticky=np.ones((1, 2), np.uint8))  # slot 1 had both pixels on the last frame
    assert trace.labels().tolist() == [[0, 0]]
    assert held.labels().tolist() == [[1, 0]]  # 0.45 + 0.2 beats 0.55; 0.05 + 0.2 does not beat 0.95
    assert held.labels(by="alpha").tolist() == [[0, 0]]  # by alpha the margin is 0.05: 0.5 < 0.55
    assert held.replace(target=None).labels().tolist() == [[0, 0]]  # no target: alpha, and alpha's margin


def test_the_cached_posterior_is_read_only_and_survives_an_unchanged_enabled() -> None:
    trace, _ = disc_and_square()
    cached = trace.posterior()
    with pytest.raises(ValueError, match="read-only"):
        cached[0, 0, 0] = 1.0
    assert trace.replace(enabled=tuple(trace.enabled)).posterior() is cached  # the live view re-applies it

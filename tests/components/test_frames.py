"""`frame_at`: fractional positions blend the two neighbouring iterations, t = 0 is uniform attention."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slotviewer.components.frames import UNDECIDED, frame_at
from slotviewer.components.viewer import RunParams, Viewer
from slotviewer.data import generate


@pytest.fixture
def document(tiny_model: Path) -> Iterator:
    v = Viewer(RunParams(model=str(tiny_model.with_suffix(".onnx")), backend="onnx", device="cpu", seed=3,
                         iters=3))
    v.load_engine()
    assert v.runner.wait_idle()
    v.set_params(iters=3)
    v.show_image(generate("tetrominoes", 1, seed=5)[0][0], "scene")
    assert v.runner.wait_idle()
    doc = v.session.documents["A"]
    assert not any(doc.needs_decode(t) for t in range(doc.trace.iterations + 1))
    yield doc
    v.close()


@pytest.mark.parametrize(("position", "low", "w"), [(1.5, 1, 0.5), (2.25, 2, 0.25), (1.0, 1, 0.0)])
def test_a_fractional_position_blends_its_neighbours(document, position: float, low: int, w: float) -> None:  # noqa: ANN001
    mid, a, b = frame_at(document, position), frame_at(document, low), frame_at(document, low + 1)
    assert mid.position == position and mid.enabled == b.enabled
    for name in ("attention", "alpha", "rgb", "composite"):
        expected = (1 - w) * getattr(a, name) + w * getattr(b, name)
        assert np.allclose(getattr(mid, name), expected, atol=1e-6), name
    assert not np.allclose(a.attention, b.attention), "the iterations differ, so the blend means something"


def test_between_t0_and_t1_the_uniform_attention_fades_into_the_maps(document) -> None:  # noqa: ANN001
    start, first, quarter = frame_at(document, 0), frame_at(document, 1), frame_at(document, 0.25)
    k = document.trace.num_slots
    assert start.attention.shape == (k, 1, 1) and np.allclose(start.attention, 1.0 / k)
    assert quarter.attention.shape == first.attention.shape
    assert np.allclose(quarter.attention, 0.75 / k + 0.25 * first.attention, atol=1e-6)


def test_positions_are_clamped_to_the_run(document) -> None:  # noqa: ANN001
    last = document.trace.iterations
    assert frame_at(document, 99).position == last and frame_at(document, -2).position == 0
    assert np.array_equal(frame_at(document, 99).composite, frame_at(document, last).composite)


def make_frame(attention: np.ndarray, enabled: tuple[bool, ...], alpha: np.ndarray | None = None,  # noqa: ANN201
               posterior: np.ndarray | None = None):
    from slotviewer.components.frames import Frame

    k = len(enabled)
    alpha = np.full((k, 2, 2), 1.0 / k, np.float32) if alpha is None else alpha
    return Frame(1.0, attention.astype(np.float32), alpha, np.zeros((k, 2, 2, 3), np.float32),
                 np.zeros((2, 2, 3), np.float32), enabled, alpha if posterior is None else posterior)


def test_overlays_by_value() -> None:
    from slotviewer.io.render import slot_colours

    colours = slot_colours(3).astype(np.float64)
    attention = np.array([[[0.6, 0.1], [0.2, 0.3]], [[0.3, 0.8], [0.2, 0.3]], [[0.1, 0.1], [0.6, 0.4]]])
    frame = make_frame(attention, (True, True, False))
    argmax = frame.overlay("attention")
    assert argmax.dtype == np.uint8 and argmax.shape == (2, 2, 3)
    # slot 2 is hidden: its 0.6 and 0.4 do not count; the second row ties between the shown slots, which is
    # no claim: the shown slots' mean tint
    tie = ((colours[0] + colours[1]) / 2 + 0.5).astype(np.uint8)
    assert np.array_equal(argmax, np.stack([colours.astype(np.uint8)[[0, 1]], [tie, tie]]))
    blend = frame.overlay("attention-blend")
    w = attention[:2] / attention[:2].sum(0, keepdims=True)
    assert blend.dtype == np.uint8
    assert np.array_equal(blend, (np.einsum("khw,kc->hwc", w, colours[:2]) + 0.5).astype(np.uint8))
    alpha = np.zeros((3, 2, 2), np.float32)
    alpha[1] = 1.0
    assert np.array_equal(make_frame(attention, (True, True, True), alpha).overlay("alpha"),
                          np.broadcast_to(colours[1].astype(np.uint8), (2, 2, 3)))
    assert make_frame(attention, (False, False, False)).overlay("attention") is None


def test_at_t0_the_overlay_is_the_mean_colour_of_the_visible_slots() -> None:
    from slotviewer.io.render import slot_colours

    colours = slot_colours(3).astype(np.float64)
    uniform = np.full((3, 2, 2), 1 / 3)
    frame = make_frame(uniform, (True, False, True))
    tint = frame.overlay("attention")
    assert tint.dtype == np.uint8
    expected = ((colours[0] + colours[2]) / 2 + 0.5).astype(np.uint8)
    assert np.array_equal(tint, np.broadcast_to(expected, (2, 2, 3)))
    alpha = np.zeros((3, 2, 2), np.float32)
    alpha[2] = 1.0
    decided = make_frame(uniform, (True, False, True), alpha).overlay("alpha")  # the decoder's masks still show
    assert np.array_equal(decided, np.broadcast_to(colours[2].astype(np.uint8), (2, 2, 3)))
    decided_here = uniform.copy()
    decided_here[0, 0, 0] += 2 * UNDECIDED  # one pixel where slot 0 leads by enough to count: argmax there only
    shown = make_frame(decided_here, (True, False, True)).overlay("attention")
    assert np.array_equal(shown[0, 0], colours[0].astype(np.uint8))
    assert np.array_equal(shown[1:], np.broadcast_to(expected, (1, 2, 3)))


def test_on_a_flat_image_noise_in_the_attention_claims_no_pixels() -> None:
    """A flat grey image leaves every slot's share at ~1/K after all iterations (entropy log K): the argmax
    of that noise painted arbitrary regions in slot colours; undecided pixels keep the uniform tint."""
    from slotviewer.io.render import slot_colours

    rng = np.random.default_rng(0)
    flat = np.full((6, 8, 8), 1 / 6) + rng.uniform(-0.004, 0.004, (6, 8, 8))
    flat /= flat.sum(0)
    tint = (slot_colours(6).astype(np.float64).mean(0) + 0.5).astype(np.uint8)
    assert np.array_equal(make_frame(flat, (True,) * 6).overlay("attention"), np.broadcast_to(tint, (8, 8, 3)))


def test_slot_maps_scale_attention_to_the_iterations_peak() -> None:
    from slotviewer.io.render import slot_colours

    attention = np.array([[[0.5, 0.25], [0.0, 0.0]], [[0.5, 0.75], [1.0, 1.0]]])
    frame = make_frame(attention, (True, True))
    att, alpha, rgb = frame.slot_maps(0)
    colour = slot_colours(2)[0].astype(np.float64) / 255
    assert att.dtype == np.uint8
    np.testing.assert_allclose(att[0, 0], colour * 0.5 * 255, atol=1)  # 0.5 of the peak 1.0
    np.testing.assert_allclose(att[1, 1], 0, atol=0)
    assert alpha.shape == (2, 2) and np.all(alpha == 128) and np.all(rgb == 19)  # grey where alpha is low


def test_a_video_frames_alpha_overlay_holds_the_last_frames_slot_on_near_ties() -> None:
    import dataclasses

    from slotviewer.io.render import slot_colours

    colours = slot_colours(3).astype(np.uint8)
    alpha = np.array([[[0.51, 0.1], [0.5, 0.1]], [[0.49, 0.9], [0.5, 0.1]], [[0.0, 0.0], [0.0, 0.8]]], np.float32)
    frame = make_frame(alpha, (True, True, True), alpha)
    assert np.array_equal(frame.overlay("alpha"), colours[[[0, 1], [0, 2]]])
    # labels at the model's 4×4 resolution, read at the overlay's 2×2 grid: slot 1 held every place
    held = dataclasses.replace(frame, sticky=np.ones((4, 4), np.uint8))
    assert np.array_equal(held.overlay("alpha"), colours[[[1, 1], [1, 2]]])  # 0.8 beats 0.1 + margin
    assert np.array_equal(held.overlay("attention"), frame.overlay("attention"))  # attention is shown as it is
    hidden = dataclasses.replace(held, enabled=(True, False, True),
                                 alpha=np.where(np.arange(3)[:, None, None] == 1, 0.0, alpha))
    assert np.array_equal(hidden.overlay("alpha"), colours[[[0, 0], [0, 2]]])  # a hidden slot holds nothing


def test_only_a_video_frames_final_iteration_carries_the_held_labels(document) -> None:  # noqa: ANN001
    last = document.trace.iterations
    assert frame_at(document, last).sticky is None  # a still image holds nothing
    document.trace = document.trace.replace(sticky=np.zeros((document.trace.resolution,) * 2, np.uint8))
    assert frame_at(document, last).sticky is not None
    assert frame_at(document, last - 1).sticky is None and frame_at(document, last - 0.5).sticky is None


def test_the_posterior_overlay_shows_the_posterior_and_holds_like_alpha() -> None:
    import dataclasses

    from slotviewer.io.render import slot_colours

    colours = slot_colours(3).astype(np.uint8)
    alpha = np.zeros((3, 2, 2), np.float32)
    alpha[0] = 1.0
    posterior = np.array([[[0.52, 0.1], [0.1, 0.1]], [[0.48, 0.9], [0.1, 0.1]], [[0.0, 0.0], [0.8, 0.8]]], np.float32)
    frame = make_frame(alpha, (True, True, True), alpha, posterior)
    assert np.array_equal(frame.overlay("alpha"), colours[[[0, 0], [0, 0]]])
    assert np.array_equal(frame.overlay("posterior"), colours[[[0, 1], [2, 2]]])
    held = dataclasses.replace(frame, sticky=np.ones((2, 2), np.uint8))  # slot 1 had every place
    assert np.array_equal(held.overlay("posterior"), colours[[[1, 1], [2, 2]]])  # 0.48 + margin beats 0.52


def test_a_documents_posterior_is_its_traces(document) -> None:  # noqa: ANN001
    trace = document.trace
    frame = frame_at(document, trace.iterations)
    np.testing.assert_allclose(frame.posterior, trace.posterior(), atol=1e-6)
    assert not np.allclose(frame.posterior, frame.alpha, atol=1e-3)  # the colours moved some pixels


def test_a_frame_made_for_another_overlay_leaves_the_posterior_out(document) -> None:  # noqa: ANN001
    last = document.trace.iterations
    lean = frame_at(document, last - 0.5, posterior=False)
    assert lean.posterior is None and lean.overlay("alpha") is not None
    with pytest.raises(ValueError, match="without its posterior"):
        lean.overlay("posterior")
    assert frame_at(document, last - 0.5).posterior is not None

"""Slots over time: `FrameRunner` carry-over and fresh slots; identity on moving shapes; label/overlay helpers."""

import numpy as np
import pytest

from slotviewer.data.moving_shapes import MovingShapes, identity_switches
from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError
from slotviewer.io.render import slot_colours
from slotviewer.video import (
    MASK_PRIOR_FLOOR,
    CarryOver,
    FrameRunner,
    labels_at,
    mask_prior,
    masks_u8,
    overlay,
    redraw_duplicates,
)


def test_first_frame_fresh_then_carried_with_few_iterations(onnx_engine: Engine) -> None:
    clip = MovingShapes(seed=0, height=30, width=50)
    runner = FrameRunner(onnx_engine, CarryOver(True, 1, match=False), iters=3, seed=5)
    first, second = runner.run(clip.frame(0)[0]), runner.run(clip.frame(1)[0])
    assert first.provenance["init"] == "fresh" and first.iterations == 3
    assert second.provenance["init"] == "carried" and second.iterations == 1
    assert np.array_equal(second.slots[0], first.slots[-1])  # frame t's final slots start frame t+1
    assert second.image.shape == (30, 50, 3)  # the trace keeps the full-size frame
    runner.reset()
    assert runner.run(clip.frame(2)[0]).provenance["init"] == "fresh"


def test_fresh_slots_draw_new_slots_every_frame(onnx_engine: Engine) -> None:
    clip = MovingShapes(seed=0)
    runner = FrameRunner(onnx_engine, CarryOver(False), seed=5)
    a, b = runner.run(clip.frame(0)[0]), runner.run(clip.frame(0)[0])
    assert a.provenance["init"] == b.provenance["init"] == "fresh"
    assert not np.array_equal(a.slots[0], b.slots[0])


def test_carried_slots_can_be_renamed_for_edits(onnx_engine: Engine) -> None:
    clip = MovingShapes(seed=0)
    runner = FrameRunner(onnx_engine, CarryOver(True, 1, match=False))
    trace = runner.run(clip.frame(0)[0])
    order = np.array([1, 0, *range(2, trace.num_slots)])
    runner.reorder(order)
    assert np.array_equal(runner.run(clip.frame(1)[0]).slots[0], trace.slots[-1][order])


def test_a_user_swap_survives_slot_matching() -> None:
    """Matching follows the renamed masks too, so it does not undo the swap on the next frame."""
    engine = Engine.load("shapes", "onnx", "cpu")
    image, objects = MovingShapes(seed=0).frame(0)
    plain, swapped = FrameRunner(engine, seed=0), FrameRunner(engine, seed=0)
    plain.run(image)
    second = plain.run(image).labels()
    swapped.run(image)
    a, b = np.unique(second)[:2]
    order = np.arange(engine.config.num_slots)
    order[[a, b]] = order[[b, a]]
    swapped.reorder(order)
    expected = np.where(second == a, b, np.where(second == b, a, second))
    same = swapped.run(image).labels() == expected
    # the objects keep their swapped slots; slots that share the background with near-equal alpha may trade a
    # few pixels (the two runs' masks differ a little: their mask priors were not renamed at the same moment)
    assert np.mean(same[objects > 0]) > 0.99 and np.mean(same) > 0.95


def test_matching_undoes_an_exchange_of_two_slots_by_the_update() -> None:
    """If the carried slots come back exchanged (as one-iteration updates of the shapes model do), the
    frame is renamed to keep each object under its old index; without matching the labels swap. (The mask
    prior and sticky labels are off: they pull an exchanged slot back towards its old pixels too, and would
    blur the comparison.)"""
    engine = Engine.load("shapes", "onnx", "cpu")
    image = MovingShapes(seed=0).frame(0)[0]
    alone = dict(mask_prior=0.0, sticky_labels=False)
    reference = FrameRunner(engine, CarryOver(True, 1, **alone), seed=0, draws=1)  # this case's start
    reference.run(image)
    expected = reference.run(image).labels()
    a, b = np.unique(expected)[:2]
    for match in (True, False):
        runner = FrameRunner(engine, CarryOver(True, 1, match=match, **alone), seed=0, draws=1)
        runner.run(image)
        exchanged = runner.previous.copy()
        exchanged[[a, b]] = exchanged[[b, a]]
        runner.previous = exchanged  # what the model did, not a rename: the masks stay where they were
        labels = runner.run(image).labels()
        same = np.mean(labels == expected)
        assert (same > 0.98) if match else (same < 0.9), (match, same)


def test_collapsed_slots_are_redrawn_from_their_initial_draw() -> None:
    slots = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 0.0], [1.0, 2.0000001]], np.float32)
    initial = np.arange(8, dtype=np.float32).reshape(4, 2) + 10
    out = redraw_duplicates(slots, initial)
    assert np.array_equal(out[[0, 2]], slots[[0, 2]])  # the first of a collapsed group and distinct slots stay
    assert np.array_equal(out[[1, 3]], initial[[1, 3]])
    distinct = slots + np.arange(4, dtype=np.float32)[:, None]
    assert np.array_equal(redraw_duplicates(distinct, initial), distinct)
    assert redraw_duplicates(slots, None) is slots


def test_carry_over_keeps_objects_in_their_slots_far_better_than_fresh_slots() -> None:
    engine = Engine.load("shapes", "onnx", "cpu")  # the trained model: identity needs real segmentation
    clip = MovingShapes(seed=1)
    frames = list(clip.frames(40))
    masks = [m for _, m in frames]
    switches = {}
    for carry in (True, False):
        runner = FrameRunner(engine, CarryOver(carry, 1), seed=0)
        switches[carry] = identity_switches([runner.run(image).labels() for image, _ in frames], masks)
    assert switches[True] <= 2 and switches[False] >= 30, switches


def test_identity_switches_counts_changes_of_the_majority_slot() -> None:
    mask = np.zeros((4, 4), np.uint8)
    mask[:2] = 1
    mask[2:] = 2
    same = np.where(mask == 1, 3, 0).astype(np.uint8)
    moved = np.where(mask == 1, 4, 0).astype(np.uint8)
    assert identity_switches([same, same, moved, moved], [mask] * 4, min_pixels=1) == 1
    assert identity_switches([same, moved], [mask, np.zeros_like(mask)], min_pixels=1) == 0  # object gone


def test_labels_at_the_frame_size_agree_with_the_masks() -> None:
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 256, (5, 8, 8)).astype(np.uint8)
    assert np.array_equal(labels_at(masks, 8, 8), masks.argmax(axis=0))
    big = labels_at(masks, 24, 40)
    assert big.shape == (24, 40) and set(np.unique(big)) <= set(range(5))


def test_overlay_tints_by_slot_and_leaves_hidden_slots_plain() -> None:
    image = np.full((4, 6, 3), 100, np.uint8)
    labels = np.zeros((4, 6), np.uint8)
    labels[:, 3:] = 1
    colours = slot_colours(2)
    out = overlay(image, labels, colours, strength=0.5, hidden=np.array([False, True]))
    assert np.abs(out[0, 0].astype(int) - (100 + colours[0].astype(int)) // 2).max() <= 1
    assert np.array_equal(out[:, 3:], image[:, 3:])


def test_masks_u8_follow_the_enabled_slots(onnx_engine: Engine, scene: np.ndarray) -> None:
    trace = onnx_engine.run(scene, seed=0)
    enabled = np.ones(trace.num_slots, bool)
    enabled[0] = False
    masks = masks_u8(trace, enabled)
    assert masks.dtype == np.uint8 and masks[0].max() == 0
    assert np.abs(masks.astype(int).sum(axis=0) - 255).max() <= trace.num_slots


@pytest.mark.parametrize("count", [0, 3])
def test_negative_iterations_per_frame_are_refused(onnx_engine: Engine, count: int) -> None:
    FrameRunner(onnx_engine, CarryOver(True, count))
    with pytest.raises(SlotviewerError, match="iterations per frame must be ≥ 0, got -1"):
        CarryOver(True, -1)


def test_the_mask_prior_is_the_weighted_log_of_the_masks_at_the_feature_grid() -> None:
    alpha = np.zeros((2, 8, 8), np.float32)
    alpha[0, :4], alpha[1, 4:] = 1.0, 1.0
    alpha[0, 4:6, :2] = 0.5  # one 2×2 cell half owned by slot 0
    bias = mask_prior(alpha, 4, 3.0)
    assert bias.shape == (2, 4, 4) and bias.dtype == np.float32
    assert np.allclose(bias[0, :2], 0.0) and np.allclose(bias[1, 2:, 1:], 0.0)
    assert np.isclose(bias[0, 2, 0], 3.0 * np.log(0.5))
    assert np.allclose(bias[0, 3], 3.0 * np.log(MASK_PRIOR_FLOOR))  # floored: never ruled out entirely
    assert np.array_equal(mask_prior(alpha[:, ::2, ::2], 4, 2.0), 2.0 * np.log(np.clip(alpha[:, ::2, ::2],
                                                                                       MASK_PRIOR_FLOOR, 1)))


def test_carried_frames_get_the_last_frames_masks_as_their_prior(onnx_engine: Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    clip = MovingShapes(seed=0)
    runner = FrameRunner(onnx_engine, CarryOver(True, 1, match=False, mask_prior=2.5))
    seen = []
    run = onnx_engine.run
    monkeypatch.setattr(onnx_engine, "run", lambda *a, **kw: (seen.append(kw.get("attention_bias")), run(*a, **kw))[1])
    first = runner.run(clip.frame(0)[0])
    runner.run(clip.frame(1)[0])
    assert seen[0] is None  # a fresh start has no last frame
    expected = mask_prior(first.alpha(), onnx_engine.config.feature_size, 2.5)
    assert np.array_equal(seen[1], expected)
    off = FrameRunner(onnx_engine, CarryOver(True, 1, mask_prior=0.0))
    off.run(clip.frame(0)[0]), off.run(clip.frame(1)[0])
    assert seen[2] is None and seen[3] is None


@pytest.mark.parametrize("weight", [-0.5, 20.5, float("nan")])
def test_a_mask_prior_out_of_range_is_refused(weight: float) -> None:
    with pytest.raises(SlotviewerError, match=rf"the mask prior must be 0\.\.20, got {weight:g}"):
        CarryOver(True, 1, mask_prior=weight)


def test_the_prior_follows_the_renamed_slots(onnx_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """With matching, frame t+1's slots are renamed before they become the reference: frame t+2's prior is
    built from the masks in the order the trace was returned, the same order as the carried slots."""
    clip = MovingShapes(seed=0)
    runner = FrameRunner(onnx_engine, CarryOver(True, 1, match=True, mask_prior=3.0))
    seen = []
    run = onnx_engine.run
    monkeypatch.setattr(onnx_engine, "run", lambda *a, **kw: (seen.append(kw), run(*a, **kw))[1])
    traces = [runner.run(clip.frame(t)[0]) for t in range(3)]
    expected = mask_prior(traces[1].alpha(), onnx_engine.config.feature_size, 3.0)
    assert np.array_equal(seen[2]["attention_bias"], expected)
    assert np.array_equal(seen[2]["init_slots"], traces[1].slots[-1])


def test_the_mask_prior_keeps_objects_in_their_slots_better_on_moving_shapes() -> None:
    """The shipped model on two identity clips: switches with the default prior against none."""
    engine = Engine.load("shapes", "onnx", "cpu")
    switches = {}
    for weight in (0.0, CarryOver().mask_prior):
        total = 0
        for seed in (0, 4):
            frames = list(MovingShapes(seed=seed).frames(100))
            runner = FrameRunner(engine, CarryOver(True, 1, mask_prior=weight), seed=0)
            total += identity_switches([runner.run(image).labels() for image, _ in frames], [m for _, m in frames])
        switches[weight] = total
    assert switches[CarryOver().mask_prior] * 2 <= switches[0.0], switches


def test_labels_at_keeps_the_sticky_slot_on_near_ties_at_any_size() -> None:
    masks = np.zeros((3, 2, 2), np.uint8)
    masks[0, :, 0], masks[1, :, 0], masks[1, :, 1], masks[2, :, 1] = 130, 125, 230, 25
    assert labels_at(masks, 2, 2).tolist() == [[0, 1], [0, 1]]
    sticky = np.ones((2, 2), np.uint8)
    assert labels_at(masks, 2, 2, sticky).tolist() == [[1, 1], [1, 1]]
    assert (labels_at(masks, 6, 8, sticky) == 1).all()
    assert labels_at(masks, 2, 2, np.full((2, 2), 2, np.uint8)).tolist() == [[0, 1], [0, 1]]  # too weak to hold
    hidden = masks.copy()
    hidden[1] = 0  # a hidden slot's plane is zero: it holds nothing
    assert labels_at(hidden, 2, 2, sticky).tolist() == [[0, 2], [0, 2]]


def test_carried_frames_get_sticky_labels_and_fresh_ones_do_not(onnx_engine: Engine) -> None:
    clip = MovingShapes(seed=0)
    runner = FrameRunner(onnx_engine, CarryOver(True, 1))
    first, second = runner.run(clip.frame(0)[0]), runner.run(clip.frame(1)[0])
    assert first.sticky is None and np.array_equal(second.sticky, first.labels())
    assert np.array_equal(runner.previous_labels, second.labels())
    order = np.array([1, 0, *range(2, second.num_slots)])
    runner.reorder(order)  # a user swap renames the held labels with the slots
    assert np.array_equal(order[runner.previous_labels], second.labels())
    off = FrameRunner(onnx_engine, CarryOver(True, 1, sticky_labels=False))
    off.run(clip.frame(0)[0])
    assert off.run(clip.frame(1)[0]).sticky is None and off.previous_labels is None  # not even computed
    fresh = FrameRunner(onnx_engine, CarryOver(False))
    fresh.run(clip.frame(0)[0])
    assert fresh.run(clip.frame(1)[0]).sticky is None


@pytest.mark.parametrize("by", ["posterior", "alpha"])
def test_written_labels_are_the_traces_own_at_the_models_size(onnx_engine: Engine, by: str) -> None:
    """What `run VIDEO` writes is what the next frame holds on to: the float scores go into `labels_at`, so
    slots that share the background within uint8's step do not break their tie another way (they did: the
    written background changed its slot from the first frame to the second)."""
    runner = FrameRunner(onnx_engine, CarryOver(True, 1), seed=0, label_by=by)
    r = onnx_engine.config.resolution
    for image, _ in MovingShapes(seed=0, height=r, width=r).frames(6):
        trace = runner.run(image)
        assert np.array_equal(labels_at(trace.scores(by=by), r, r, trace.sticky, by), trace.labels(by=by))


def test_an_unknown_label_source_is_refused_before_any_frame(onnx_engine: Engine) -> None:
    with pytest.raises(SlotviewerError, match=r"^labels by 'colour': choose from posterior, alpha$"):
        FrameRunner(onnx_engine, label_by="colour")

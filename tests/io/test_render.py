"""Pictures from traces: slot colours, 8-bit conversion, resizing, masks, labels, the attention overlay."""

import colorsys

import numpy as np
import pytest

from slotviewer.io.render import (
    attention_overlay,
    colour_labels,
    display_size,
    labels_from_masks,
    masks_at,
    resize_uint8,
    slot_colours,
    to_uint8,
)


def test_slot_colours_are_distinct_saturated_and_stable() -> None:
    colours = slot_colours(12)
    assert colours.shape == (12, 3) and colours.dtype == np.uint8
    assert len(np.unique(colours, axis=0)) == 12
    for c in colours:
        h, s, v = colorsys.rgb_to_hsv(*(c / 255))
        assert s > 0.7 and v > 0.99
    np.testing.assert_array_equal(slot_colours(3), colours[:3])  # slot i keeps its colour whatever K is
    assert np.abs(colours[0].astype(int) - colours[1].astype(int)).sum() > 150, "neighbours differ clearly"
    for i, c in enumerate(colours):  # golden-ratio hue steps from 0.08, so slot i has the same hue everywhere
        hue = colorsys.rgb_to_hsv(*(c / 255))[0]
        assert abs((hue - (i * 0.618033988749895 + 0.08) % 1.0 + 0.5) % 1.0 - 0.5) < 0.01, i


def test_to_uint8_rounds_and_clips() -> None:
    out = to_uint8(np.array([-0.5, 0.0, 0.5, 1 / 255 * 0.49, 1 / 255 * 0.51, 1.0, 7.0], np.float32))
    np.testing.assert_array_equal(out, [0, 0, 128, 0, 1, 255, 255])
    assert out.dtype == np.uint8


def test_resize_uint8_bilinear_and_nearest() -> None:
    image = np.array([[0, 255]], np.uint8)
    np.testing.assert_array_equal(resize_uint8(image, 1, 4, nearest=True), [[0, 0, 255, 255]])
    smooth = resize_uint8(image, 1, 4)
    assert smooth[0, 0] < smooth[0, 1] < smooth[0, 2] < smooth[0, 3]
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[:, :, 1] = 200
    out = resize_uint8(rgb, 5, 7)
    assert out.shape == (5, 7, 3) and (out[..., 1] == 200).all() and (out[..., [0, 2]] == 0).all()
    assert resize_uint8(rgb, 2, 3) is rgb


def test_masks_labels_and_colours() -> None:
    alpha = np.zeros((3, 2, 2), np.float32)
    alpha[0, 0, 0] = alpha[1, 0, 1] = alpha[2, 1, :] = 1.0
    masks = masks_at(alpha, 4, 4)
    assert masks.shape == (3, 4, 4) and masks.dtype == np.uint8
    assert masks[0, 0, 0] == 255 and masks[2, 3, 3] == 255 and masks[1, 3, 0] == 0
    labels = labels_from_masks(masks_at(alpha, 2, 2))
    np.testing.assert_array_equal(labels, [[0, 1], [2, 2]])
    colours = slot_colours(3)
    np.testing.assert_array_equal(colour_labels(labels, colours)[0, 1], colours[1])


def test_attention_overlay_tints_each_pixel_with_its_slots_colour() -> None:
    image = np.full((4, 9, 3), 100, np.uint8)
    attention = np.zeros((3, 2, 3), np.float32)  # [K, h, w]: left column slot 0, middle 1, right 2
    for k in range(3):
        attention[k, :, k] = 1.0
    colours = slot_colours(3)
    out = attention_overlay(image, attention, colours, strength=0.5)
    assert out.shape == (4, 9, 3) and out.dtype == np.uint8
    for k, column in enumerate((0, 4, 8)):
        expected = 0.5 * 100 + 0.5 * colours[k].astype(np.float32)
        np.testing.assert_allclose(out[0, column], expected, atol=1.5)
    np.testing.assert_array_equal(attention_overlay(image, attention, colours, strength=0.0), image)
    black = np.zeros_like(image)
    np.testing.assert_array_equal(attention_overlay(black, attention, colours, strength=0.0), black)
    half = np.full((2, 1, 1), 0.5, np.float32)
    two = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    np.testing.assert_allclose(attention_overlay(np.zeros((1, 1, 3), np.uint8), half, two, 1.0)[0, 0],
                               [127, 0, 127], atol=1)


@pytest.mark.parametrize(("size", "expected"), [
    ((35, 35), (256, 256)),  # small outputs scale up to the minimum
    ((1000, 500), (512, 256)),  # big ones down to the maximum, aspect kept
    ((300, 400), (300, 400)),  # in between: as is
    ((1, 2000), (1, 512)),
    ((2000, 1), (512, 1)),
    ((0, 0), (1, 1)),  # an empty picture does not divide by zero
])
def test_display_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert display_size(*size) == expected

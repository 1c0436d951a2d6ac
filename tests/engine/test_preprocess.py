"""The exact values the model sees for every kind of input array (RGBA, 16-bit, float with NaN, grey, bool)."""

import numpy as np
import pytest

from slotviewer.engine.preprocess import model_input, resize_channels, to_float_rgb
from slotviewer.errors import InputError


def test_rgba_is_composited_over_black() -> None:
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 128], [200, 100, 50, 0]]], np.uint8)
    out = to_float_rgb(rgba)
    assert out.shape == (1, 3, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [200 / 255, 100 / 255, 50 / 255], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], np.array([200, 100, 50]) / 255 * 128 / 255, atol=1e-6)
    np.testing.assert_array_equal(out[0, 2], [0, 0, 0])


def test_sixteen_bit_uses_the_full_range() -> None:
    deep = np.array([[0, 257, 32768, 65535]], np.uint16)
    out = to_float_rgb(deep)
    np.testing.assert_allclose(out[0, :, 0], [0, 257 / 65535, 32768 / 65535, 1.0], atol=1e-7)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all(), "grey becomes equal RGB"
    rgb16 = np.zeros((1, 1, 3), np.uint16)
    rgb16[0, 0] = (65535, 0, 13107)
    np.testing.assert_allclose(to_float_rgb(rgb16)[0, 0], [1.0, 0.0, 0.2], atol=1e-6)


def test_float_nan_and_infinities_become_valid_pixels() -> None:
    f = np.array([[[np.nan, np.inf, -np.inf], [0.25, 1.5, -0.5]]], np.float64)
    out = to_float_rgb(f)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out[0, 0], [0.0, 1.0, 0.0])  # NaN → 0, +inf → 1, −inf → 0
    np.testing.assert_array_equal(out[0, 1], [0.25, 1.0, 0.0])  # clipped into [0, 1]
    trace_input, display = model_input(f, 4)
    assert np.isfinite(trace_input).all() and display.dtype == np.uint8
    np.testing.assert_array_equal(display[0, 0], [0, 255, 0])


def test_grey_single_channel_and_bool() -> None:
    grey = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(to_float_rgb(grey)[0, 1], [0.2, 0.2, 0.2], atol=1e-6)
    np.testing.assert_array_equal(to_float_rgb(grey[..., None]), to_float_rgb(grey))
    np.testing.assert_array_equal(to_float_rgb(np.array([[True, False]]))[0], [[1, 1, 1], [0, 0, 0]])


@pytest.mark.parametrize(("image", "message"), [
    (np.zeros((0, 4, 3), np.uint8), "empty image"),
    (np.zeros((4, 4, 2), np.uint8), "expected an H×W, H×W×3 or H×W×4 image"),
    (np.zeros((4, 4, 3), np.int32), "unsupported pixel type int32"),
    (np.zeros((2, 4, 4, 3), np.uint8), "expected an H×W"),
])
def test_unusable_arrays_are_refused(image: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        to_float_rgb(image)


def test_model_input_resizes_and_keeps_a_display_copy() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = (255, 128, 0)  # left half orange
    x, display = model_input(image, 10)
    assert x.shape == (3, 10, 10) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, :, 0], [[1.0] * 10, [128 / 255] * 10, [0.0] * 10], atol=1e-6)
    np.testing.assert_allclose(x[:, :, -1], 0.0, atol=1e-6)
    assert x[0, 0, :4].min() > 0.99 and x[0, 0, 6:].max() < 0.01, "left stays left after the squash"
    np.testing.assert_array_equal(display, image)  # the display copy is the input at its own size
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_display_copy_rounds_to_nearest() -> None:
    _, display = model_input(np.array([[0.5, 0.999, 0.001]], np.float32), 2)
    np.testing.assert_array_equal(display[0, :, 0], [128, 255, 0])


def test_resize_channels_keeps_planes_apart() -> None:
    planes = np.stack([np.zeros((4, 6)), np.ones((4, 6)), np.tile(np.arange(6.0), (4, 1))]).astype(np.float32)
    out = resize_channels(planes, 8, 12)
    assert out.shape == (3, 8, 12)
    np.testing.assert_allclose(out[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)
    assert np.all(np.diff(out[2], axis=1) >= -1e-6) and out[2, :, 0].max() < 0.5 < out[2, :, -1].min()
    same = resize_channels(planes, 4, 6)
    np.testing.assert_array_equal(same, planes)
    assert same is not planes


def test_resize_channels_is_bilinear() -> None:
    """Maps are scaled bilinearly (no bicubic overshoot outside the input's range)."""
    out = resize_channels(np.array([[[0.0, 1.0]]], np.float32), 1, 4)
    np.testing.assert_allclose(out[0, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)

"""What the viewer shows at each iteration is that iteration's own content, on the colourful test model:
decodes in order, the composite of the shown slots, overlays that follow attention and alpha by argmax.
(Helper "tests", issue 14: pictures checked against independent engine calls, never black against black.)"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slotviewer.components.frames import frame_at
from slotviewer.components.viewer import RunParams, Viewer
from slotviewer.engine import Engine
from slotviewer.engine.trace import masked_alpha
from slotviewer.io.render import slot_colours
from tests.fixtures import assert_distinct, assert_not_flat


@pytest.fixture
def viewer(tiny_model: Path, scene: np.ndarray) -> Iterator[Viewer]:
    v = Viewer(RunParams(model=str(tiny_model.with_suffix(".onnx")), backend="onnx", device="cpu", seed=3))
    v.load_engine()
    assert v.runner.wait_idle() and v.engine is not None
    v.show_image(scene, "scene", "A")
    assert v.runner.wait_idle()
    yield v
    v.close()


def test_every_iteration_shows_its_own_decode(viewer: Viewer, onnx_engine: Engine) -> None:
    document = viewer.session.documents["A"]
    trace = document.trace
    assert trace.iterations == 3 and not any(document.needs_decode(t) for t in range(trace.iterations))
    frames = []
    for t in range(trace.iterations + 1):
        viewer.set_position(t)
        frame = viewer.frame("A")
        rgb, alpha_logits = onnx_engine.decode(trace.slots[t])
        np.testing.assert_allclose(frame.rgb, rgb, atol=1e-4, err_msg=f"iteration {t}")
        np.testing.assert_allclose(frame.alpha, masked_alpha(alpha_logits, np.ones(3, bool)), atol=1e-4)
        assert_not_flat(frame.composite, what=f"composite at t={t}")
        if t:
            np.testing.assert_allclose(frame.attention, trace.attention[t - 1], atol=1e-6)
        frames.append(frame.composite)
    assert_distinct(np.stack(frames), min_difference=0.01, what="composites of the iterations")


def test_the_composite_is_of_the_shown_slots(viewer: Viewer) -> None:
    viewer.set_position(viewer.session.documents["A"].trace.iterations)
    viewer.toggle_slot("A", 1, False)
    frame = viewer.frame("A")
    trace = viewer.session.documents["A"].trace
    assert frame.enabled == (True, False, True)
    np.testing.assert_allclose(frame.composite, trace.composite(np.array([True, False, True])), atol=1e-5)
    assert np.abs(frame.composite - trace.composite(np.ones(3, bool))).max() > 0.05
    colours = slot_colours(3).astype(np.float32)
    peak = frame.attention.max()
    for k in range(3):  # each card shows its own slot, not slot 0 everywhere
        attention, mask, rgb = frame.slot_maps(k)
        np.testing.assert_array_equal(mask, (np.clip(frame.alpha[k], 0, 1) * 255 + 0.5).astype(np.uint8))
        # the attention map is slot k's attention, in slot k's colour, scaled to the iteration's peak
        np.testing.assert_allclose(attention.astype(np.float32), frame.attention[k][..., None] / peak * colours[k],
                                   atol=1.0)
        if not frame.enabled[k]:
            continue
        # where slot k owns the pixels, its card shows slot k's decoded colour, not another slot's
        owned = frame.alpha[k] > 0.9
        assert owned.sum() >= 10, f"slot {k} owns a region"
        errors = [np.abs(rgb[owned].astype(np.float32) - np.clip(frame.rgb[j][owned], 0, 1) * 255).mean()
                  for j in range(3)]
        assert int(np.argmin(errors)) == k and errors[k] < 15, (k, errors)


def test_overlays_are_argmax_of_attention_and_alpha(viewer: Viewer) -> None:
    document = viewer.session.documents["A"]
    trace = document.trace
    frame = frame_at(document, trace.iterations)
    colours = slot_colours(3)
    attention_overlay = frame.overlay("attention")
    np.testing.assert_array_equal(attention_overlay, colours[trace.attention[-1].argmax(0)])
    alpha_overlay = frame.overlay("alpha")
    np.testing.assert_array_equal(alpha_overlay, colours[trace.alpha().argmax(0)])
    assert len(np.unique(alpha_overlay.reshape(-1, 3), axis=0)) == 3, "every slot owns a region"

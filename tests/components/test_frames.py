"""`frame_at`: fractional positions blend the two neighbouring iterations, t = 0 is uniform attention."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slotviewer.components.frames import frame_at
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

"""Surgery records what it did and refuses k-means traces on either side (mutation-testing survivors)."""

import numpy as np
import pytest

from slotviewer.engine import Engine, surgery
from slotviewer.errors import SlotviewerError


def test_every_edit_is_recorded_in_order(torch_engine: Engine, scene: np.ndarray) -> None:
    a = torch_engine.run(scene, seed=1)
    b = torch_engine.run(scene[::-1].copy(), seed=2)
    within, same = surgery.swap(torch_engine, a, 0, a, 2)
    assert within is same and within.edits == ("swap slot 0 <-> slot 2",)
    a1, b1 = surgery.swap(torch_engine, a, 1, b, 0)
    assert a1.edits == ("swap slot 1 <-> other image's slot 0",)
    assert b1.edits == ("swap slot 0 <-> other image's slot 1",)
    out = surgery.transplant(torch_engine, a, 2, b, 1)
    assert out.edits == ("transplant other image's slot 2 -> slot 1",)
    # the moved slot brings its mask along (slots decode independently): alpha logits are re-decoded too
    np.testing.assert_allclose(out.alpha_logits[1], a.alpha_logits[2], atol=1e-4)
    np.testing.assert_allclose(out.alpha_logits[[0, 2]], b.alpha_logits[[0, 2]], atol=1e-4)
    assert np.abs(out.alpha_logits[1] - b.alpha_logits[1]).max() > 0.1
    hidden = surgery.remove(within, [1])
    assert hidden.edits == ("swap slot 0 <-> slot 2", "enabled: hide [1]")
    assert surgery.set_enabled(hidden, [True] * 3).edits[-1] == "enabled: all"


def test_k_means_traces_are_refused_on_either_side(torch_engine: Engine, scene: np.ndarray) -> None:
    trace = torch_engine.run(scene, seed=0)
    km = torch_engine.run(scene, seed=0, method="kmeans")
    for call in (lambda: surgery.swap(torch_engine, trace, 0, km, 0),
                 lambda: surgery.swap(torch_engine, km, 0, trace, 0),
                 lambda: surgery.transplant(torch_engine, km, 0, trace, 0),
                 lambda: surgery.transplant(torch_engine, trace, 0, km, 0),
                 lambda: surgery.reconverge(torch_engine, km)):
        with pytest.raises(SlotviewerError, match="k-means"):
            call()


def test_indices_and_flags_are_checked(torch_engine: Engine, scene: np.ndarray) -> None:
    trace = torch_engine.run(scene, seed=0)
    for bad in (-1, 3):
        with pytest.raises(SlotviewerError, match=rf"slot {bad} does not exist \(this trace has slots 0\.\.2\)"):
            surgery.swap(torch_engine, trace, 0, trace, bad)
        with pytest.raises(SlotviewerError, match=f"slot {bad} does not exist"):
            surgery.transplant(torch_engine, trace, bad, trace, 0)
    with pytest.raises(SlotviewerError, match="expected 3 on/off flags, got 2"):
        surgery.set_enabled(trace, [True, False])

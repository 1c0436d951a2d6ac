"""The Qt-free `Viewer`: parameters, position, overlays, invalidation of derived results, edits, familiarity."""

from pathlib import Path

import numpy as np
import pytest

from slotviewer.components.viewer import SAMPLES, RunParams, Viewer, sample_model
from slotviewer.data import generate
from slotviewer.errors import SlotviewerError


def scenes(n: int = 2) -> list[np.ndarray]:
    return list(generate("tetrominoes", n, seed=5)[0])


def show(viewer: Viewer, image: np.ndarray, name: str = "A", source: str = "scene") -> None:
    viewer.show_image(image, source, name)
    assert viewer.runner.wait_idle()


def test_parameters_are_checked_against_the_engine_limits() -> None:
    for bad in ({"slots": 0}, {"slots": 33}, {"iters": 51}, {"seed": -1}, {"method": "dbscan"},
                {"backend": "tf"}, {"device": "tpu"}):
        with pytest.raises(SlotviewerError):
            RunParams(**bad).validate()
    RunParams(slots=32, iters=50).validate()


def test_model_defaults_and_position(viewer: Viewer) -> None:
    cfg = viewer.engine.config
    assert (viewer.params.slots, viewer.params.iters) == (cfg.num_slots, cfg.iters)
    show(viewer, scenes()[0])
    trace = viewer.session.documents["A"].trace
    assert viewer.position == trace.iterations, "a new result is shown at its last iteration"
    viewer.set_position(99)
    assert viewer.position == trace.iterations
    viewer.set_position(-3)
    assert viewer.position == 0
    viewer.step(1)
    assert viewer.iteration == 1
    assert viewer.frame("A").attention.shape == trace.attention.shape[1:]


def test_b_follows_the_scrubber_clamped_to_its_own_iterations(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    viewer.set_params(iters=1)
    assert viewer.runner.wait_idle()
    show(viewer, b, "B")
    viewer.set_params(iters=3)
    assert viewer.runner.wait_idle()
    viewer.set_position(2)
    assert viewer.frame("B").position == 2


def test_overlay_modes_differ_and_t0_is_undecided(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    frame = viewer.frame("A")
    argmax, blend, alpha = (frame.overlay(m) for m in ("attention", "attention-blend", "alpha"))
    assert argmax.shape[:2] == frame.attention.shape[1:] and alpha.shape[:2] == frame.alpha.shape[1:]
    assert len(np.unique(argmax.reshape(-1, 3), axis=0)) > 1
    assert not np.array_equal(argmax, blend)
    viewer.set_position(0)
    start = viewer.frame("A").overlay("attention")
    assert len(np.unique(start.reshape(-1, 3), axis=0)) == 1, "at t = 0 no slot has claimed anything"
    with pytest.raises(SlotviewerError):
        viewer.set_overlay("labels")


def test_hidden_slots_leave_the_attention_overlay(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    before = viewer.frame("A").overlay("attention")
    viewer.toggle_slot("A", 0, False)
    after = viewer.frame("A").overlay("attention")
    from slotviewer.io.render import slot_colours

    colour = slot_colours(viewer.session.documents["A"].trace.num_slots)[0]
    assert (before == colour).all(-1).any() and not (after == colour).all(-1).any()


def test_stability_is_dropped_when_image_model_or_parameters_change(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    viewer.check_stability(2)
    assert viewer.runner.wait_idle() and viewer.stability is not None
    show(viewer, b)
    assert viewer.stability is None, "a new image clears it"
    viewer.check_stability(2)
    assert viewer.runner.wait_idle() and viewer.stability is not None
    viewer.set_params(seed=11)
    assert viewer.stability is None, "new parameters clear it"
    viewer.check_stability(2)
    viewer.set_params(method="kmeans")  # while it runs: its result must not come back
    assert viewer.runner.wait_idle() and viewer.stability is None
    viewer.check_stability(2)
    assert viewer.runner.wait_idle() and viewer.stability is not None
    viewer.set_params(model="tetrominoes")
    assert viewer.stability is None, "another model clears it"
    assert viewer.runner.wait_idle() and viewer.engine.backend.model_name == "tetrominoes"
    assert viewer.stability is None and viewer.session.documents["A"].trace.provenance["model"] == "tetrominoes"


def test_comparison_b_follows_a_new_image(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    viewer.compare("soft-kmeans")
    assert viewer.runner.wait_idle()
    assert viewer.session.documents["B"].trace.provenance["method"] == "soft-kmeans"
    show(viewer, b)
    doc_b = viewer.session.documents["B"]
    assert np.array_equal(doc_b.image, b)
    assert np.array_equal(doc_b.trace.image, viewer.session.documents["A"].trace.image)
    assert doc_b.trace.provenance["method"] == "soft-kmeans"


def test_reconverge_keeps_indices_and_extends_history(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    trace = viewer.session.documents["A"].trace
    viewer.toggle_slot("A", 0, False)
    viewer.reconverge(2)
    assert viewer.runner.wait_idle()
    out = viewer.session.documents["A"].trace
    assert out.num_slots == trace.num_slots and out.enabled[0] is False
    assert out.iterations == trace.iterations + 2 and viewer.position == out.iterations
    assert viewer.params.slots == out.num_slots, "controls and captions agree on K"
    viewer.undo()
    assert viewer.position == viewer.session.documents["A"].trace.iterations == trace.iterations
    viewer.redo()  # at the last iteration before, at the (new) last one after: where the re-converge ends
    assert viewer.session.documents["A"].trace is out and viewer.position == out.iterations
    viewer.set_position(1)
    viewer.undo()
    viewer.redo()  # a scrubber elsewhere stays where it was
    assert viewer.position == 1


def test_an_edit_is_dropped_when_its_image_changed(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    messages: list[str] = []
    viewer.events.message.connect(messages.append)
    viewer.toggle_slot("A", 0, False)
    viewer.reconverge(2)
    viewer.show_image(b, "other")  # before the edit's result is processed
    assert viewer.runner.wait_idle()
    trace = viewer.session.documents["A"].trace
    assert trace.edits == () and trace.iterations == viewer.params.iters
    assert any("edit was dropped" in m for m in messages)


def test_familiarity_notice_for_an_unlike_image(viewer: Viewer) -> None:
    notices: list[str] = []
    viewer.events.notice.connect(notices.append)
    show(viewer, scenes()[0])
    record = viewer.session.documents["A"].trace.provenance["familiarity"]
    assert record["reconstruction_mse"] > 0 and set(record) == {"reconstruction_mse", "typical_mse", "ratio",
                                                                 "unfamiliar"}


def test_samples_name_their_model() -> None:
    assert sample_model(SAMPLES / "tetrominoes.png") == "tetrominoes"
    assert sample_model("/tmp/tetrominoes.png") is None


def test_a_bad_model_keeps_the_previous_one_running(viewer: Viewer, tmp_path: Path) -> None:
    good = viewer.params
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not onnx")
    errors: list[str] = []
    viewer.events.error.connect(errors.append)
    viewer.set_params(model=str(bad))
    assert viewer.runner.wait_idle()
    assert errors and "broken.onnx" in errors[0]
    assert viewer.params == good, "the controls show the model that really runs"
    show(viewer, scenes()[0])
    assert viewer.session.documents["A"].trace is not None, "the previous model still runs images"


def test_a_sample_that_brings_its_own_model_opens_without_an_error() -> None:
    """Opening `samples/tetrominoes.png` while `shapes` (K=6) is loaded switches to tetrominoes (K=4 learned
    queries); the run queued with the old K used to reach the new model and pop up "cannot run with 6 slots"."""
    viewer = Viewer(RunParams(model="shapes", backend="onnx", device="cpu", seed=3))
    errors: list[str] = []
    viewer.events.error.connect(errors.append)
    try:
        viewer.load_engine()
        assert viewer.runner.wait_idle() and viewer.engine.config.num_slots == 6
        viewer.open_path(SAMPLES / "tetrominoes.png")
        assert viewer.runner.wait_idle()
        assert viewer.runner.wait_idle()  # the model's own rerun, queued by its load
        assert errors == []
        assert viewer.params.model == "tetrominoes"
        assert viewer.session.documents["A"].trace.num_slots == 4
    finally:
        viewer.close()

"""What the Qt-free `Viewer` tells its widgets, and the jobs it queues: event payloads (params, engine,
messages, notices, history, position, overlay, frames, stability), job keys and status labels, and the
decisions behind them (learned slot queries, comparisons that follow A, edits dropped when their input
changed, exports that overwrite). The GUI only subscribes; these are the facts it shows."""

import dataclasses
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from slotviewer.components.jobs import Job
from slotviewer.components.viewer import SAMPLES, RunParams, Viewer
from slotviewer.engine.engine import BACKENDS, DEVICES, MAX_ITERS, MAX_SEED, MAX_SLOTS, METHODS
from slotviewer.engine.familiarity import NOTICE
from slotviewer.engine.stability import stability
from slotviewer.errors import SlotviewerError
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.files import copy_model
from slotviewer.model.weights import save_model
from tests.components.test_viewer_edits import events, scenes, show, trace
from tests.test_train import TINY_TETROMINOES


def record_jobs(viewer: Viewer) -> list[Job]:
    jobs: list[Job] = []
    submit = viewer.runner.submit
    viewer.runner.submit = lambda job: (jobs.append(job), submit(job))[1]  # type: ignore[method-assign]
    return jobs


def hold_runner(viewer: Viewer) -> threading.Event:
    """Occupy the worker until the returned event is set (what is queued behind waits, in order)."""
    gate, started = threading.Event(), threading.Event()
    viewer.runner.submit(Job("hold", lambda _e: (started.set(), gate.wait(10)), None, needs_engine=False))
    assert started.wait(10)
    return gate


def test_limits_are_inclusive_and_each_refusal_names_the_limit_and_the_parameters() -> None:
    RunParams(slots=1, iters=0, seed=0).validate()
    RunParams(slots=MAX_SLOTS, iters=MAX_ITERS, seed=MAX_SEED).validate()
    for bad, message in [({"backend": "tf"}, f"backend must be one of {', '.join(BACKENDS)}"),
                         ({"device": "tpu"}, f"device must be one of {', '.join(DEVICES)}"),
                         ({"method": "dbscan"}, f"method must be one of {', '.join(METHODS)}"),
                         ({"slots": 0}, f"slots K must be 1..{MAX_SLOTS}"),
                         ({"iters": -1}, f"iterations T must be 0..{MAX_ITERS}"),
                         ({"seed": MAX_SEED + 1}, f"seed must be 0..{MAX_SEED}")]:
        params = RunParams(**bad)
        with pytest.raises(SlotviewerError, match=f"^{re.escape(f'{message} ({params})')}$"):
            params.validate()


def test_a_new_viewer_starts_at_nothing() -> None:
    v = Viewer()
    try:
        assert (v.engine, v.position, v.overlay, v.opacity) == (None, 0.0, "attention", 0.45)
        assert (v.stability, v.comparison, v.notice) == (None, None, "")
        assert v.frame("A") is None and v.frame("B") is None and v.iterations == 0
        v.toggle_slot("A", 0)  # nothing to edit: no error
        v.run("A")
        jobs = record_jobs(v)
        v.show_image(scenes()[0], "scene.png")  # shown, but nothing to run it with yet
        assert jobs == [] and v.session.documents["A"].trace is None
        v.check_stability(3)  # nor a stability check
        assert jobs == []
    finally:
        v.close()


def test_a_loaded_model_announces_its_parameters_engine_and_description(tiny_model: Path) -> None:
    v = Viewer(RunParams(model=str(tiny_model.with_suffix(".onnx")), backend="onnx", device="cpu"))
    params, engines, messages = events(v, "params"), events(v, "engine"), events(v, "message")
    results = events(v, "stability")
    v.load_engine()
    assert v.runner.wait_idle()
    try:
        assert results == [], "nothing to drop on the first load"
        cfg = v.engine.config
        assert params[-1] == (v.params,) and (v.params.slots, v.params.iters) == (cfg.num_slots, cfg.iters)
        assert engines == [(v.engine,)]
        assert messages == [(f"model ready: {v.engine.description}",)]
        v.set_params(seed=9)
        assert params[-1] == (dataclasses.replace(v.params, seed=9),) and v.params.seed == 9
    finally:
        v.close()


def test_a_run_says_what_ran_where_and_how_long(viewer: Viewer) -> None:
    jobs, messages, frames = record_jobs(viewer), events(viewer, "message"), events(viewer, "frame")
    viewer.show_image(scenes()[0], "scene.png")
    assert viewer.runner.wait_idle()
    assert frames == [("A",)], "redrawn once its iterations are decoded"
    assert [(j.key, j.status) for j in jobs][:1] == [("run:A", "running scene.png…")]
    assert any(j.key == "decode:A" for j in jobs), "the iterations are decoded for scrubbing"
    total = trace(viewer).timings_ms["total"]
    assert (f"A: scene.png in {total:.1f} ms on CPUExecutionProvider",) in messages


def test_a_result_for_an_image_replaced_while_it_ran_is_dropped(viewer: Viewer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    run, gate, started = viewer.engine.run, threading.Event(), threading.Event()

    def slow_once(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not started.is_set():
            started.set()
            assert gate.wait(10)
        return run(*args, **kwargs)

    monkeypatch.setattr(viewer.engine, "run", slow_once)
    messages = events(viewer, "message")
    a, b = scenes()
    viewer.show_image(a, "first.png")
    assert started.wait(10)
    viewer.show_image(b, "second.png")  # while the first still runs
    gate.set()
    assert viewer.runner.wait_idle()
    assert not any("first.png" in m for (m,) in messages) and any("second.png" in m for (m,) in messages)
    np.testing.assert_array_equal(viewer.session.documents["A"].trace.image, b)


def test_opening_into_b_reads_off_the_engine_and_keeps_the_model(viewer: Viewer) -> None:
    jobs, opened = record_jobs(viewer), events(viewer, "opened")
    model = viewer.params.model
    viewer.open_path(SAMPLES / "shapes.png", "B")  # a sample opened as B does not switch the model
    assert viewer.runner.wait_idle()
    assert viewer.params.model == model
    job = jobs[0]
    assert (job.key, job.status, job.needs_engine) == ("open:B", "opening shapes.png…", False)
    assert opened == [(str((SAMPLES / "shapes.png").resolve()),)]
    assert viewer.session.documents["B"].source == str((SAMPLES / "shapes.png").resolve())


def test_a_comparison_follows_a_and_an_own_b_stays(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    documents = events(viewer, "document")
    viewer.compare("kmeans")
    assert viewer.runner.wait_idle()
    assert ("B",) in documents and viewer.session.documents["B"].source == "scene"
    viewer.show_image(b, "next.png")
    assert viewer.runner.wait_idle()
    assert viewer.session.documents["B"].source == "next.png" and viewer.session.documents["B"].method == "kmeans"
    assert ("B",) in documents[-4:] and ("A",) in documents[-4:]
    viewer.show_image(a, "own-b.png", "B")  # B's own image ends the comparison
    assert viewer.runner.wait_idle() and viewer.comparison is None
    viewer.show_image(b, "third.png")
    assert viewer.runner.wait_idle()
    assert viewer.session.documents["B"].source == "own-b.png" and viewer.session.documents["B"].method is None


def test_a_learned_query_model_runs_its_own_k_but_clustering_takes_the_chosen_k(tmp_path: Path) -> None:
    stem = tmp_path / "learned"
    save_model(SlotAutoencoder(dataclasses.replace(TINY_TETROMINOES, slot_init="learned", implicit=True)), stem)
    v = Viewer(RunParams(model=str(stem), backend="torch", device="cpu"))
    errors = events(v, "error")
    v.load_engine()
    assert v.runner.wait_idle()
    try:
        show(v, scenes()[0])
        v.set_params(slots=5)
        assert v.runner.wait_idle()
        assert trace(v).num_slots == 3 and errors == [], "the learned 3 queries, whatever K is chosen"
        v.set_params(method="kmeans")
        assert v.runner.wait_idle()
        assert trace(v).num_slots == 5
        v.set_params(method="slot-attention")
        assert v.runner.wait_idle()
        v.check_stability(3)
        assert errors == [("this model uses learned slot queries: every seed gives the same result "
                           "(choose k-means, or a model with Gaussian slots)",)]
    finally:
        v.close()


def test_stability_runs_for_learned_queries_when_seeds_choose_among_jittered_draws(tmp_path: Path) -> None:
    stem = tmp_path / "learned"
    cfg = dataclasses.replace(TINY_TETROMINOES, slot_init="learned", implicit=True, query_noise=1.0)
    save_model(SlotAutoencoder(cfg), stem)
    v = Viewer(RunParams(model=str(stem), backend="torch", device="cpu"))
    errors, results = events(v, "error"), events(v, "stability")
    v.load_engine()
    assert v.runner.wait_idle()
    try:
        show(v, scenes()[0])
        v.check_stability(3)  # the model's one draw: the queries alone, every seed alike
        assert v.runner.wait_idle()
        assert errors == [("this model uses learned slot queries: every seed gives the same result with one "
                           "draw (raise best of draws, choose k-means, or a model with Gaussian slots)",)]
        v.set_params(draws=4)
        assert v.runner.wait_idle()
        v.check_stability(3)
        assert v.runner.wait_idle()
        assert len(errors) == 1 and results[-1][0] is v.stability is not None
    finally:
        v.close()


def test_the_familiarity_notice_names_the_error_ratio(viewer: Viewer, monkeypatch: pytest.MonkeyPatch) -> None:
    run = viewer.engine.run
    record = {"reconstruction_mse": 0.05, "typical_mse": 0.0012, "ratio": 41.7, "unfamiliar": True}

    def unfamiliar(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = run(*args, **kwargs)
        return result.replace(provenance={**result.provenance, "familiarity": record})

    monkeypatch.setattr(viewer.engine, "run", unfamiliar)
    notices = events(viewer, "notice")
    show(viewer, scenes()[0])
    expected = f"{NOTICE} (reconstruction error 41.7× the typical 0.0012 on its own data)"
    assert viewer.notice == expected and notices[-1] == (expected,)
    record["unfamiliar"] = False
    show(viewer, scenes()[1])
    assert viewer.notice == "" and notices[-1] == ("",)


def test_b_is_redrawn_when_a_changes_only_if_there_is_a_b(viewer: Viewer) -> None:
    frames = events(viewer, "frame")
    show(viewer, scenes()[0])
    viewer.set_position(1)
    viewer.set_overlay("alpha")
    assert all(f == ("A",) for f in frames[:-1]) and frames[-2:] == [("A",), ("B",)], "the overlay redraws both"
    show(viewer, scenes()[1], "B")
    frames.clear()
    viewer.toggle_slot("A", 0)
    viewer.reconverge(1)
    assert viewer.runner.wait_idle()
    assert ("B",) in frames, "B follows A's position"


def test_history_says_what_can_be_undone_and_redone(viewer: Viewer) -> None:
    history = events(viewer, "history")
    show(viewer, scenes()[0])
    viewer.toggle_slot("A", 1)
    assert history[-1] == (True, False)
    viewer.undo()
    assert history[-1] == (viewer.session.can_undo, True)
    viewer.redo()
    assert history[-1] == (True, False)


def test_position_and_overlay_events_carry_their_values(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    positions, overlays, frames = events(viewer, "position"), events(viewer, "overlay"), events(viewer, "frame")
    viewer.set_position(1.5)
    assert positions == [(1.5,)] and frames == [("A",)], "only the documents that exist are redrawn"
    viewer.set_overlay("alpha")
    assert viewer.overlay == "alpha" and overlays == [("alpha",)]
    with pytest.raises(SlotviewerError, match=r"^overlay must be one of attention, attention-blend, alpha, "
                                              r"posterior, got 'labels'$"):
        viewer.set_overlay("labels")


def test_slot_toggles_all_on_explicit_and_out_of_range(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    k = trace(viewer).num_slots
    viewer.toggle_slot("A", 0)
    assert trace(viewer).enabled[0] is False
    viewer.toggle_slot("A", 0)
    assert trace(viewer).enabled[0] is True
    viewer.toggle_slot("A", 1, on=False)
    viewer.toggle_slot("A", 1, on=False)
    assert trace(viewer).enabled[1] is False, "an explicit state is set, not flipped"
    viewer.toggle_slot("A", k)  # no such slot: ignored
    viewer.toggle_slot("A", -1)
    assert trace(viewer).enabled == tuple(i != 1 for i in range(k))
    viewer.set_enabled("A", None)
    assert trace(viewer).enabled == (True,) * k


def test_edits_queue_with_their_labels_and_a_changed_input_drops_them(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    show(viewer, b, "B")
    jobs, messages = record_jobs(viewer), events(viewer, "message")
    viewer.reconverge(1)
    viewer.swap("A", 0, "A", 1)
    viewer.swap("A", 0, "B", 1, transplant=True)
    assert viewer.runner.wait_idle()
    assert [(j.key, j.status) for j in jobs if j.key.startswith("edit")] == [
        ("edit:A", "re-converging…"), ("edit:A", "swapping…"), ("edit:B", "transplanting…")]
    gate = hold_runner(viewer)
    viewer.swap("A", 0, "B", 1)  # queued behind the held job
    viewer.toggle_slot("A", 2)  # A changes (instantly, here) before the swap runs
    gate.set()
    assert viewer.runner.wait_idle()
    assert ("an edit was dropped: its image changed while it was computed",) in messages


def test_stability_runs_the_chosen_seeds_and_parameters(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    viewer.set_params(iters=1)
    assert viewer.runner.wait_idle()
    results, jobs = events(viewer, "stability"), record_jobs(viewer)
    viewer.check_stability(3)
    assert viewer.runner.wait_idle()
    assert [(j.key, j.status) for j in jobs] == [("stability", "running 3 seeds…")]
    image, k = viewer.session.documents["A"].image, viewer.params.slots
    expected = stability([viewer.engine.run(image, seed=s, slots=k, iters=1).labels() for s in (3, 4, 5)],
                         [3, 4, 5], k)
    got = viewer.stability
    assert results == [(got,)] and got.seeds == (3, 4, 5)
    np.testing.assert_array_equal(got.labels, expected.labels)
    results.clear()
    viewer.set_params(seed=4)  # derived results are dropped, and said so once
    assert viewer.runner.wait_idle()
    assert results == [(None,)]
    viewer.set_params(seed=5)
    assert viewer.runner.wait_idle()
    assert results == [(None,)], "nothing to drop the second time"


def test_a_stability_check_cancelled_midway_says_so(viewer: Viewer, monkeypatch: pytest.MonkeyPatch) -> None:
    show(viewer, scenes()[0])
    run, errors = viewer.engine.run, events(viewer, "error")

    def cancel_after_one(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        viewer.runner.cancel("stability")
        return run(*args, **kwargs)

    monkeypatch.setattr(viewer.engine, "run", cancel_after_one)
    viewer.check_stability(4)
    assert viewer.runner.wait_idle()
    assert errors == [("stability check cancelled",)] and viewer.stability is None


def test_export_overwrites_names_pixels_image_and_runs_without_the_engine(viewer: Viewer, tmp_path: Path) -> None:
    viewer.show_image(scenes()[0], "")  # pixels without a file name
    assert viewer.runner.wait_idle()
    jobs, messages = record_jobs(viewer), events(viewer, "message")
    errors = events(viewer, "error")
    viewer.export(tmp_path)
    assert viewer.runner.wait_idle()
    viewer.export(tmp_path)  # again into the same folder: replaced, not refused
    assert viewer.runner.wait_idle()
    target = tmp_path / "image"
    assert [(j.key, j.status, j.needs_engine) for j in jobs] == [("export", f"writing {target}…", False)] * 2
    assert errors == [] and messages == [(f"wrote {target}",)] * 2 and (target / "attention.gif").is_file()


def test_a_first_model_that_fails_leaves_the_parameters_as_asked(tmp_path: Path) -> None:
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    asked = RunParams(model=str(tmp_path / "broken.onnx"), backend="onnx", device="cpu")
    v = Viewer(asked)
    errors, params = events(v, "error"), events(v, "params")
    v.load_engine()
    assert v.runner.wait_idle()
    v.close()
    assert errors and v.params == asked and v.engine is None and params == []


def test_a_failed_model_switch_shows_the_running_models_parameters_again(viewer: Viewer, tmp_path: Path) -> None:
    good, params = viewer.params, events(viewer, "params")
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    viewer.set_params(model=str(tmp_path / "broken.onnx"))
    assert viewer.runner.wait_idle()
    assert params[-1] == (good,)


def test_a_failed_model_switch_keeps_the_k_t_and_seed_the_picture_was_made_with(viewer: Viewer,
                                                                                 tmp_path: Path) -> None:
    show(viewer, scenes()[0])
    viewer.set_params(slots=2, iters=1, seed=42)
    assert viewer.runner.wait_idle()
    shown = viewer.params
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    viewer.set_params(model=str(tmp_path / "broken.onnx"))
    assert viewer.runner.wait_idle()
    assert viewer.params == shown, "not the parameters of when the running model was loaded (K 3, T 3, seed 3)"
    trace = viewer.session.documents["A"].trace
    assert trace is not None and trace.attention.shape[:2] == (1, 2), "the picture on screen is that run's (T 1, K 2)"


def test_the_same_model_elsewhere_keeps_k_t_and_draws_another_model_brings_its_own(viewer: Viewer,
                                                                                    tmp_path: Path) -> None:
    """Another device, backend or an adapted copy (the same config) is still the user's run; a model with
    another config starts from its own K, T and draws."""
    viewer.set_params(slots=2, iters=1, draws=2)
    assert viewer.runner.wait_idle()
    engine = viewer.engine
    viewer.set_params(device="auto")
    assert viewer.runner.wait_idle() and viewer.engine is not engine
    assert (viewer.params.slots, viewer.params.iters, viewer.params.draws) == (2, 1, 2)
    copy = tmp_path / "copy"
    copy_model(Path(viewer.params.model).with_suffix(""), copy)
    viewer.set_params(model=str(copy), backend="torch")
    assert viewer.runner.wait_idle() and viewer.engine.backend.name == "torch"
    assert (viewer.params.slots, viewer.params.iters, viewer.params.draws) == (2, 1, 2)
    other = dataclasses.replace(TINY_TETROMINOES, num_slots=5, iters=4)
    save_model(SlotAutoencoder(other), tmp_path / "other")
    viewer.set_params(model=str(tmp_path / "other"))
    assert viewer.runner.wait_idle()
    assert (viewer.params.slots, viewer.params.iters, viewer.params.draws) == (5, 4, other.draws)


def test_the_document_event_comes_at_once_not_after_the_run(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    documents = events(viewer, "document")
    gate = hold_runner(viewer)
    viewer.show_image(b, "next.png")
    assert documents == [("A",)], "re-layout for the new image before it has run"
    viewer.compare()
    assert documents[-1] == ("B",) and viewer.session.documents["B"].method == "soft-kmeans"
    viewer.close_b()
    documents.clear()
    viewer.show_image(a, "again.png")
    viewer.compare("kmeans")
    documents.clear()
    viewer.show_image(b, "third.png")  # a comparison: B follows at once too
    assert sorted(documents) == [("A",), ("B",)]
    gate.set()
    assert viewer.runner.wait_idle()
    documents.clear()
    viewer.toggle_slot("A", 0)
    assert documents == [("A",)]


def test_an_undo_back_to_a_decoded_result_decodes_nothing(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    viewer.reconverge(1)
    assert viewer.runner.wait_idle()
    jobs = record_jobs(viewer)
    viewer.undo()
    assert viewer.runner.wait_idle()
    assert [j.key for j in jobs] == [], "its iterations are still in the decode cache"


def test_a_new_image_drops_a_stability_check_still_running(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    results = events(viewer, "stability")
    gate = hold_runner(viewer)
    viewer.check_stability(3)
    assert results == []
    viewer.show_image(b, "next.png")
    assert results == [(None,)], "the running check is dropped, and said so"
    gate.set()
    assert viewer.runner.wait_idle()
    assert viewer.stability is None and results == [(None,)]


def test_a_still_image_announces_itself_before_it_is_shown(viewer: Viewer) -> None:
    """`still` tells a live stream's owner to stop before the image lands, so no frame replaces it."""
    stills = events(viewer, "still")
    seen: list[object] = []
    viewer.events.still.connect(lambda name: seen.append(viewer.session.documents[name]))
    viewer.show_image(scenes()[0], "scene.png")
    viewer.show_image(scenes()[1], "other.png", "B")
    assert stills == [("A",), ("B",)] and seen == [None, None]
    assert viewer.runner.wait_idle() and viewer.session.documents["A"].source == "scene.png"


def test_a_closed_viewer_reports_to_no_one(viewer: Viewer) -> None:
    messages, statuses = events(viewer, "message"), []
    viewer.runner.events.status.connect(statuses.append)
    viewer.close()
    viewer.events.message.emit("late")  # what a report queued before the close does when it runs
    viewer.runner.events.status.emit("late")
    assert messages == [] and statuses == []

"""The Qt-free job runner: latest request per key wins, stale results are dropped, status always ends."""

import threading

from slotviewer.components.jobs import Job, JobRunner
from slotviewer.errors import SlotviewerError


def make_runner() -> JobRunner:
    return JobRunner(loader=lambda model, backend, device: f"engine:{model}")


def test_latest_request_per_key_wins_and_superseded_results_are_dropped() -> None:
    runner = make_runner()
    gate, results = threading.Event(), []
    runner.load("m", "onnx", "cpu", lambda engine: results.append(engine))
    runner.submit(Job("block", lambda e: gate.wait(5), None))
    runner.submit(Job("run:A", lambda e: 1, results.append))
    runner.submit(Job("run:A", lambda e: 2, results.append))  # replaces the waiting one
    runner.submit(Job("run:B", lambda e: e, results.append))
    gate.set()
    assert runner.wait_idle()
    assert results == ["engine:m", 2, "engine:m"]


def test_a_result_superseded_while_running_is_dropped() -> None:
    runner = make_runner()
    started, gate, results = threading.Event(), threading.Event(), []
    runner.submit(Job("open:A", lambda e: (started.set(), gate.wait(5), "old")[2], results.append,
                      needs_engine=False))
    started.wait(5)
    runner.submit(Job("open:A", lambda e: "new", results.append, needs_engine=False))
    gate.set()
    assert runner.wait_idle()
    assert results == ["new"]


def test_status_ends_with_the_job_whatever_happens() -> None:
    runner = make_runner()
    statuses, errors = [], []
    runner.events.status.connect(statuses.append)
    runner.events.error.connect(errors.append)

    def fail(_engine: object) -> None:
        raise SlotviewerError("x.png: broken")

    runner.submit(Job("a", fail, None, "working on a…", needs_engine=False))
    assert runner.wait_idle()
    assert "working on a…" in statuses and statuses[-1] == ""
    assert errors == ["x.png: broken"]


def test_loading_drops_waiting_engine_work_but_keeps_file_reads() -> None:
    runner = make_runner()
    gate, results = threading.Event(), []
    runner.submit(Job("block", lambda e: gate.wait(5), None, needs_engine=False))
    runner.submit(Job("decode:A", lambda e: "decoded with the old model", results.append))
    runner.submit(Job("open:A", lambda e: "read", results.append, needs_engine=False))
    runner.load("new", "onnx", "cpu", results.append)
    gate.set()
    assert runner.wait_idle()
    assert results == ["engine:new", "read"]


def test_a_failed_load_keeps_the_previous_engine() -> None:
    def loader(model: str, backend: str, device: str) -> str:
        if model == "bad":
            raise SlotviewerError("bad.onnx: not a loadable ONNX model")
        return f"engine:{model}"

    runner = JobRunner(loader=loader)
    failures: list[str] = []
    runner.load("good", "onnx", "cpu", lambda e: None)
    assert runner.wait_idle()
    runner.load("bad", "onnx", "cpu", lambda e: None, failures.append)
    runner.submit(Job("run", lambda e: e, failures.append))
    assert runner.wait_idle()
    assert failures == ["bad.onnx: not a loadable ONNX model", "engine:good"]


def test_engine_work_without_a_model_fails_with_one_line() -> None:
    runner = make_runner()
    failed, errors, done = [], [], []
    runner.events.error.connect(errors.append)
    runner.submit(Job("run:A", lambda e: "never", done.append, failed=failed.append))
    assert runner.wait_idle()
    assert done == [] and failed == ["no model loaded"] and errors == ["no model loaded"]


def test_a_bug_in_a_job_is_one_line_naming_the_exception(capsys) -> None:  # noqa: ANN001
    runner = make_runner()
    errors: list[str] = []
    runner.events.error.connect(errors.append)
    runner.submit(Job("x", lambda e: {}["missing"], None, needs_engine=False))
    assert runner.wait_idle()
    assert errors == ["internal error (KeyError: 'missing')"]
    assert "Traceback" in capsys.readouterr().err, "the details go to the terminal, not the window"


def test_a_broken_loader_is_one_line_naming_the_model() -> None:
    def loader(model: str, backend: str, device: str) -> str:
        raise ValueError("bad magic")

    runner = JobRunner(loader=loader)
    errors: list[str] = []
    runner.events.error.connect(errors.append)
    runner.load("weird.onnx", "onnx", "cpu", lambda e: None)
    assert runner.wait_idle()
    assert errors == ["weird.onnx: cannot load (ValueError: bad magic)"] and runner.engine is None


def test_only_the_latest_load_reports() -> None:
    runner = make_runner()
    gate, loaded = threading.Event(), []
    runner.submit(Job("block", lambda e: gate.wait(5), None, needs_engine=False))
    runner.load("first", "onnx", "cpu", loaded.append)
    runner.load("second", "onnx", "cpu", loaded.append)
    gate.set()
    assert runner.wait_idle()
    assert loaded == ["engine:second"] and runner.engine == "engine:second"


def test_cancel_drops_waiting_work_and_flags_the_running_job() -> None:
    runner = make_runner()
    started, results = threading.Event(), []

    def long_job(_engine: object) -> str:
        started.set()
        assert runner.cancelled.wait(5), "the running job is asked to stop"
        return "stopped early"

    runner.submit(Job("long", long_job, results.append, needs_engine=False))
    started.wait(5)
    runner.submit(Job("a", lambda e: "a", results.append, needs_engine=False))
    runner.submit(Job("b", lambda e: "b", results.append, needs_engine=False))
    assert runner.pending() == 3
    runner.cancel("a")
    assert runner.pending() == 2 and not runner.cancelled.is_set(), "cancelling a waiting key leaves the running one"
    runner.cancel()
    assert runner.wait_idle()
    assert results == ["stopped early"], "the running job finishes and reports; waiting ones are gone"
    runner.submit(Job("c", lambda e: runner.cancelled.is_set(), results.append, needs_engine=False))
    assert runner.wait_idle() and results[-1] is False, "the flag is cleared for the next job"


def test_busy_and_status_follow_the_work() -> None:
    runner = make_runner()
    gate, busy, statuses = threading.Event(), [], []
    runner.events.busy.connect(busy.append)
    runner.events.status.connect(statuses.append)
    runner.submit(Job("block", lambda e: gate.wait(5), None, "blocking…", needs_engine=False))
    runner.submit(Job("next", lambda e: None, None, "waiting job", needs_engine=False))
    runner.process_callbacks()
    assert busy[-1] is True and statuses[-1] == "blocking…", "the running job's status comes first"
    gate.set()
    assert runner.wait_idle()
    assert busy[-1] is False and statuses[-1] == ""


def test_stop_ends_the_worker_and_drops_everything() -> None:
    runner = make_runner()
    gate, results = threading.Event(), []
    runner.submit(Job("block", lambda e: gate.wait(0.2), None, needs_engine=False))
    runner.submit(Job("later", lambda e: "later", results.append, needs_engine=False))
    runner.stop()
    assert not runner._thread.is_alive()
    runner.process_callbacks()
    assert results == []


def test_a_resubmitted_key_moves_behind_newer_work_and_tickets_increase() -> None:
    runner = make_runner()
    gate, order = threading.Event(), []
    runner.submit(Job("block", lambda e: gate.wait(5), None, needs_engine=False))
    first = runner.submit(Job("a", lambda e: "a1", order.append, needs_engine=False))
    runner.submit(Job("b", lambda e: "b", order.append, needs_engine=False))
    last = runner.submit(Job("a", lambda e: "a2", order.append, needs_engine=False))
    assert isinstance(first, int) and last > first
    gate.set()
    assert runner.wait_idle()
    assert order == ["b", "a2"], "the newest request for a key runs after what was asked before it"


def test_cancelling_one_key_keeps_the_others_and_flags_only_its_own_running_job() -> None:
    runner = make_runner()
    started, release, results = threading.Event(), threading.Event(), []

    def long_job(_engine: object) -> str:
        started.set()
        release.wait(5)
        return "flagged" if runner.cancelled.is_set() else "not flagged"

    runner.submit(Job("long", long_job, results.append, needs_engine=False))
    started.wait(5)
    runner.submit(Job("a", lambda e: "a", results.append, needs_engine=False))
    runner.submit(Job("b", lambda e: "b", results.append, needs_engine=False))
    runner.cancel("a")
    runner.cancel("b-other")
    release.set()
    assert runner.wait_idle()
    assert results == ["not flagged", "b"]
    started.clear()
    release.clear()
    runner.submit(Job("long", long_job, results.append, needs_engine=False))
    started.wait(5)
    runner.cancel("long")
    release.set()
    assert runner.wait_idle()
    assert results[-1] == "flagged"


def test_a_load_superseded_while_loading_does_not_report() -> None:
    gate, started, loaded = threading.Event(), threading.Event(), []

    def loader(model: str, backend: str, device: str) -> str:
        if model == "slow":
            started.set()
            gate.wait(5)
        return f"engine:{model}"

    runner = JobRunner(loader=loader)
    runner.load("slow", "onnx", "cpu", loaded.append)
    started.wait(5)
    runner.load("fast", "onnx", "cpu", loaded.append)
    gate.set()
    assert runner.wait_idle()
    assert loaded == ["engine:fast"]


def test_a_bug_in_a_job_reaches_its_failed_callback() -> None:
    runner = make_runner()
    failed: list[str] = []
    runner.submit(Job("x", lambda e: 1 / 0, None, needs_engine=False, failed=failed.append))
    assert runner.wait_idle()
    assert failed == ["internal error (ZeroDivisionError: division by zero)"]


def test_while_a_job_runs_its_status_comes_before_a_waiting_load() -> None:
    runner = make_runner()
    gate, statuses = threading.Event(), []
    runner.events.status.connect(statuses.append)
    started = threading.Event()
    runner.submit(Job("block", lambda e: (started.set(), gate.wait(5)), None, "blocking…", needs_engine=False))
    started.wait(5)
    runner.load("next-model", "onnx", "cpu", lambda e: None)
    runner.process_callbacks()
    assert statuses[-1] == "blocking…" and runner.pending() == 2
    gate.set()
    assert runner.wait_idle() and statuses[-1] == ""


def test_a_result_counts_as_pending_until_the_owner_has_run_it() -> None:
    """A GUI delivers results through its event loop: between the worker finishing and the callback running,
    `pending()` must not say 0, or whoever waits for 0 sees the state before the result."""
    import time

    posted: list = []
    runner = JobRunner(deliver=posted.append)
    results: list[int] = []
    runner.submit(Job("x", lambda _e: 7, results.append, needs_engine=False))
    deadline = time.monotonic() + 10
    while not any(c != runner._emit_state for c in posted) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.pending() == 1 and results == [], "finished on the worker, not yet handed over"
    for callback in list(posted):
        callback()
    assert results == [7] and runner.pending() == 0
    runner.stop()

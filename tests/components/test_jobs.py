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

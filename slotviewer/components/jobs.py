"""A Qt-free job runner: one worker thread owns the engine; the latest request per key wins.

Views never wait for the engine. They submit `Job`s; each result comes back through `deliver`, a
function that runs a callback on the owner's thread (the GUI passes one that posts onto Qt's event loop;
tests and scripts use the default inbox and call `process_callbacks`). Rules that keep the viewer honest:

- a newer job with the same key replaces one still waiting, and the result of a job that was superseded
  while it ran is dropped (stale results never reach the views);
- loading a model drops waiting work that needs the engine (it would decode old slots with a new decoder);
- every job's status message ends when the job ends, whatever the outcome (`events.status` says what
  runs now, "" when idle).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psygnal import Signal, SignalGroup

from slotviewer.components.inbox import Inbox
from slotviewer.errors import SlotviewerError


@dataclass(frozen=True)
class Job:
    """`run(engine)` runs on the worker thread; `done(result)` on the owner's thread, unless superseded.
    Jobs that only do file I/O set `needs_engine=False` and may run before a model is loaded."""

    key: str
    run: Callable[[Any], Any]
    done: Callable[[Any], None] | None = None
    status: str = ""
    needs_engine: bool = True
    failed: Callable[[str], None] | None = field(default=None, compare=False)


class JobEvents(SignalGroup):
    status = Signal(str)  # what runs or waits now ("" when idle)
    busy = Signal(bool)
    error = Signal(str)  # one line, never a traceback


def _default_loader(model: str, backend: str, device: str) -> Any:
    from slotviewer.engine import Engine

    return Engine.load(model, backend, device)


class JobRunner:
    def __init__(self, deliver: Callable[[Callable[[], None]], None] | None = None,
                 loader: Callable[[str, str, str], Any] = _default_loader) -> None:
        self.events = JobEvents()
        self._inbox = Inbox()
        self._deliver = deliver or self._inbox.post
        self._loader = loader
        self._cond = threading.Condition()
        self._waiting: dict[str, tuple[int, Job]] = {}  # key → (ticket, job), in submission order
        self._latest: dict[str, int] = {}  # key → the newest ticket (results of older ones are stale)
        self._load: tuple[tuple[str, str, str], Callable[[Any], None], Callable[[str], None] | None] | None = None
        self._running: tuple[str, str] | None = None  # (key, status) of the job on the thread
        self._undelivered = 0  # results posted to the owner that it has not run yet
        self._ticket = 0
        self._stopped = False
        self.engine: Any = None
        self.cancelled = threading.Event()  # long jobs check it between steps
        self._thread = threading.Thread(target=self._loop, name="slotviewer-jobs", daemon=True)
        self._thread.start()

    # --- the owner's side ------------------------------------------------------------------------------
    def submit(self, job: Job) -> int:
        with self._cond:
            self._ticket += 1
            self._waiting.pop(job.key, None)
            self._waiting[job.key] = (self._ticket, job)
            self._latest[job.key] = self._ticket
            self._cond.notify()
            ticket = self._ticket
        self._announce()
        return ticket

    def load(self, model: str, backend: str, device: str, done: Callable[[Any], None],
             failed: Callable[[str], None] | None = None) -> None:
        """Load a model before any later job; waiting jobs that need the engine are dropped."""
        with self._cond:
            self._load = ((model, backend, device), done, failed)
            self._latest["engine"] = self._ticket = self._ticket + 1
            for key in [k for k, (_, job) in self._waiting.items() if job.needs_engine]:
                del self._waiting[key]
            self._cond.notify()
        self._announce()

    def cancel(self, key: str | None = None) -> None:
        """Drop waiting work (one key, or all) and ask a running job to stop at its next check."""
        with self._cond:
            for k in [k for k in self._waiting if key is None or k == key]:
                del self._waiting[k]
                self._latest.pop(k, None)
            if key is None or (self._running and self._running[0] == key):
                self.cancelled.set()
        self._announce()

    def pending(self) -> int:
        """Jobs waiting, loading or running, and results not yet handed to the owner: 0 means every
        result so far has been applied (a GUI that waits for 0 sees the result, not the state before it)."""
        with self._cond:
            return (len(self._waiting) + (self._load is not None) + (self._running is not None)
                    + self._undelivered)

    def process_callbacks(self) -> int:
        """Run delivered callbacks on this thread (only with the default `deliver`); returns how many."""
        return self._inbox.process()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Process callbacks until nothing waits or runs (scripts and Qt-free tests)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.process_callbacks()
            if self.pending() == 0 and n == 0 and not self._inbox:
                return True
            time.sleep(0.005)
        return False

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._waiting.clear()
            self._load = None
            self.cancelled.set()
            self._cond.notify()
        self._thread.join(timeout=30)

    # --- the worker thread -----------------------------------------------------------------------------

    def _status_text(self) -> str:
        texts = [job.status for _, job in self._waiting.values() if job.status]
        if self._load is not None:
            texts.insert(0, f"loading {self._load[0][0]}…")
        if self._running and self._running[1]:
            texts.insert(0, self._running[1])
        return texts[0] if texts else ""

    def _announce(self) -> None:
        """Tell the owner what runs now. The state is read when the callback runs, not when it was posted:
        announcements from two threads may arrive out of order, and the last one must say how things are."""
        self._deliver(self._emit_state)

    def _emit_state(self) -> None:
        with self._cond:
            text, busy = self._status_text(), bool(self._waiting or self._load or self._running)
        self.events.status.emit(text)
        self.events.busy.emit(busy)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and self._load is None and not self._waiting:
                    self._cond.wait()
                if self._stopped:
                    return
                load, self._load = self._load, None
                if load is None:
                    key = next(iter(self._waiting))
                    ticket, job = self._waiting.pop(key)
                    self._running = (key, job.status)
                else:
                    ticket, job = self._latest["engine"], None
                    self._running = ("engine", f"loading {load[0][0]}…")
                self.cancelled.clear()
            self._announce()
            reply = None
            try:
                reply = self._run_load(ticket, *load) if load is not None else self._run_job(ticket, job)
            finally:
                with self._cond:  # one step: the job leaves `pending()` as its result enters it
                    self._running = None
                    self._announce()  # the status ends before the result arrives
                    if reply is not None:
                        self._undelivered += 1
                        self._deliver(self._counted(reply))

    def _counted(self, reply: Callable[[], None]) -> Callable[[], None]:
        def deliver() -> None:
            try:
                reply()
            finally:
                with self._cond:
                    self._undelivered -= 1
        return deliver

    def _failure(self, exc: Exception, what: str) -> str:
        if isinstance(exc, SlotviewerError):
            return str(exc)
        traceback.print_exc()  # a bug: keep the details for whoever runs from a terminal
        return f"{what} ({type(exc).__name__}: {exc})"

    def _run_load(self, ticket: int, args: tuple[str, str, str], done: Callable[[Any], None],
                  failed: Callable[[str], None] | None) -> Callable[[], None]:
        try:
            engine = self._loader(*args)
        except Exception as exc:  # a broken model file must not kill the worker  # noqa: BLE001
            message = self._failure(exc, f"{args[0]}: cannot load")
            return lambda: self._report(message, failed)
        self.engine = engine
        return lambda: done(engine) if self._latest.get("engine") == ticket else None

    def _run_job(self, ticket: int, job: Job) -> Callable[[], None] | None:
        if job.needs_engine and self.engine is None:
            return lambda: self._report("no model loaded", job.failed)
        try:
            result = job.run(self.engine)
        except Exception as exc:  # noqa: BLE001
            message = self._failure(exc, "internal error")
            return lambda: self._report(message, job.failed)
        if job.done is None:
            return None
        return lambda: job.done(result) if self._latest.get(job.key) == ticket else None

    def _report(self, message: str, failed: Callable[[str], None] | None) -> None:
        if failed is not None:
            failed(message)
        self.events.error.emit(message)

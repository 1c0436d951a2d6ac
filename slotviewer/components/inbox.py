"""A thread-safe queue of callbacks for owners without an event loop.

Why: the job runner and the live view call back from worker threads. The GUI hands them a `deliver` that
posts onto Qt's event loop; tests and scripts have no loop, so the callbacks wait here until the owning
thread calls `process()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Inbox:
    """Callbacks posted from any thread, run later on the thread that calls `process`."""

    def __init__(self) -> None:
        self._calls: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def post(self, call: Callable[[], None]) -> None:
        with self._lock:
            self._calls.append(call)

    def process(self) -> int:
        """Run what was posted so far, in order; returns how many ran."""
        with self._lock:
            calls, self._calls = self._calls, []
        for call in calls:
            call()
        return len(calls)

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._calls)

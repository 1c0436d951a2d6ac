"""The one worker thread that owns the engine. Widgets send requests; results come back as signals.

Requests are coalesced per key ("latest request wins"): while the engine is busy, a newer request for
the same thing (say, a re-run of image A with another seed) replaces the older one still waiting.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError


@dataclass(frozen=True)
class Request:
    """`key` decides coalescing; `job(engine)` runs on the worker thread; `tag` travels back with the result.
    Jobs that only do file I/O set `needs_engine=False` and may run before a model is loaded."""

    key: str
    job: Callable[[Engine | None], Any]
    tag: Any = None
    needs_engine: bool = True


class EngineWorker(QObject):
    sigResult = Signal(object, object)  # (request, result)
    sigError = Signal(object, str)  # (request, one-line message)
    sigBusy = Signal(bool)
    sigEngineLoaded = Signal(object)  # the Engine (its description says what runs)
    _sigWake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: dict[str, Request] = {}
        self._order: list[str] = []
        self.engine: Engine | None = None
        self._load_args: tuple[str, str, str] | None = None
        self.cancelled = threading.Event()  # long jobs (stability) check it between runs
        self._sigWake.connect(self._drain)

    # --- called from the GUI thread -------------------------------------------------------------
    def load(self, model: str, backend: str, device: str) -> None:
        """Load (or switch) the model/backend/device before any later request runs. Waiting work that
        was built on the old model's traces is dropped (file reads stay): it would decode old slots with
        the new decoder."""
        with self._lock:
            self._load_args = (model, backend, device)
            self._order = [key for key in self._order if not self._pending[key].needs_engine]
            self._pending = {key: self._pending[key] for key in self._order}
        self._sigWake.emit()

    def cancel_all(self) -> None:
        """Drop waiting work and ask a running job to stop at its next check (`cancelled`)."""
        with self._lock:
            self._pending.clear()
            self._order.clear()
            self._load_args = None
        self.cancelled.set()

    def submit(self, request: Request) -> None:
        with self._lock:
            if request.key in self._pending:
                self._order.remove(request.key)
            self._pending[request.key] = request
            self._order.append(request.key)
        self._sigWake.emit()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending) + (self._load_args is not None)

    # --- worker thread ----------------------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                load_args, self._load_args = self._load_args, None
                request = None
                if load_args is None and self._order:
                    request = self._pending.pop(self._order.pop(0))
            if load_args is None and request is None:
                return
            self.sigBusy.emit(True)
            try:
                if load_args is not None:
                    self._load(*load_args)
                else:
                    self._run(request)
            finally:
                self.sigBusy.emit(self.pending() > 0)

    def _load(self, model: str, backend: str, device: str) -> None:
        try:
            self.engine = Engine.load(model, backend, device)
        except SlotviewerError as exc:
            self.sigError.emit(None, str(exc))
            return
        except Exception as exc:  # a broken model file must not kill the worker  # noqa: BLE001
            traceback.print_exc()
            self.sigError.emit(None, f"{model}: cannot load ({type(exc).__name__}: {exc})")
            return
        self.sigEngineLoaded.emit(self.engine)

    def _run(self, request: Request) -> None:
        if self.engine is None and request.needs_engine:
            self.sigError.emit(request, "no model loaded")
            return
        try:
            result = request.job(self.engine)
        except SlotviewerError as exc:
            self.sigError.emit(request, str(exc))
        except Exception as exc:  # a bug must not kill the worker thread; report it in one line  # noqa: BLE001
            traceback.print_exc()
            self.sigError.emit(request, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.sigResult.emit(request, result)


class WorkerThread:
    """Starts an `EngineWorker` on its own `QThread` and stops it cleanly."""

    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("slotviewer-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self) -> None:
        """Cancel waiting work, let the running job finish (or stop at a check), then end the thread."""
        self.worker.cancel_all()
        self.thread.quit()
        self.thread.wait()

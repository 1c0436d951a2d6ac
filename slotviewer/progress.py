"""Progress of long commands (`train`, `adapt`, `data generate`): a tqdm bar on a terminal, plain lines in a log.

A bar redraws itself with carriage returns; written to a file (a `nohup` job, CI) that is one endless line that
a reader cannot follow. Off a terminal the same calls print one line at most every `every` seconds, and at the
end, each saying how far it is, how fast, and the bar's postfix (loss, error).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from tqdm import tqdm

LOG_EVERY_S = 30.0


class LogProgress:
    """The part of tqdm's interface the commands use (`update`, `set_postfix`, `write`, `close`, `with`)."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, every: float = LOG_EVERY_S,
                 file: IO[str] | None = None) -> None:
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.n = self._start = initial
        self.file = file or sys.stderr
        self.postfix = ""
        self._began = self._last = time.monotonic()
        self._shown = initial

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self._last >= self.every:
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{key} {value}" for key, value in values.items())

    def write(self, text: str) -> None:
        print(text, file=self.file, flush=True)

    def close(self) -> None:
        if self.n != self._shown:
            self._line()

    def _line(self) -> None:
        self._last = now = time.monotonic()
        rate = (self.n - self._start) / max(now - self._began, 1e-9)
        share = f" ({self.n / self.total:.0%})" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        self.write(f"{self.desc}: {self.n}/{self.total} {self.unit}{share}, {rate:.1f} {self.unit}/s{extra}")
        self._shown = self.n

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int, desc: str, unit: str, initial: int = 0, disable: bool = False) -> tqdm | LogProgress:
    """A bar for a terminal, log lines for anything else (`disable`: neither, e.g. all but one DDP rank)."""
    if disable or sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=disable, dynamic_ncols=True)
    return LogProgress(total, desc, unit, initial)

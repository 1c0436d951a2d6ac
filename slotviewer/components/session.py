"""The open documents (A, and B for side-by-side swaps) with one undo history across both.

An edit may touch one document (toggle a slot) or two (swap between images); undo reverts the whole
edit. Qt-free, so it is tested without a window.
"""

from __future__ import annotations

from slotviewer.components.document import Document
from slotviewer.engine.trace import Trace

DOCUMENTS = ("A", "B")


class Session:
    def __init__(self) -> None:
        self.documents: dict[str, Document | None] = dict.fromkeys(DOCUMENTS)
        self._undo: list[dict[str, Trace]] = []  # each entry: the traces an edit replaced
        self._redo: list[dict[str, Trace]] = []

    def _forget(self, name: str) -> None:
        """Edits that involved document `name`'s previous trace can no longer be undone."""
        self._undo = [e for e in self._undo if name not in e]
        self._redo = [e for e in self._redo if name not in e]

    def open(self, name: str, document: Document) -> None:
        """A new image in slot `name`."""
        self.documents[name] = document
        self._forget(name)

    def close(self, name: str) -> None:
        self.documents[name] = None
        self._forget(name)

    def new_run(self, name: str, trace: Trace) -> None:
        """A fresh run replaces the trace without an undo entry (it is not an edit)."""
        document = self.documents[name]
        if document is not None:
            document.set_run(trace)
            self._forget(name)

    def edit(self, changes: dict[str, Trace]) -> None:
        """Apply edited traces to one or more documents as a single undoable step."""
        before = {}
        for name, trace in changes.items():
            document = self.documents[name]
            if document is None or document.trace is None:
                raise ValueError(f"document {name} has no trace to edit")
            before[name] = document.trace
            document.trace = trace
        self._undo.append(before)
        self._redo.clear()

    def _swap_in(self, entry: dict[str, Trace]) -> dict[str, Trace]:
        previous = {}
        for name, trace in entry.items():
            document = self.documents[name]
            previous[name] = document.trace
            document.trace = trace
        return previous

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> list[str]:
        """Undo the last edit; returns the names of the documents that changed."""
        if not self._undo:
            return []
        entry = self._undo.pop()
        self._redo.append(self._swap_in(entry))
        return list(entry)

    def redo(self) -> list[str]:
        if not self._redo:
            return []
        entry = self._redo.pop()
        self._undo.append(self._swap_in(entry))
        return list(entry)

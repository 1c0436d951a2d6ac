"""The undo history across A and B: undo after redo, and what a new image, a new run or closing forgets.
(Helper "tests", issue 14; `test_session.py` covers one edit across two documents.)"""

import numpy as np

from slotviewer.components.document import Document
from slotviewer.components.session import Session
from slotviewer.engine.trace import Trace


def make_trace(value: float) -> Trace:
    k, t = 3, 2
    return Trace(image=np.zeros((4, 4, 3), np.uint8), features=np.zeros((4, 8), np.float32),
                 attention=np.full((t, k, 2, 2), 1 / k, np.float32), slots=np.full((t + 1, k, 8), value, np.float32),
                 rgb=np.zeros((k, 4, 4, 3), np.float32), alpha_logits=np.zeros((k, 4, 4), np.float32),
                 provenance={"method": "slot-attention"})


def session_with(*names: str) -> Session:
    session = Session()
    for name in names:
        session.open(name, Document(name, np.zeros((4, 4, 3), np.uint8)))
        session.new_run(name, make_trace(0))
    return session


def value(session: Session, name: str) -> float:
    return float(session.documents[name].trace.slots[0, 0, 0])


def test_undo_after_redo_walks_the_same_history() -> None:
    session = session_with("A")
    for v in (1, 2, 3):
        session.edit({"A": make_trace(v)})
    assert [session.undo(), session.undo()] == [["A"], ["A"]] and value(session, "A") == 1
    assert session.redo() == ["A"] and value(session, "A") == 2
    assert session.undo() == ["A"] and value(session, "A") == 1, "undo after redo goes back to where it was"
    assert session.undo() == ["A"] and value(session, "A") == 0
    assert not session.can_undo and session.undo() == [] and value(session, "A") == 0
    assert session.redo() == ["A"] and session.redo() == ["A"] and session.redo() == ["A"] and value(session, "A") == 3
    assert not session.can_redo and session.redo() == [] and value(session, "A") == 3
    assert session.can_undo


def test_a_new_edit_after_undo_drops_the_redo_branch() -> None:
    session = session_with("A")
    session.edit({"A": make_trace(1)})
    session.edit({"A": make_trace(2)})
    session.undo()
    session.edit({"A": make_trace(9)})
    assert not session.can_redo and session.redo() == [] and value(session, "A") == 9
    session.undo()
    assert value(session, "A") == 1


def test_a_new_image_forgets_its_edits_but_not_the_other_documents() -> None:
    session = session_with("A", "B")
    session.edit({"B": make_trace(1)})  # B alone
    session.edit({"A": make_trace(2)})  # A alone
    session.edit({"A": make_trace(3), "B": make_trace(4)})  # a swap: both
    session.undo()  # the swap is now on the redo stack
    session.open("A", Document("new", np.zeros((4, 4, 3), np.uint8)))
    session.new_run("A", make_trace(7))
    assert not session.can_redo, "the swap touched A's old image: it cannot be redone on the new one"
    assert session.undo() == ["B"] and value(session, "B") == 0 and value(session, "A") == 7
    assert not session.can_undo


def test_a_new_run_and_closing_forget_too() -> None:
    session = session_with("A", "B")
    session.edit({"A": make_trace(1)})
    session.edit({"B": make_trace(2)})
    session.new_run("A", make_trace(5))
    assert session.undo() == ["B"] and not session.can_undo and value(session, "A") == 5
    session.redo()
    session.edit({"A": make_trace(6), "B": make_trace(7)})
    session.close("B")
    assert session.documents["B"] is None
    assert not session.can_undo and session.undo() == [], "every remaining edit involved B"
    assert value(session, "A") == 6

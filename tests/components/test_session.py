import numpy as np
import pytest

from slotviewer.components.document import Document
from slotviewer.components.session import Session
from slotviewer.engine.trace import Trace


def make_trace(k: int = 3, t: int = 2, value: float = 0.0) -> Trace:
    return Trace(image=np.zeros((4, 4, 3), np.uint8), features=np.zeros((4, 8), np.float32),
                 attention=np.full((t, k, 2, 2), 1 / k, np.float32), slots=np.full((t + 1, k, 8), value, np.float32),
                 rgb=np.zeros((k, 4, 4, 3), np.float32), alpha_logits=np.zeros((k, 4, 4), np.float32),
                 provenance={"method": "slot-attention"})


def test_edits_across_documents_undo_as_one() -> None:
    session = Session()
    for name in ("A", "B"):
        session.open(name, Document(name, np.zeros((4, 4, 3), np.uint8)))
        session.new_run(name, make_trace())
    a0, b0 = session.documents["A"].trace, session.documents["B"].trace
    a1, b1 = make_trace(value=1), make_trace(value=2)
    session.edit({"A": a1, "B": b1})
    a2 = make_trace(value=3)
    session.edit({"A": a2})
    assert session.undo() == ["A"] and session.documents["A"].trace is a1
    assert sorted(session.undo()) == ["A", "B"]
    assert session.documents["A"].trace is a0 and session.documents["B"].trace is b0
    assert not session.can_undo and session.undo() == []
    session.redo()
    assert session.documents["B"].trace is b1
    session.edit({"B": make_trace(value=4)})
    assert not session.can_redo, "a new edit drops the redo branch"


def test_new_run_or_new_image_forgets_its_edits() -> None:
    session = Session()
    session.open("A", Document("a", np.zeros((4, 4, 3), np.uint8)))
    session.new_run("A", make_trace())
    session.edit({"A": make_trace(value=1)})
    session.new_run("A", make_trace(value=5))
    assert not session.can_undo
    with pytest.raises(ValueError, match="document B has no trace"):
        session.edit({"B": make_trace()})


def test_document_views_need_decodes_except_the_last_iteration() -> None:
    document = Document("a", np.zeros((4, 4, 3), np.uint8))
    trace = make_trace(t=2)
    document.set_run(trace)
    assert document.view(2) is not None and document.view(2).iteration == 2
    assert document.needs_decode(0) and document.view(0) is None
    document.store_decoded(trace, 0, np.ones((3, 4, 4, 3), np.float32), np.zeros((3, 4, 4), np.float32))
    assert not document.needs_decode(0)
    assert document.view(0).attention is None and document.view(0).composite().max() == 1.0


def test_decodes_are_found_by_slot_values_and_the_oldest_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import slotviewer.components.document as document_module

    monkeypatch.setattr(document_module, "MAX_DECODED", 2)
    document = Document("a", np.zeros((4, 4, 3), np.uint8))
    trace = make_trace(t=3)
    trace = trace.replace(slots=trace.slots + np.arange(4, dtype=np.float32)[:, None, None])  # distinct per t
    document.set_run(trace)
    for t in range(3):
        rgb = np.full((3, 4, 4, 3), t / 10, np.float32)
        document.store_decoded(trace, t, rgb, np.zeros((3, 4, 4), np.float32))
    assert document.view(0) is None and document.needs_decode(0), "the oldest decode made room"
    assert document.view(1).rgb.max() == np.float32(0.1) and document.view(2).rgb.max() == np.float32(0.2)
    assert document.view(3).rgb is trace.rgb and not document.needs_decode(3), "T is the trace's own decode"
    edited = trace.replace(slots=trace.slots.copy(), rgb=trace.rgb + 1)
    edited.slots[2] += 1  # an edit that changes iteration 2's slots but not iteration 1's
    document.trace = edited
    assert document.view(1) is not None and document.view(2) is None
    document.set_run(trace)
    assert document.view(1) is None, "a new run drops the decodes"


def test_other_methods_never_need_decodes() -> None:
    document = Document("a", np.zeros((4, 4, 3), np.uint8))
    trace = make_trace(t=2)
    kmeans = trace.replace(provenance={**trace.provenance, "method": "soft-kmeans"})
    document.set_run(kmeans)
    assert not document.needs_decode(0)
    view = document.view(1)
    assert view.rgb is kmeans.rgb and np.array_equal(view.attention, kmeans.attention[0])
    assert document.name == "a" and Document("/x/y/pic.png", kmeans.image).name == "pic.png"
    assert Document("", kmeans.image).name == "untitled"


def test_views_leave_hidden_slots_out_and_unmarked_traces_are_slot_attention() -> None:
    document = Document("a", np.zeros((4, 4, 3), np.uint8))
    trace = make_trace(t=2).replace(enabled=(False, True, True))
    unmarked = trace.replace(provenance={})  # no method recorded: Slot Attention's, with decodes to do
    document.set_run(unmarked)
    assert document.needs_decode(0) and document.view(1) is None
    alpha = document.view(2).alpha()
    assert np.all(alpha[0] == 0) and np.allclose(alpha[1:].sum(0), 1.0)

"""The Qt-free `Viewer`'s edits and files: swap and transplant (within A, between A and B), solo, reset,
undo/redo, opacity, resampling, closing B, opening files and folders, and export — without a window."""

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from slotviewer.components.viewer import MAX_SEED, SAMPLES, Viewer
from slotviewer.data import generate


def scenes(n: int = 2) -> list[np.ndarray]:
    return list(generate("tetrominoes", n, seed=5)[0])


def show(viewer: Viewer, image: np.ndarray, name: str = "A") -> None:
    viewer.show_image(image, "scene", name)
    assert viewer.runner.wait_idle()


def trace(viewer: Viewer, name: str = "A"):  # noqa: ANN201
    return viewer.session.documents[name].trace


def events(viewer: Viewer, signal: str) -> list:
    seen: list = []
    getattr(viewer.events, signal).connect(lambda *args: seen.append(args))
    return seen


def test_swap_within_a_exchanges_the_slots_and_their_flags(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    before = trace(viewer)
    viewer.toggle_slot("A", 0, False)
    viewer.swap("A", 0, "A", 2)
    assert viewer.runner.wait_idle()
    after = trace(viewer)
    assert np.array_equal(after.slots[-1][0], before.slots[-1][2]) and np.array_equal(after.slots[-1][2],
                                                                                      before.slots[-1][0])
    assert np.array_equal(after.rgb[2], before.rgb[0]) and after.enabled[2] is False and after.enabled[0] is True
    assert after.edits[-1] == "swap slot 0 <-> slot 2"


def test_swap_between_a_and_b_changes_both_and_transplant_only_the_target(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    show(viewer, b, "B")
    ta, tb = trace(viewer, "A"), trace(viewer, "B")
    viewer.swap("A", 1, "B", 2)
    assert viewer.runner.wait_idle()
    assert np.array_equal(trace(viewer, "A").slots[-1][1], tb.slots[-1][2])
    assert np.array_equal(trace(viewer, "B").slots[-1][2], ta.slots[-1][1])
    assert not np.array_equal(trace(viewer, "A").rgb[1], ta.rgb[1]), "the swapped slot is decoded anew"
    viewer.undo()
    assert trace(viewer, "A") is ta and trace(viewer, "B") is tb, "one undo reverts both halves of a swap"
    viewer.swap("A", 2, "B", 0, transplant=True)
    assert viewer.runner.wait_idle()
    assert trace(viewer, "A") is ta, "a transplant leaves its source alone"
    assert np.array_equal(trace(viewer, "B").slots[-1][0], ta.slots[-1][2])
    assert np.array_equal(trace(viewer, "B").slots[-1][1:], tb.slots[-1][1:])


def test_swap_without_b_does_nothing(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    before = trace(viewer)
    viewer.swap("A", 0, "B", 1)
    assert viewer.runner.wait_idle() and trace(viewer) is before


def test_solo_reset_and_redo(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    original = trace(viewer)
    k = original.num_slots
    viewer.solo_slot("A", 2)
    assert trace(viewer).enabled == tuple(i == 2 for i in range(k))
    changed = events(viewer, "document")
    viewer.reset_edits()
    assert trace(viewer) is original and ("A",) in changed
    viewer.undo()
    assert trace(viewer).enabled == tuple(i == 2 for i in range(k)), "reset is one undoable step"
    viewer.redo()
    assert trace(viewer) is original
    viewer.reset_edits()  # nothing to reset: no new history entry
    viewer.undo()
    assert trace(viewer).enabled == tuple(i == 2 for i in range(k))


def test_opacity_is_clamped_and_announced(viewer: Viewer) -> None:
    seen = events(viewer, "opacity")
    for value, expected in ((0.3, 0.3), (-1, 0.0), (7, 1.0)):
        viewer.set_opacity(value)
        assert viewer.opacity == expected and seen[-1] == (expected,)


def test_resample_draws_a_new_seed_and_reruns(viewer: Viewer) -> None:
    show(viewer, scenes()[0])
    seeds = set()
    for _ in range(3):
        viewer.resample()
        assert viewer.runner.wait_idle()
        assert 0 <= viewer.params.seed <= MAX_SEED
        assert trace(viewer).provenance["seed"] == viewer.params.seed
        seeds.add(viewer.params.seed)
    assert len(seeds) >= 2


def test_close_b_stops_the_comparison(viewer: Viewer) -> None:
    a, b = scenes()
    show(viewer, a)
    viewer.compare("soft-kmeans")
    assert viewer.runner.wait_idle() and viewer.session.documents["B"] is not None
    changed = events(viewer, "document")
    viewer.close_b()
    assert viewer.session.documents["B"] is None and viewer.comparison is None and ("B",) in changed
    show(viewer, b)
    assert viewer.session.documents["B"] is None, "a closed comparison does not come back with a new A"


def test_open_path_reads_files_and_folders(viewer: Viewer, tmp_path: Path) -> None:
    a, b = scenes()
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(b).save(folder / "b.png")
    Image.fromarray(a).save(folder / "a.png")
    opened = events(viewer, "opened")
    viewer.open_path(folder)
    assert viewer.runner.wait_idle()
    document = viewer.session.documents["A"]
    assert document.source == str((folder / "a.png").resolve()), "a folder opens its first image"
    assert np.array_equal(document.image, a) and document.trace is not None
    assert opened[-1] == (str((folder / "a.png").resolve()),)
    viewer.open_path(folder / "b.png", "B")
    assert viewer.runner.wait_idle() and np.array_equal(viewer.session.documents["B"].image, b)


def test_open_path_errors_are_one_line_and_keep_the_image(viewer: Viewer, tmp_path: Path) -> None:
    show(viewer, scenes()[0])
    before = viewer.session.documents["A"]
    errors = events(viewer, "error")
    (tmp_path / "empty").mkdir()
    viewer.open_path(tmp_path / "empty")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    viewer.open_path(tmp_path / "bad.png")
    assert viewer.runner.wait_idle()
    assert errors[0] == (f"{(tmp_path / 'empty').resolve()}: no images in this folder",)
    assert len(errors) == 2 and "bad.png" in errors[1][0] and "\n" not in errors[1][0]
    assert viewer.session.documents["A"] is before


def test_paging_through_a_folder_skips_broken_files_and_goes_round(viewer: Viewer, tmp_path: Path) -> None:
    a, b = scenes()
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(a).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"")  # empty
    (folder / "c.png").write_bytes(b"not a png")
    Image.fromarray(b).save(folder / "d.png")
    messages, errors = events(viewer, "message"), events(viewer, "error")

    def page(step: int) -> str:
        viewer.browse(step)
        assert viewer.runner.wait_idle()
        return Path(viewer.session.documents["A"].source).name

    viewer.open_path(folder / "a.png")
    assert viewer.runner.wait_idle()
    assert page(1) == "d.png", "the two broken files are skipped"
    said = messages[-1][0]  # with the run's result, which would otherwise replace it at once
    assert said.startswith("A: d.png in ") and "· skipped 2 unreadable files: b.png (empty file); c.png (" in said
    assert page(1) == "a.png" and " skipped " not in messages[-1][0]
    assert page(-1) == "d.png", "round at both ends"
    viewer.open_path(folder / "c.png")  # a broken file opened by hand: its error, then paging goes on from it
    assert viewer.runner.wait_idle() and "c.png" in errors[-1][0]
    assert page(1) == "d.png" and not errors[1:]
    (folder / "a.png").rename(folder / "e.png")  # the folder changed: paging still goes round it
    assert page(1) == "e.png"
    viewer.open_path(folder / "b.png")
    assert viewer.runner.wait_idle()
    (folder / "b.png").unlink()  # the file paged from is gone: its neighbours are still next and previous
    assert page(1) == "d.png"
    viewer.show_image(np.asarray(b), "clipboard")  # pasted pixels have no folder to page through
    assert viewer.runner.wait_idle()
    viewer.browse(1)
    assert viewer.runner.wait_idle() and viewer.session.documents["A"].source == "clipboard"


def test_a_folder_whose_first_file_is_broken_opens_its_first_readable_one(viewer: Viewer, tmp_path: Path) -> None:
    a = scenes()[0]
    (tmp_path / "a.png").write_bytes(b"")
    Image.fromarray(a).save(tmp_path / "b.png")
    viewer.open_path(tmp_path)
    assert viewer.runner.wait_idle()
    assert viewer.session.documents["A"].source == str((tmp_path / "b.png").resolve())
    (tmp_path / "b.png").write_bytes(b"")
    errors = events(viewer, "error")
    viewer.open_path(tmp_path)  # nothing readable: one line naming the folder and the first reason
    assert viewer.runner.wait_idle()
    assert errors == [(f"{tmp_path.resolve()}: no readable image (a.png (empty file), and 1 more)",)]


def test_a_sample_opens_with_its_own_model(viewer: Viewer) -> None:
    sample = SAMPLES / "tetrominoes.png"
    viewer.open_path(sample)
    assert viewer.runner.wait_idle()
    assert viewer.params.model == "tetrominoes" and viewer.engine.backend.model_name == "tetrominoes"
    assert trace(viewer).provenance["model"] == "tetrominoes"


def test_export_of_a_video_frame_names_the_frame_and_hashes_its_pixels(viewer: Viewer, tmp_path: Path) -> None:
    from slotviewer.components.document import Document

    video = tmp_path / "clip.avi"
    video.write_bytes(b"a video file, whose hash would say nothing of the frame")
    frame = scenes()[0]
    viewer.session.open("A", Document(str(video), frame, frame=45))  # as the live view puts a frame there
    viewer.run("A")
    assert viewer.runner.wait_idle()
    viewer.export(tmp_path / "out")
    assert viewer.runner.wait_idle()
    record = json.loads((tmp_path / "out" / "clip_frame_000045" / "trace.json").read_text())
    assert record["input"] == str(video) and record["frame_index"] == 45
    assert record["input_sha256"] == hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest()


def test_export_writes_a_with_its_edits_and_input_hash(viewer: Viewer, tmp_path: Path) -> None:
    a = scenes()[0]
    source = tmp_path / "scene.png"
    Image.fromarray(a).save(source)
    viewer.open_path(source)
    assert viewer.runner.wait_idle()
    viewer.toggle_slot("A", 1, False)
    messages = events(viewer, "message")
    viewer.export(tmp_path / "out", files={"note.txt": b"hello"})
    assert viewer.runner.wait_idle()
    folder = tmp_path / "out" / "scene"
    record = json.loads((folder / "trace.json").read_text())
    assert record["input_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["input"] == str(source.resolve())
    assert (folder / "note.txt").read_bytes() == b"hello"
    labels = np.asarray(Image.open(folder / "labels.png"))
    assert 1 not in np.unique(labels), "the hidden slot is not in the exported labels"
    assert messages[-1] == (f"wrote {folder}",)


def test_export_of_pixels_hashes_the_pixels_and_needs_a_result(viewer: Viewer, tmp_path: Path) -> None:
    errors = events(viewer, "error")
    viewer.export(tmp_path / "out")
    assert errors == [("nothing to export yet",)]
    a = scenes()[0]
    viewer.show_image(a, "clipboard", "A")
    assert viewer.runner.wait_idle()
    viewer.export(tmp_path / "out")
    assert viewer.runner.wait_idle()
    record = json.loads((tmp_path / "out" / "clipboard" / "trace.json").read_text())
    assert record["input_sha256"] == hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()

"""Drive the app as a user would and check what is shown and written."""

import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from slotviewer.engine.trace import composite
from slotviewer.gui.main_window import MainWindow
from slotviewer.io.render import to_uint8
from tests.gui.conftest import wait_idle


def shown_reconstruction(window: MainWindow) -> np.ndarray:
    return window.views["A"].reconstruction.rendered()


def test_opens_and_renders_the_engine_composite(window: MainWindow) -> None:
    trace = window.session.documents["A"].trace
    assert window.engine.description.endswith("ONNX Runtime · CPUExecutionProvider")
    assert window.controls.running.text() == window.engine.description
    np.testing.assert_array_equal(shown_reconstruction(window), to_uint8(trace.composite()))
    assert len(window.views["A"].slots.cards) == trace.num_slots
    assert window.iteration_bar.slider.maximum() == trace.iterations


def test_scrubbing_shows_each_iterations_decoded_slots(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    trace = window.session.documents["A"].trace
    for t in (0, 1, 2):
        window.iteration_bar.set_iteration(t)
        rgb, alpha_logits = window.engine.decode(trace.slots[t])
        expected = to_uint8(composite(rgb, alpha_logits))
        assert np.abs(shown_reconstruction(window).astype(int) - expected).max() <= 1
        assert window.iteration_bar.label.text() == f"t = {t} / {trace.iterations}"
        assert window.plots.markers[0].value() == t


def test_arrow_keys_and_play(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    window.iteration_bar.set_iteration(0)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.iteration_bar.iteration == 1
    positions = []
    window.iteration_bar.sigPositionChanged.connect(positions.append)
    window.iteration_bar.speed.setCurrentText("4×")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.iteration_bar.playing
    qtbot.waitUntil(lambda: any(p >= 2 for p in positions), timeout=5000)
    window.iteration_bar.toggle_play()
    assert not window.iteration_bar.playing
    assert any(p != int(p) for p in positions), "playback passes between iterations (smooth)"
    assert window.session.documents["A"].iteration == window.iteration_bar.iteration


def test_toggle_solo_undo_redo(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    trace = window.session.documents["A"].trace
    card = window.views["A"].slots.cards[1]
    card.visible.click()
    edited = window.session.documents["A"].trace
    assert edited.enabled == (True, False, True)
    np.testing.assert_array_equal(shown_reconstruction(window), to_uint8(trace.composite([True, False, True])))
    window.solo_slot("A", 2)
    assert window.session.documents["A"].trace.enabled == (False, False, True)
    np.testing.assert_array_equal(shown_reconstruction(window), to_uint8(trace.rgb[2]))
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.session.documents["A"].trace.enabled == (True, False, True)
    window.undo()
    assert window.session.documents["A"].trace is trace
    assert all(card.visible.isChecked() for card in window.views["A"].slots.cards)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.session.documents["A"].trace.enabled == (True, False, True)


def test_swap_between_images_and_undo(window: MainWindow, images: list[Path], qtbot) -> None:  # noqa: ANN001
    window.open_path(str(images[1]), "B")
    qtbot.waitUntil(lambda: window.session.documents["B"] is not None
                    and window.session.documents["B"].trace is not None, timeout=20_000)
    wait_idle(qtbot, window)
    a, b = window.session.documents["A"].trace, window.session.documents["B"].trace
    assert window.views["B"].isVisible()
    window.views["A"].slots.cards[0].sigDropped.emit("B", 1, 0, False)  # drop B's slot 1 on A's slot 0
    qtbot.waitUntil(lambda: window.session.documents["A"].trace is not a, timeout=20_000)
    a2, b2 = window.session.documents["A"].trace, window.session.documents["B"].trace
    np.testing.assert_array_equal(a2.slots[-1][0], b.slots[-1][1])
    np.testing.assert_array_equal(b2.slots[-1][1], a.slots[-1][0])
    window.undo()  # one undo reverts both images
    assert window.session.documents["A"].trace is a and window.session.documents["B"].trace is b
    window.views["B"].slots.cards[2].sigDropped.emit("A", 0, 2, True)  # transplant A:0 → B:2
    qtbot.waitUntil(lambda: window.session.documents["B"].trace is not b, timeout=20_000)
    assert window.session.documents["A"].trace is a
    np.testing.assert_array_equal(window.session.documents["B"].trace.slots[-1][2], a.slots[-1][0])


def test_reconverge_and_reset(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    original = window.session.documents["A"].trace
    window.toggle_slot("A", 0, False)
    window.reconverge(2)
    qtbot.waitUntil(lambda: window.session.documents["A"].trace.num_slots == 2, timeout=20_000)
    assert len(window.views["A"].slots.cards) == 2
    window.reset_edits()
    assert window.session.documents["A"].trace is original


def test_changing_run_settings_reruns(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    c = window.controls
    c.slots.setValue(5)
    c.iters.setValue(4)
    c.seed.setValue(77)
    qtbot.waitUntil(lambda: window.session.documents["A"].trace.provenance["seed"] == 77
                    and window.session.documents["A"].trace.num_slots == 5, timeout=20_000)
    wait_idle(qtbot, window)
    trace = window.session.documents["A"].trace
    assert trace.iterations == 4 and window.iteration_bar.slider.maximum() == 4
    c.method.setCurrentText("soft k-means")
    qtbot.waitUntil(lambda: window.session.documents["A"].trace.provenance["method"] == "soft-kmeans",
                    timeout=20_000)
    c.backend.setCurrentText("torch")
    qtbot.waitUntil(lambda: window.engine.backend.name == "torch", timeout=30_000)
    assert "PyTorch" in window.controls.running.text()


def test_stability_check(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    window.check_stability(4)
    qtbot.waitUntil(lambda: window._stability is not None, timeout=30_000)
    result = window._stability
    assert len(result.seeds) == 4 and result.agreement.shape == (35, 35)
    assert "4 seeds: mean pairwise ARI" in window.controls.stability_result.text()
    assert window.agreement.isVisible()


def test_export_writes_run_outputs_view_and_gif(window: MainWindow, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    window.toggle_slot("A", 2, False)
    window.export_to(tmp_path / "export")
    folder = tmp_path / "export" / "a"
    qtbot.waitUntil(lambda: (folder / "view.png").exists(), timeout=20_000)
    for name in ("labels.png", "reconstruction.png", "attention.npz", "attention.gif", "trace.json",
                 "masks/slot_00.png", "slots/slot_02.png"):
        assert (folder / name).exists(), name
    assert json.loads((folder / "trace.json").read_text())["enabled"] == [True, True, False]
    qtbot.waitUntil(lambda: "wrote" in window.statusBar().currentMessage(), timeout=5000)


def test_bad_file_is_a_message_not_a_crash(window: MainWindow, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all" * 4)
    window.open_path(str(bad))
    qtbot.waitUntil(lambda: "broken.png: not an image" in window.statusBar().currentMessage(), timeout=10_000)
    assert window.session.documents["A"].source.endswith("a.png"), "the open image stays"


def test_folder_navigation_and_recent_files(window: MainWindow, images: list[Path], qtbot) -> None:  # noqa: ANN001
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("b.png"), timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("a.png"), timeout=10_000)
    assert window.recent_files()[0].endswith("a.png") and any(p.endswith("b.png") for p in window.recent_files())


def test_settings_are_remembered(window: MainWindow) -> None:
    window.controls.opacity.setValue(80)
    window.save_settings()
    assert int(window.settings.value("opacity")) == 80
    assert window.settings.value("backend") == "onnx"


def test_side_by_side_with_k_means(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    window.compare_methods()
    qtbot.waitUntil(lambda: window.session.documents["B"].trace is not None, timeout=20_000)
    b = window.session.documents["B"].trace
    assert b.provenance["method"] == "soft-kmeans" and window.views["B"].isVisible()
    assert window.session.documents["A"].trace.provenance["method"] == "slot-attention"
    np.testing.assert_array_equal(window.views["B"].reconstruction.rendered(), to_uint8(b.composite()))


def test_wrong_model_file_is_a_clear_message(window: MainWindow, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    bad = tmp_path / "other.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    window.controls.add_model(str(bad))
    window.load_engine()
    qtbot.waitUntil(lambda: "other.onnx: not a loadable ONNX model" in window.statusBar().currentMessage(),
                    timeout=10_000)
    assert window.engine is not None, "the previous model stays usable"

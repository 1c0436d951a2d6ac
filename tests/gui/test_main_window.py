"""Drive the app as a user would and check what is shown and written (issue 10's problems, one by one)."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QToolButton

from slotviewer.components.frames import UNDECIDED
from slotviewer.components.viewer import SAMPLES
from slotviewer.engine.trace import composite
from slotviewer.gui.main_window import MainWindow
from slotviewer.io.render import slot_colours, to_uint8
from tests.fixtures import assert_distinct, assert_not_flat
from tests.gui.conftest import make_window, wait_idle


def shown_reconstruction(window: MainWindow, name: str = "A") -> np.ndarray:
    return window.views[name].reconstruction.rendered()


def shown_overlay(window: MainWindow, name: str = "A") -> np.ndarray:
    return np.asarray(window.views[name].input.overlay.image)


def trace_of(window: MainWindow, name: str = "A"):  # noqa: ANN201
    return window.session.documents[name].trace


def test_opens_and_renders_the_engine_composite(window: MainWindow) -> None:
    trace = trace_of(window)
    assert window.controls.running.text() == window.viewer.engine.description
    shown = shown_reconstruction(window)
    assert_not_flat(shown, what="reconstruction")
    np.testing.assert_array_equal(shown, to_uint8(trace.composite()))
    cards = window.views["A"].slots.cards
    assert_distinct(np.stack([card._arrays[2] for card in cards]), what="decoded slot pictures")
    assert len(window.views["A"].slots.cards) == trace.num_slots
    assert window.iteration_bar.slider.maximum() == trace.iterations


def test_scrubbing_shows_each_iterations_decoded_slots_and_attention(window: MainWindow) -> None:
    trace = trace_of(window)
    colours = slot_colours(trace.num_slots)
    overlays = []
    for t in range(trace.iterations + 1):
        window.iteration_bar.set_iteration(t)
        rgb, alpha_logits = window.viewer.engine.decode(trace.slots[t])
        assert np.abs(shown_reconstruction(window).astype(int) - to_uint8(composite(rgb, alpha_logits))).max() <= 1
        assert window.iteration_bar.label.text() == f"t = {t} / {trace.iterations}"
        assert window.plots.markers[0].value() == t
        overlays.append(shown_overlay(window))
        assert_not_flat(shown_reconstruction(window), what=f"reconstruction at t = {t}")
        if t >= 1:  # problem 4: the overlay is Slot Attention's attention at t, by default (argmax), but
            attention = trace.attention[t - 1]  # where no slot leads (all shares within 0.02), the uniform tint
            expected = colours[attention.argmax(0)]
            expected[np.ptp(attention, axis=0) < UNDECIDED] = (colours.astype(float).mean(0) + 0.5).astype(np.uint8)
            np.testing.assert_array_equal(overlays[-1], expected)
    assert len(np.unique(overlays[0].reshape(-1, 3), axis=0)) == 1, "t = 0: nothing claimed yet"
    assert not np.array_equal(overlays[1], overlays[0])


def test_problem4_overlay_switches_to_alpha_and_cards_are_labelled(window: MainWindow) -> None:
    trace = trace_of(window)
    attention = shown_overlay(window).copy()
    window.controls.overlay.setCurrentIndex(2)  # decoder alpha
    assert window.viewer.overlay == "alpha"
    np.testing.assert_array_equal(shown_overlay(window), slot_colours(trace.num_slots)[trace.alpha().argmax(0)])
    assert shown_overlay(window).shape != attention.shape or not np.array_equal(shown_overlay(window), attention)
    card = window.views["A"].slots.cards[0]
    assert [c.text() for c in card.captions] in (["attention", "alpha", "decoded"], ["attn", "alpha", "rgb"])


def test_arrow_keys_and_time_based_play(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    window.iteration_bar.set_iteration(0)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.iteration_bar.iteration == 1 and window.viewer.iteration == 1
    bar = window.iteration_bar
    bar.toggle_play()
    assert bar.playing
    # the position follows the clock, not the number of ticks: 0.9 s at 1× is 1.5 iterations from t = 1
    import time

    bar._clock = (time.monotonic() - 0.9, 1.0)
    bar._tick()
    assert 2.4 < window.viewer.position < 2.7
    bar.toggle_play()
    assert not bar.playing and window.viewer.position == bar.iteration


def test_toggle_solo_undo_redo(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    trace = trace_of(window)
    window.views["A"].slots.cards[1].visible.click()
    assert trace_of(window).enabled == (True, False, True)
    np.testing.assert_array_equal(shown_reconstruction(window), to_uint8(trace.composite([True, False, True])))
    window.views["A"].slots.sigSolo.emit(2)
    assert trace_of(window).enabled == (False, False, True)
    assert_not_flat(trace.rgb[2], what="slot 2's colour")
    np.testing.assert_array_equal(shown_reconstruction(window), to_uint8(trace.rgb[2]))
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert trace_of(window).enabled == (True, False, True)
    window.viewer.undo()
    assert trace_of(window) is trace and all(c.visible.isChecked() for c in window.views["A"].slots.cards)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert trace_of(window).enabled == (True, False, True)


def test_swap_between_images_and_undo(window: MainWindow, images: list[Path], qtbot) -> None:  # noqa: ANN001
    window.viewer.open_path(images[1], "B")
    wait_idle(qtbot, window, ("A", "B"))
    a, b = trace_of(window), trace_of(window, "B")
    assert window.views["B"].isVisible()
    window.views["A"].slots.cards[0].sigDropped.emit("B", 1, 0, False)  # drop B's slot 1 on A's slot 0
    qtbot.waitUntil(lambda: trace_of(window) is not a, timeout=20_000)
    np.testing.assert_array_equal(trace_of(window).slots[-1][0], b.slots[-1][1])
    np.testing.assert_array_equal(trace_of(window, "B").slots[-1][1], a.slots[-1][0])
    for name in "AB":  # the captions say so
        assert "(with the other image’s slots)" in window.views[name].caption.text()
    window.viewer.undo()  # one undo reverts both images
    assert trace_of(window) is a and trace_of(window, "B") is b
    assert "other image" not in window.views["A"].caption.text()


def test_problem1_a_small_image_after_a_large_one_fills_the_panel(window: MainWindow, tmp_path: Path,
                                                                  qtbot) -> None:  # noqa: ANN001
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (384, 512, 3), np.uint8)).save(big)
    window.viewer.open_path(big)
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("big.png"), timeout=10_000)
    wait_idle(qtbot, window)
    window.viewer.open_path(tmp_path / "a.png")
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("a.png"), timeout=10_000)
    wait_idle(qtbot, window)
    for panel in (window.views["A"].input, window.views["A"].reconstruction):
        (x0, x1), (y0, y1) = panel.view.viewRange()
        visible = min(x1, 35) - max(x0, 0), min(y1, 35) - max(y0, 0)
        assert visible[0] >= 34 and visible[1] >= 34 and max(x1 - x0, y1 - y0) < 60, panel.view.viewRange()
        assert panel.image.boundingRect().width() > 0 and panel.image.mapRectToView(
            panel.image.boundingRect()).width() == 35


def test_a_long_strip_is_shown_stretched_to_be_seen(window: MainWindow, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    strip = tmp_path / "strip.png"  # at its own aspect a line under one screen pixel tall: a black panel
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (4, 900, 3), np.uint8)).save(strip)
    window.viewer.open_path(strip)
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("strip.png"), timeout=10_000)
    wait_idle(qtbot, window)
    assert window.views["A"].caption.text().startswith("strip.png (900×4, shown stretched) · K=")
    for panel in (window.views["A"].input, window.views["A"].reconstruction):
        shown = panel.image.mapRectToDevice(panel.image.boundingRect())
        assert shown.height() >= 15 and shown.width() / shown.height() == pytest.approx(8, rel=0.05), shown
    window.viewer.open_path(tmp_path / "a.png")  # a square image after it is itself again
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("a.png"), timeout=10_000)
    wait_idle(qtbot, window)
    assert "shown stretched" not in window.views["A"].caption.text()
    shown = window.views["A"].input.image.mapRectToDevice(window.views["A"].input.image.boundingRect())
    assert shown.width() == pytest.approx(shown.height(), rel=0.02)


def test_problem2_no_stale_panels_or_status(window: MainWindow, images: list[Path], qtbot) -> None:  # noqa: ANN001
    window.viewer.check_stability(2)
    assert window.activity.text() in ("running 2 seeds…", "")
    qtbot.waitUntil(lambda: window.viewer.stability is not None, timeout=30_000)
    assert "2 seeds" in window.controls.stability_result.text() and window.agreement.isVisible()
    assert window.activity.text() == "", "the status ends with the job"
    window.viewer.open_path(images[1])
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("b.png"), timeout=10_000)
    assert window.controls.stability_result.text() == "" and not window.agreement.isVisible()
    window.viewer.compare()
    wait_idle(qtbot, window, ("A", "B"))
    window.viewer.open_path(images[2])
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("c.png"), timeout=10_000)
    wait_idle(qtbot, window, ("A", "B"))
    b = window.session.documents["B"]
    assert b.source.endswith("c.png") and b.trace.provenance["method"] == "soft-kmeans"
    np.testing.assert_array_equal(window.views["B"].input.rendered(), window.views["A"].input.rendered())
    assert window.activity.text() == ""


def _cards_fit(window: MainWindow, name: str) -> None:
    panel = window.views[name].slots
    for card in panel.cards:
        assert card.isVisible()
        rect = card.geometry()
        assert panel.rect().contains(rect), (name, card.index, rect, panel.rect())
        solo = card.findChild(QToolButton)
        assert solo.isVisible() and card.rect().contains(solo.geometry())


def test_problem3_every_card_fits_at_1280x720_and_in_ab_at_1600x900(window: MainWindow, images: list[Path],
                                                                     qtbot) -> None:  # noqa: ANN001
    window.resize(1280, 720)
    window.viewer.set_params(slots=8)
    qtbot.waitUntil(lambda: trace_of(window).num_slots == 8, timeout=20_000)
    wait_idle(qtbot, window)
    qtbot.wait(50)
    _cards_fit(window, "A")
    window.resize(1600, 900)
    window.viewer.open_path(images[1], "B")
    wait_idle(qtbot, window, ("A", "B"))
    qtbot.wait(50)
    for name in ("A", "B"):
        _cards_fit(window, name)
    window.resize(1280, 720)  # A/B in a small window: the image views stay inside their panels
    qtbot.wait(50)
    for v in window.views.values():
        for panel in (v.input, v.reconstruction):
            assert panel.view.sceneBoundingRect().right() <= panel.width() + 1, "the image is not cut off"
        _cards_fit(window, v.name)
    window.resize(1600, 900)
    qtbot.wait(50)
    sizes = {(v.input.width(), v.input.height()) for v in window.views.values()}
    sizes |= {(v.reconstruction.width(), v.reconstruction.height()) for v in window.views.values()}
    assert max(w for w, _ in sizes) - min(w for w, _ in sizes) <= 2, sizes
    assert max(h for _, h in sizes) - min(h for _, h in sizes) <= 2, sizes


def test_problem5_reconverge_keeps_edits_and_extends_history(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    original = trace_of(window)
    window.views["A"].slots.cards[0].visible.click()
    window.controls.reconverge_iters.setValue(2)
    window.controls.sigReconverge.emit(2)
    qtbot.waitUntil(lambda: trace_of(window).iterations == original.iterations + 2, timeout=20_000)
    wait_idle(qtbot, window)
    trace = trace_of(window)
    assert trace.num_slots == original.num_slots and trace.enabled[0] is False
    assert not window.views["A"].slots.cards[0].visible.isChecked()
    assert window.controls.slots.value() == trace.num_slots
    assert f"K={trace.num_slots} (1 hidden)" in window.views["A"].caption.text()
    assert window.iteration_bar.slider.maximum() == original.iterations + 2 == window.viewer.iteration
    movement_curve = window.plots.curves[0][1]
    assert len(movement_curve.xData) == original.iterations + 2, "the ‖Δslot‖ history is extended"
    window.viewer.reset_edits()
    assert trace_of(window) is original


def test_problem6_samples_open_with_their_model(window: MainWindow, qtbot, monkeypatch) -> None:  # noqa: ANN001
    window.viewer.open_path(SAMPLES / "tetrominoes.png")
    qtbot.waitUntil(lambda: window.viewer.engine.backend.model_name == "tetrominoes", timeout=30_000)
    wait_idle(qtbot, window)
    assert window.controls.model.currentText() == "tetrominoes" and trace_of(window).num_slots == 4
    assert not window.controls.slots.isEnabled(), "learned queries: K is fixed"
    monkeypatch.setattr("slotviewer.gui.dialogs.QFileDialog.getOpenFileName", lambda *a, **k: ("", ""))
    window.open_model_dialog()  # cancelled: the controls show the model that runs, K still fixed at 4
    assert not window.controls.slots.isEnabled() and window.controls.slots.value() == 4
    window.viewer.model_chosen = True  # as `gui --model tetrominoes` says: the shapes sample keeps that model
    window.viewer.open_path(SAMPLES / "shapes.png")
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("shapes.png"), timeout=10_000)
    wait_idle(qtbot, window)
    assert window.viewer.engine.backend.model_name == "tetrominoes" and trace_of(window).num_slots == 4


def test_problem7_notice_for_an_unfamiliar_image_and_about_model(qtbot, settings: QSettings,
                                                                  tmp_path: Path) -> None:  # noqa: ANN001
    w = make_window(qtbot, settings, None)
    w.viewer.set_params(model="tetrominoes", backend="onnx", device="cpu")
    qtbot.waitUntil(lambda: w.viewer.engine is not None and w.viewer.engine.backend.model_name == "tetrominoes",
                    timeout=30_000)
    assert w.controls.draws.value() == w.viewer.params.draws == 8, "the new model's draws, not the old ones"
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (90, 120, 3), np.uint8)).save(photo)
    w.viewer.open_path(photo)
    wait_idle(qtbot, w)
    assert w.notice.isVisible() and "unlike what the model was trained on" in w.notice.text()
    w.viewer.open_path(SAMPLES / "tetrominoes.png")
    qtbot.waitUntil(lambda: w.session.documents["A"].source.endswith("tetrominoes.png"), timeout=10_000)
    wait_idle(qtbot, w)
    assert not w.notice.isVisible(), "the notice goes with the image"
    about = w.about_model_text()
    card = w.viewer.engine.backend.card
    assert "tetrominoes" in about and "FG-ARI" in about and f"{card.typical_mse:.5f}" in about
    assert f"{card.fg_ari['mean']:.3f}" in about and "best of 8 draws" in about
    assert f"{card.fg_ari['posterior']['mean']:.3f} ± {card.fg_ari['posterior']['std']:.3f} by posterior" in about
    assert "best of 8 by reconstruction error" in about
    w.close()


def test_problem8_linked_zoom_fit_aspect_entropy_f1_view_menu(window: MainWindow, tmp_path: Path,
                                                               qtbot) -> None:  # noqa: ANN001
    view = window.views["A"]
    view.input.view.scaleBy((0.5, 0.5))  # what a wheel step does, then it tells the links
    view.input.view.sigRangeChangedManually.emit([True, True])
    # linked: the same range, up to what aspect locking adds when the two panels differ by a pixel in width
    np.testing.assert_allclose(view.reconstruction.view.viewRange(), view.input.view.viewRange(), atol=0.1,
                               err_msg="linked")
    view.fit()
    (x0, x1), (y0, y1) = view.input.view.viewRange()
    assert x0 <= 0.01 and y0 <= 0.01 and x1 >= 34.99 and y1 >= 34.99, "the whole image is back"
    assert min(x1 - x0, y1 - y0) < 35.5, "and it fills the panel"
    wide = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 100, 3), np.uint8)).save(wide)
    window.viewer.open_path(wide)
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("wide.png"), timeout=10_000)
    wait_idle(qtbot, window)
    rect = view.reconstruction.image.mapRectToView(view.reconstruction.image.boundingRect())
    assert (rect.width(), rect.height()) == (100, 40), "the reconstruction keeps the input's aspect"
    k = trace_of(window).num_slots
    (_, top) = window.plots.entropy.viewRange()[1]
    assert abs(top - np.log(k)) < 0.1 * np.log(k), "entropy on a fixed 0…log K scale"
    keys = dict(window.shortcuts)
    assert "Ctrl+K" in keys and "F1" in keys and "Space" in keys and "1" in keys
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    titles = [a.text() for a in view_menu.actions()]
    assert "Controls" in titles and "Convergence" in titles


def test_draws_box_shows_the_models_draws_and_reruns_with_its_value(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    assert window.controls.draws.value() == window.viewer.engine.config.draws == 1
    before = trace_of(window)
    assert before.provenance["draws"] == 1 and "(draw" not in window.views["A"].caption.text()
    window.controls.draws.setValue(5)
    qtbot.waitUntil(lambda: trace_of(window) is not before, timeout=20_000)
    assert window.viewer.params.draws == 5 and trace_of(window).provenance["draws"] == 5
    assert f"seed=0 (draw {trace_of(window).provenance['draw'] + 1}/5)" in window.views["A"].caption.text()
    assert window.controls.draws.minimum() == 1 and window.controls.draws.maximum() == 64
    window.viewer.set_params(method="kmeans")
    assert not window.controls.draws.isEnabled()
    window.viewer.set_params(method="slot-attention")
    assert window.controls.draws.isEnabled()


def test_settings_are_restored_on_start(qtbot, tiny_model: Path, settings: QSettings) -> None:  # noqa: ANN001
    settings.setValue("model", str(tiny_model.with_suffix(".onnx")))
    settings.setValue("backend", "onnx")
    settings.setValue("device", "cpu")
    settings.setValue("seed", 4242)
    settings.setValue("method", "soft-kmeans")
    settings.setValue("overlay", "alpha")
    settings.setValue("opacity", 30)
    w = make_window(qtbot, settings, None)
    assert w.viewer.params.seed == 4242 and w.controls.seed.value() == 4242
    assert w.viewer.params.method == "soft-kmeans" and w.controls.method.currentText() == "soft k-means"
    assert w.viewer.engine.backend.model_path == tiny_model.with_suffix(".onnx")
    assert w.viewer.overlay == "alpha" and w.controls.opacity.value() == 30
    w.controls.seed.setValue(7)
    w.close()
    again = make_window(qtbot, settings, None)
    assert again.viewer.params.seed == 7
    again.close()


def test_a_saved_model_that_is_gone_falls_back_to_the_shipped_one(settings: QSettings, tmp_path: Path) -> None:
    from slotviewer.gui.settings import saved_params

    settings.setValue("model", str(tmp_path / "slotviewer-adapted-x" / "shapes.adapted"))
    assert saved_params(settings).model == "shapes"
    (tmp_path / "mine.safetensors").write_bytes(b"")
    settings.setValue("model", str(tmp_path / "mine"))
    assert saved_params(settings).model == str(tmp_path / "mine"), "one that exists stays (its loading says more)"


def test_export_writes_outputs_with_input_hash_and_familiarity(window: MainWindow, images: list[Path],
                                                               tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    window.viewer.toggle_slot("A", 2, False)
    window.export_to(tmp_path / "export")
    folder = tmp_path / "export" / "a"
    qtbot.waitUntil(lambda: (folder / "trace.json").exists(), timeout=20_000)
    for name in ("labels.png", "reconstruction.png", "attention.npz", "attention.gif", "view.png",
                 "masks/slot_00.png", "slots/slot_02.png"):
        assert (folder / name).exists(), name
    record = json.loads((folder / "trace.json").read_text())
    assert record["enabled"] == [True, True, False]
    assert record["input_sha256"] == hashlib.sha256(images[0].read_bytes()).hexdigest()
    assert record["input"] == str(images[0].resolve())
    assert set(record["familiarity"]) == {"reconstruction_mse", "typical_mse", "ratio", "unfamiliar"}


def test_bad_file_is_a_message_not_a_crash(window: MainWindow, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all" * 4)
    window.viewer.open_path(bad)
    qtbot.waitUntil(lambda: "broken.png: not an image" in window.statusBar().toolTip(), timeout=10_000)
    assert window.session.documents["A"].source.endswith("a.png"), "the open image stays"
    assert window.activity.text() == ""


def test_a_model_that_fails_to_load_leaves_the_model_list(window: MainWindow, tmp_path: Path,
                                                         qtbot) -> None:  # noqa: ANN001
    good = window.viewer.params.model
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    window._set_params({"model": str(broken), "backend": "onnx"})
    qtbot.waitUntil(lambda: window.viewer.params.model == good, timeout=20_000)  # back to the model that runs
    box = window.controls.model
    items = [box.itemData(i) for i in range(box.count())]
    assert str(broken) not in items and good in items and box.currentData() == good
    assert box.currentText() == f"{Path(good).stem} (in {Path(good).parent.name})", "its name and folder; "\
        "the tooltip has the whole path"


def test_folder_navigation_and_absolute_recent_files(window: MainWindow, images: list[Path], qtbot,
                                                     monkeypatch) -> None:  # noqa: ANN001
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("b.png"), timeout=10_000)
    monkeypatch.chdir(images[0].parent)
    window.viewer.open_path("c.png")
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("c.png"), timeout=10_000)
    recent = window.recent_files()
    assert recent[0] == str(images[2].resolve()) and all(Path(p).is_absolute() for p in recent)


def test_stale_edit_is_dropped_when_the_image_changes(window: MainWindow, images: list[Path], qtbot) -> None:  # noqa: ANN001
    window.viewer.toggle_slot("A", 0, False)
    window.viewer.reconverge(2)
    window.viewer.show_image(np.asarray(Image.open(images[1])), str(images[1]))
    wait_idle(qtbot, window)
    trace = trace_of(window)
    assert trace.edits == () and trace.iterations == window.viewer.params.iters
    assert window.session.documents["A"].source.endswith("b.png")


def test_wrong_model_file_keeps_the_previous_model_working(window: MainWindow, images: list[Path], tmp_path: Path,
                                                           qtbot) -> None:  # noqa: ANN001
    good = window.viewer.params
    bad = tmp_path / "other.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    window.viewer.set_params(model=str(bad))
    qtbot.waitUntil(lambda: "other.onnx: not a loadable ONNX model" in window.statusBar().toolTip(),
                    timeout=10_000)
    assert window.viewer.params == good and window.controls.model.currentData() == good.model
    before = trace_of(window)
    window.viewer.open_path(images[1])
    qtbot.waitUntil(lambda: window.session.documents["A"].source.endswith("b.png"), timeout=10_000)
    wait_idle(qtbot, window)
    assert trace_of(window) is not before, "the old model still runs images"
    assert_not_flat(shown_reconstruction(window), what="reconstruction by the previous model")


def test_reports_queued_when_the_window_closes_reach_no_deleted_widget(qtbot, tiny_model: Path,  # noqa: ANN001
                                                                      settings: QSettings) -> None:
    """A job that finishes while the window closes has its reports posted to the GUI thread; they run after
    the widgets are gone and must find nothing connected (they used to raise on a deleted QLabel)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    w = MainWindow(settings)  # not handed to qtbot, which would close it again after it is deleted
    w.setProperty("quiet", True)
    w.show()
    viewer = w.viewer
    viewer.params = dataclasses.replace(viewer.params, model=str(tiny_model.with_suffix(".onnx")), backend="onnx")
    viewer.load_engine()
    qtbot.waitUntil(lambda: viewer.engine is not None, timeout=30_000)
    w.close()
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    viewer.runner.events.status.emit("a late report")  # what a queued report does
    viewer.runner.events.busy.emit(False)
    viewer.events.message.emit("a late message")


def test_a_screenshot_is_written_in_the_format_its_name_asks_for(window: MainWindow, tmp_path: Path) -> None:
    for name, magic in (("s.png", b"\x89PNG"), ("s.jpg", b"\xff\xd8\xff"), ("s.bmp", b"BM")):
        window.save_screenshot(str(tmp_path / name))
        assert (tmp_path / name).read_bytes().startswith(magic), name  # it wrote PNG data under every name


def test_the_window_fits_800x600_with_the_controls_scrolling(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    """The controls held the window at least 647 px tall (`--size 800x600` gave 800×647); now they scroll."""
    window.resize(800, 600)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (800, 600), timeout=5_000)
    scroll = window.docks[0].widget()
    assert scroll.widget() is window.controls and scroll.verticalScrollBar().maximum() > 0


def test_at_800x600_in_a_b_the_controls_keep_their_width(window: MainWindow, images: list[Path], qtbot) -> None:  # noqa: ANN001
    """Four image panels side by side squeezed the controls dock below its boxes' width: cut, and no way to
    scroll to them. The images give way instead."""
    window.viewer.open_path(images[1], "B")
    wait_idle(qtbot, window, ("A", "B"))
    window.resize(800, 600)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (800, 600), timeout=5_000)
    scroll = window.docks[0].widget()
    qtbot.waitUntil(lambda: scroll.viewport().width() >= window.controls.minimumSizeHint().width(), timeout=5_000)
    assert window.views["B"].isVisible() and window.views["B"].width() >= 64


def test_a_long_status_message_is_shortened_in_the_middle_and_kept_whole_in_the_tooltip(
        window: MainWindow, qtbot) -> None:  # noqa: ANN001
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800, timeout=5_000)
    text = "A: skipped 2 unreadable files: " + "x" * 300 + " (empty file)"
    window.status(text)
    shown = window.statusBar().currentMessage()
    assert "…" in shown and shown.endswith("(empty file)") and len(shown) < len(text)
    assert window.statusBar().toolTip() == text


def test_what_needs_an_image_is_offered_only_with_one_open(qtbot, settings: QSettings, tiny_model: Path,  # noqa: ANN001
                                                          images: list[Path]) -> None:
    window = make_window(qtbot, settings, tiny_model.with_suffix(".onnx"))
    assert not window.compare_action.isEnabled() and not window.close_b_action.isEnabled()
    assert not window.reset_action.isEnabled()
    window.viewer.open_path(images[0])
    wait_idle(qtbot, window)
    assert window.compare_action.isEnabled() and window.reset_action.isEnabled()
    assert not window.close_b_action.isEnabled()
    window.compare_action.trigger()
    wait_idle(qtbot, window, ("A", "B"))
    assert window.close_b_action.isEnabled()
    window.close_b_action.trigger()
    assert not window.close_b_action.isEnabled() and window.session.documents["B"] is None
    window.close()


def test_the_iteration_scrubber_keeps_a_usable_width_in_a_narrow_window(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    """At 800×600 with both docks open the centre is ~270 px: speed and loop go to a second row."""
    bar = window.iteration_bar
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800 and bar.row.rows == 2, timeout=5_000)
    assert bar.slider.width() >= 120 and bar.loop.isVisible()
    window.resize(1600, 900)
    qtbot.waitUntil(lambda: bar.row.rows == 1, timeout=5_000)

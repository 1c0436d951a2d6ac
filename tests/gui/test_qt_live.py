"""The live view in the window with the fake camera: start, pause, scrub a paused frame (iterations too),
hide a slot and see it stay hidden on the next frames, record, stop."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from slotviewer.components.live import LiveView
from slotviewer.engine import Engine
from slotviewer.gui import qt_live
from slotviewer.gui.qt_document_view import caption
from slotviewer.gui.qt_live import QtLive
from slotviewer.io.sources import FakeCamera, open_source
from slotviewer.video import DEFAULT_MASK_PRIOR, CarryOver
from tests.io.test_sources import write_truncated_video


def streaming(qtbot, window, **camera) -> tuple[QtLive, object]:  # noqa: ANN001
    """The window's live view on a 30 FPS fake camera, with a few frames buffered."""
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    live_ui.start(FakeCamera(realtime=True, fps=30, **camera))
    qtbot.waitUntil(lambda: len(live_ui.live.buffer) >= 3, timeout=30_000)
    return live_ui, live_ui.live


def stop(qtbot, live_ui: QtLive) -> None:  # noqa: ANN001
    live = live_ui.live
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_live_camera_in_the_window(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    shown: list[int] = []
    live_ui.sigFrameShown.connect(shown.append)
    assert not any(a.isEnabled() for a in live_ui._stream_actions + live_ui._frame_actions), "no stream: greyed out"
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    qtbot.waitUntil(lambda: len(shown) >= 5, timeout=30_000)
    assert all(a.isEnabled() for a in live_ui._stream_actions + live_ui._frame_actions)
    assert not live_ui._save_adapted_action.isEnabled(), "nothing adapted yet"
    assert live_ui.toolbar.isVisible() and live.state == "running"
    document = window.session.documents["A"]
    assert document.trace is live.shown.trace and document.image.shape == (64, 64, 3)
    qtbot.waitUntil(lambda: live.shown.trace.provenance.get("init") == "carried", timeout=10_000)
    text = caption(window.session.documents["A"])
    assert "slots carried over" in text and "seed=None" not in text and f"T={live.shown.trace.iterations}" in text
    # while it runs, the iteration bar and the curves follow the frames too (a carried frame: 1 iteration)
    qtbot.waitUntil(lambda: window.iteration_bar.label.text() == "t = 1 / 1", timeout=10_000)
    qtbot.waitUntil(lambda: window.plots.shown is not None and len(window.plots.shown) == 2, timeout=10_000)

    live_ui.bar.sigRecord.emit(False)  # (no dialog in tests) start a recording directly
    live_ui.start_recording(tmp_path / "rec.avi")
    qtbot.waitUntil(lambda: live.recorder is not None and live.recorder.frames >= 2, timeout=30_000)

    live_ui.bar.play.setChecked(False)  # pause
    qtbot.waitUntil(lambda: live.state == "paused", timeout=10_000)
    live_ui.bar.scrub.setFocus()
    qtbot.keyClick(live_ui.bar.scrub, Qt.Key.Key_Home)  # scrub back to the oldest buffered frame (a key, no drag)
    oldest = live.buffer[0]
    qtbot.waitUntil(lambda: window.session.documents["A"].trace is live.shown.trace, timeout=10_000)
    assert live.shown.seq == oldest.seq and live_ui.bar.scrub.value() == 0
    qtbot.keyClick(live_ui.bar.scrub, Qt.Key.Key_End)  # the newest (the arrows step the iterations)
    qtbot.waitUntil(lambda: live.shown.seq == live.buffer[-1].seq, timeout=10_000)
    live_ui.bar.scrub.triggerAction(live_ui.bar.scrub.SliderAction.SliderPageStepSub)  # a click on the track
    qtbot.waitUntil(lambda: live.shown.seq == live.buffer[max(0, len(live.buffer) - 11)].seq, timeout=10_000)
    qtbot.keyClick(live_ui.bar.scrub, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: live.shown.seq == oldest.seq, timeout=10_000)
    qtbot.waitUntil(lambda: not any(window.session.documents["A"].needs_decode(t)
                                    for t in range(live.shown.trace.iterations)), timeout=30_000)
    window.viewer.set_position(0)  # the iteration scrubber on a paused frame, as on a still image
    assert window.viewer.iteration == 0 and window.viewer.frame("A") is not None

    window.views["A"].slots.sigToggled.emit(1, False)  # hide slot 1 in the slot cards
    assert window.session.documents["A"].trace.enabled[1] is False and live.hidden == {1}
    mark = live.buffer[-1].seq
    live_ui.bar.play.setChecked(True)  # resume
    qtbot.waitUntil(lambda: live.buffer[-1].seq >= mark + 3 and shown[-1] > mark, timeout=30_000)
    assert all(item.trace.enabled[1] is False for item in live.buffer if item.seq > mark)
    assert window.session.documents["A"].trace.enabled[1] is False  # and the window shows it hidden

    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)
    assert live.recorder is None and (tmp_path / "rec.avi").exists()  # stopping closed the recording
    assert window.session.documents["A"].trace is not None  # the last frame stays


def test_the_bar_sets_how_strongly_slots_hold_their_masks(qtbot, window) -> None:  # noqa: ANN001
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    bar = live_ui.bar
    assert bar.prior.value() == DEFAULT_MASK_PRIOR
    bar.prior.setValue(1.5)  # before a stream: the next one starts with it
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    assert live.runner.carry.mask_prior == 1.5
    bar.prior.setValue(2.5)  # during a stream: the next frames use it (a fraction: the signal carries floats)
    assert live.runner.carry == CarryOver(True, bar.iters.value(), mask_prior=2.5)
    bar.carry.setChecked(False)  # fresh slots: the carry-over settings are greyed out, and kept
    assert not bar.prior.isEnabled() and not bar.iters.isEnabled()
    assert not live.runner.carry.enabled and live.runner.carry.mask_prior == 2.5
    bar.carry.setChecked(True)
    assert bar.prior.isEnabled() and live.runner.carry == CarryOver(True, bar.iters.value(), mask_prior=2.5)
    bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_a_comparison_as_b_follows_the_live_frames(qtbot, window) -> None:  # noqa: ANN001
    """Ctrl+K during a stream: B clusters A's frame again a few times a second while it runs, and the paused
    frame exactly; each caption names its frame, so the two sides say whether they show the same one."""
    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    qtbot.waitUntil(lambda: len(live.buffer) >= 2, timeout=30_000)
    window.viewer.compare()
    documents = window.session.documents
    first = documents["B"].frame
    qtbot.waitUntil(lambda: documents["B"].frame not in (None, first), timeout=30_000)
    live_ui.bar.play.setChecked(False)
    qtbot.waitUntil(lambda: live.state == "paused", timeout=10_000)
    qtbot.waitUntil(lambda: documents["B"].frame == documents["A"].frame and documents["B"].trace is not None
                    and window.viewer.runner.pending() == 0, timeout=30_000)
    assert documents["B"].method == "soft-kmeans" and documents["B"].trace.method == "soft-kmeans"
    for name in "AB":
        assert f"frame {documents['A'].frame} · K=" in caption(documents[name])
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_the_live_bar_takes_two_rows_in_a_narrow_window_instead_of_widening_it(qtbot, window) -> None:  # noqa: ANN001
    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    qtbot.waitUntil(lambda: live_ui.toolbar.isVisible(), timeout=10_000)
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800 and live_ui.bar.rows == 2, timeout=5_000)
    assert live_ui.bar.stop.isVisible() and live_ui.bar.stop.geometry().right() <= live_ui.bar.width()
    window.resize(1600, 900)
    qtbot.waitUntil(lambda: live_ui.bar.rows == 1, timeout=5_000)
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live_ui.live.state == "stopped", timeout=10_000)


def test_hold_is_greyed_out_for_a_model_that_cannot_take_it(qtbot, window, legacy_step_onnx) -> None:  # noqa: ANN001
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    live_ui._on_engine(Engine.load(legacy_step_onnx, "onnx", "cpu"))
    assert not live_ui.bar.prior.isEnabled() and "export the model again" in live_ui.bar.prior.toolTip()
    live_ui._on_engine(window.viewer.engine)
    assert live_ui.bar.prior.isEnabled()


@pytest.mark.slow  # an ONNX export or two processes: seconds, not milliseconds
def test_learn_this_scene_switches_the_window_to_the_adapted_weights(qtbot, window, tmp_path: Path,  # noqa: ANN001
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The live stream and the window's own engine (iteration decodes, edits) must run the same weights."""

    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    qtbot.waitUntil(lambda: len(live.buffer) >= 4, timeout=30_000)
    old = window.viewer.engine
    live_ui.learn(steps=3)
    qtbot.waitUntil(lambda: window.viewer.engine is not old and window.viewer.runner.pending() == 0, timeout=180_000)
    assert str(window.viewer.engine.backend.model_path).startswith(str(live.adapted_model))
    slots = live.buffer[-1].trace.slots[-1]
    rgb_window, _ = window.viewer.engine.decode(slots)
    rgb_live, _ = live.engine.decode(slots)
    rgb_old, _ = old.decode(slots)
    assert np.allclose(rgb_window, rgb_live, atol=1e-5) and not np.allclose(rgb_window, rgb_old, atol=1e-5)
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)
    live_ui.start(FakeCamera(realtime=True, fps=30))  # another source: what was learned can still be saved
    assert live_ui._save_adapted_action.isEnabled()
    monkeypatch.setattr(qt_live, "ask_adapted_model_path", lambda parent: str(tmp_path / "mine.safetensors"))
    live_ui.save_model_dialog()
    assert (tmp_path / "mine.safetensors").is_file() and (tmp_path / "mine.json").is_file()
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live_ui.live.state == "stopped", timeout=10_000)
    folder = live.adapted_model.parent
    window.viewer.set_params(model=str(old.backend.model_path))  # back to the model it started with
    qtbot.waitUntil(lambda: window.viewer.engine.backend.model_name == old.backend.model_name, timeout=30_000)
    window.close()
    assert not folder.exists(), "a learned copy the window no longer runs is removed on quit"


def test_recording_with_the_reconstruction_is_a_menu_choice_that_is_remembered(qtbot, window, tmp_path) -> None:  # noqa: ANN001

    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    qtbot.waitUntil(lambda: len(live.buffer) >= 2, timeout=30_000)
    for checked, name, panels in ((False, "two.avi", 2), (True, "three.avi", 3)):
        if live_ui.record_reconstruction.isChecked() != checked:
            live_ui.record_reconstruction.trigger()
        live_ui.start_recording(tmp_path / name)
        qtbot.waitUntil(lambda: live.recorder is not None and live.recorder.frames >= 2, timeout=30_000)
        live.stop_recording()
        cap = cv2.VideoCapture(str(tmp_path / name))
        assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == panels * 64, name
        cap.release()
    assert window.settings.value("record_reconstruction", False, bool) is True
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def learning_stream(qtbot, window) -> tuple[LiveView, list[str]]:  # noqa: ANN001
    """A fake camera streaming in the window and a long Learn this scene running on it (cancel it), with the
    learning states it emits."""
    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    qtbot.waitUntil(lambda: len(live.buffer) >= 2, timeout=30_000)
    states: list[str] = []
    live.events.learning.connect(lambda state, fraction: states.append(state))
    live_ui.learn(steps=100_000)
    qtbot.waitUntil(lambda: "running" in states, timeout=30_000)
    return live, states


def test_closing_the_window_cancels_learning_and_nothing_reports_to_it(qtbot, window) -> None:  # noqa: ANN001
    live, _ = learning_stream(qtbot, window)
    window.close()
    assert live._learn_cancel.is_set(), "the learning thread is told to stop"
    assert live.join_learning(0), "and quitting waited for it to end (a daemon thread dies mid-write)"
    assert len(live.events.learning) == 0 and len(live.events.message) == 0, "and no longer reports to the window"


def test_a_new_stream_cancels_the_old_ones_learning_and_hears_nothing_from_it(qtbot, window) -> None:  # noqa: ANN001
    old, _ = learning_stream(qtbot, window)
    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    assert live_ui.live is not old and old._learn_cancel.is_set(), "the old stream's learning is told to stop"
    assert len(old.events.learning) == 0, "and its end reaches no control of the new stream"
    assert old.join_learning(30)
    live_ui.bar.sigStop.emit()


def test_another_source_opened_while_recording_closes_the_recording_and_says_so(qtbot, window,  # noqa: ANN001
                                                                                  tmp_path: Path) -> None:
    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    old = live_ui.live
    qtbot.waitUntil(lambda: len(old.buffer) >= 2, timeout=30_000)
    live_ui.start_recording(tmp_path / "rec.avi")
    qtbot.waitUntil(lambda: old.recorder is not None and old.recorder.frames >= 2, timeout=30_000)
    assert live_ui.bar.record.isChecked()
    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    live_ui.start(FakeCamera(realtime=True, fps=30))
    assert not live_ui.bar.record.isChecked(), "the new stream is not recording"
    assert (tmp_path / "rec.avi").exists() and f"recorded {tmp_path / 'rec.avi'}" in said
    live_ui.bar.sigStop.emit()


def test_learn_is_offered_once_at_a_time(qtbot, window) -> None:  # noqa: ANN001
    live_ui = window.live
    live_ui.start(FakeCamera(realtime=True, fps=30))
    qtbot.waitUntil(lambda: len(live_ui.live.buffer) >= 2, timeout=30_000)
    assert live_ui._learn_action.isEnabled() and not live_ui._cancel_learning_action.isEnabled()
    live, states = learning_stream(qtbot, window)
    assert not live_ui._learn_action.isEnabled() and live_ui._cancel_learning_action.isEnabled()
    live_ui._cancel_learning_action.trigger()
    qtbot.waitUntil(lambda: "cancelled" in states, timeout=60_000)
    assert live_ui._learn_action.isEnabled() and not live_ui._cancel_learning_action.isEnabled()
    live_ui.bar.sigStop.emit()


@pytest.mark.parametrize("how", ["file", "clipboard"])
def test_a_still_image_opened_during_a_stream_stops_it_and_stays(qtbot, window, images, how: str,  # noqa: ANN001
                                                                 tmp_path: Path) -> None:
    """Opening an image while a video or camera plays shows the image, not the stream's next frame; a
    recording is closed and says where it went."""

    shown: list[int] = []
    window.live.sigFrameShown.connect(shown.append)
    window.live.start(FakeCamera(realtime=True, fps=30))
    live = window.live.live
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=30_000)
    window.live.start_recording(tmp_path / "rec.avi")
    qtbot.waitUntil(lambda: live.recorder is not None and live.recorder.frames >= 2, timeout=30_000)
    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    if how == "file":
        window.viewer.open_path(images[1])
        source = str(images[1].resolve())
    else:
        window.viewer.show_image(np.full((40, 40, 3), 200, np.uint8), "clipboard")
        source = "clipboard"
    qtbot.waitUntil(lambda: window.session.documents["A"].source == source, timeout=10_000)
    assert live.state == "stopped" and window.live.live is None and not window.live.toolbar.isVisible()
    assert (tmp_path / "rec.avi").exists() and f"recorded {tmp_path / 'rec.avi'}" in said
    count = len(shown)
    qtbot.wait(300)  # frames the stream had queued for the window are dropped with it
    assert len(shown) == count and window.session.documents["A"].source == source
    qtbot.waitUntil(lambda: window.session.documents["A"].trace is not None, timeout=30_000)


def test_a_file_gets_a_seek_slider_plays_again_after_its_end_and_follows_a_model_change(  # noqa: ANN001
        qtbot, window, tmp_path: Path) -> None:
    from tests.io.test_sources import write_video

    path = write_video(tmp_path / "clip.avi", frames=12, fps=50.0)
    bar = window.live.bar
    window.live.start(FakeCamera(realtime=True, fps=30))
    assert not bar.seek.isVisibleTo(bar), "a camera cannot seek"
    window.live.open_path(path)
    live = window.live.live
    assert bar.seek.isVisibleTo(bar) and bar.seek.maximum() == 11
    # the bar follows the state through a queued signal: wait for it too (under load it lags the state)
    qtbot.waitUntil(lambda: live.state == "ended" and bar.seek_label.text() == "frame 12/12"
                    and bar.play.text() == "Play", timeout=30_000)
    assert not bar.play.isChecked()
    mark = live.buffer[-1].seq
    bar.play.click()  # after the end: from the first frame again
    qtbot.waitUntil(lambda: live.buffer[-1].seq > mark and live.state == "ended", timeout=30_000)
    assert [item.frame.index for item in live.buffer if item.seq > mark][0] == 0

    weights = str(Path(window.viewer.params.model).with_suffix(".safetensors"))
    window._set_params({"model": weights, "backend": "torch"})  # another engine for the window: the stream follows
    qtbot.waitUntil(lambda: window.viewer.engine is not None and window.viewer.engine.backend.name == "torch",
                    timeout=30_000)
    qtbot.waitUntil(lambda: live.engine is window.viewer.engine, timeout=10_000)
    # the ended stream ran the frame on screen again on the new model, from fresh slots
    qtbot.waitUntil(lambda: live.shown is not None and live.shown.trace.provenance["backend"] == "torch",
                    timeout=30_000)
    assert live.shown.trace.provenance["init"] == "fresh" and live.shown.frame.index == 11
    assert [item.trace.provenance["backend"] for item in live.buffer] == ["torch"], \
        [(item.seq, item.frame.index, item.trace.provenance["backend"]) for item in live.buffer]
    qtbot.waitUntil(lambda: window.session.documents["A"].trace.provenance["backend"] == "torch", timeout=30_000)


def test_after_the_end_and_after_stop_the_arrows_move_through_the_buffer_and_record_and_stop_are_off(  # noqa: ANN001
        qtbot, window, tmp_path: Path) -> None:
    from tests.io.test_sources import write_video

    bar, live_ui = window.live.bar, window.live
    live_ui.open_path(write_video(tmp_path / "clip.avi", frames=6, fps=50.0))
    live = live_ui.live
    qtbot.waitUntil(lambda: live.state == "ended" and bar.play.text() == "Play", timeout=30_000)
    assert not bar.record.isEnabled() and bar.stop.isEnabled() and bar.back.isEnabled(), "nothing more to record"
    assert live.shown.frame.index == 5
    bar.back.click()
    qtbot.waitUntil(lambda: live.shown.frame.index == 4 and window.session.documents["A"].frame == 4, timeout=10_000)
    bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped" and not bar.stop.isEnabled(), timeout=10_000)
    assert not bar.seek.isEnabled() and not bar.record.isEnabled() and bar.play.isEnabled()
    live_ui.step(-1)  # Ctrl+Left
    qtbot.waitUntil(lambda: live.shown.frame.index == 3, timeout=10_000)
    bar.forward.click()
    qtbot.waitUntil(lambda: live.shown.frame.index == 4, timeout=10_000)


def test_a_swap_within_a_running_stream_is_the_live_views_alone_and_says_no_edit_was_dropped(
        qtbot, window) -> None:  # noqa: ANN001
    live_ui, live = streaming(qtbot, window)
    messages: list[str] = []
    window.viewer.events.message.connect(messages.append)
    window.viewer.events.error.connect(messages.append)
    window.viewer.toggle_slot("A", 1, False)
    qtbot.waitUntil(lambda: live.hidden == {1}, timeout=10_000)
    window.views["A"].slots.sigDropped.emit("A", 1, 2, False)  # the test model runs 3 slots
    qtbot.waitUntil(lambda: live.hidden == {2}, timeout=10_000)  # swapped: the hidden slot's edit went along
    qtbot.wait(300)
    assert not any("dropped" in m for m in messages), messages
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_play_after_stop_opens_the_source_again(qtbot, window) -> None:  # noqa: ANN001
    bar = window.live.bar
    window.live.start(FakeCamera(realtime=True, fps=30))
    live = window.live.live
    qtbot.waitUntil(lambda: len(live.buffer) >= 2, timeout=30_000)
    bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped" and bar.play.text() == "Play", timeout=10_000)
    assert not bar.play.isChecked()
    bar.play.click()
    qtbot.waitUntil(lambda: live.state == "running" and bar.play.text() == "Pause", timeout=10_000)
    mark = live.buffer[-1].seq if live.buffer else 0
    qtbot.waitUntil(lambda: bool(live.buffer) and live.buffer[-1].seq > mark, timeout=30_000)


def test_the_stream_runs_with_the_run_panels_slots_iterations_and_seed(qtbot, window) -> None:  # noqa: ANN001
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    live_ui.start(FakeCamera(realtime=True, fps=30))
    live = live_ui.live
    qtbot.waitUntil(lambda: len(live.buffer) >= 3, timeout=30_000)
    assert window.viewer.engine.fixed_slots is False and live.buffer[-1].trace.num_slots != 2
    live_ui.bar.play.setChecked(False)  # pause, then change K, T and the seed in the run panel
    qtbot.waitUntil(lambda: live.state == "paused", timeout=10_000)
    window.views["A"].slots.sigToggled.emit(1, False)
    window.controls.slots.setValue(2)
    window.controls.iters.setValue(2)
    window.controls.seed.setValue(7)
    assert live.hidden == set(), "a new K drops the edits: slot 1 is no longer the same slot"
    mark = live.buffer[-1].seq
    live_ui.bar.play.setChecked(True)
    qtbot.waitUntil(lambda: live.buffer[-1].seq >= mark + 3, timeout=30_000)
    after = [item.trace for item in live.buffer if item.seq > mark]
    assert all(trace.num_slots == 2 for trace in after)
    first = after[0]  # the stream started again from fresh slots, with the panel's T and seed
    assert first.provenance["init"] == "fresh" and first.iterations == 2 and first.provenance["seed"] == 7
    assert window.controls.slots.value() == 2 and "K=2" in caption(window.session.documents["A"])
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_switching_the_window_to_a_model_with_fixed_slots_keeps_the_stream_running(qtbot, window) -> None:  # noqa: ANN001
    live_ui, live = streaming(qtbot, window)
    window.viewer.set_params(model="tetrominoes", backend="onnx")
    qtbot.waitUntil(lambda: live.engine.backend.model_name == "tetrominoes", timeout=30_000)
    qtbot.waitUntil(lambda: len(live.buffer) >= 3 and live.buffer[-1].trace.num_slots == 4, timeout=30_000)
    assert live.state == "running" and all(item.trace.num_slots == 4 for item in live.buffer)
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def paused_on_screen(qtbot, window, live_ui: QtLive, live: LiveView) -> None:  # noqa: ANN001
    """Pause, and wait until the paused frame is the one in A (a frame still in flight when the pause came
    is shown too)."""
    live_ui.bar.play.setChecked(False)
    qtbot.waitUntil(lambda: live.state == "paused" and not live.busy, timeout=10_000)
    qtbot.wait(300)
    qtbot.waitUntil(lambda: window.session.documents["A"].trace is live.shown.trace, timeout=10_000)


def test_show_all_reset_undo_and_keys_carry_over_to_the_next_live_frames(qtbot, window) -> None:  # noqa: ANN001
    live_ui, live = streaming(qtbot, window)
    paused_on_screen(qtbot, window, live_ui, live)
    window.views["A"].slots.cards[1].visible.click()  # hide slot 1 on its card
    qtbot.waitUntil(lambda: live.hidden == {1}, timeout=10_000)
    window.controls.sigShowAll.emit()
    qtbot.waitUntil(lambda: live.hidden == set(), timeout=10_000)
    window.viewer.toggle_slot("A", 2, False)  # what the key 3 does
    qtbot.waitUntil(lambda: live.hidden == {2}, timeout=10_000)
    window.viewer.undo()
    qtbot.waitUntil(lambda: live.hidden == set(), timeout=10_000)
    window.viewer.redo()
    qtbot.waitUntil(lambda: live.hidden == {2}, timeout=10_000)
    mark = live.buffer[-1].seq
    live_ui.bar.play.setChecked(True)
    qtbot.waitUntil(lambda: live.buffer[-1].seq >= mark + 3, timeout=30_000)
    after = [item.trace.enabled for item in live.buffer if item.seq > mark]
    assert all(flags == (True, True, False) for flags in after), after
    # running: Reset edits shows the slot again (a live frame's run is its unedited trace), from then on
    qtbot.waitUntil(lambda: not window.undo_action.isEnabled(), timeout=10_000)  # the edit was the old frame's
    window.reset_action.trigger()
    qtbot.waitUntil(lambda: live.hidden == set(), timeout=10_000)
    mark = live.buffer[-1].seq
    qtbot.waitUntil(lambda: live.buffer[-1].seq >= mark + 3, timeout=30_000)
    assert all(all(item.trace.enabled) for item in live.buffer if item.seq > mark)
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_a_stability_result_goes_when_the_live_view_moves_to_another_frame(qtbot, window) -> None:  # noqa: ANN001
    live_ui, live = streaming(qtbot, window)
    paused_on_screen(qtbot, window, live_ui, live)  # (a frame shown after the check would take its result along)
    window.viewer.check_stability(2)
    qtbot.waitUntil(lambda: window.viewer.stability is not None, timeout=30_000)
    live_ui.bar.play.setChecked(True)
    qtbot.waitUntil(lambda: window.viewer.stability is None and not window.agreement.isVisible(), timeout=10_000)
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_export_recent_frames_names_the_folder_by_source_and_frames_and_asks_before_replacing(
        qtbot, window, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    live_ui, live = streaming(qtbot, window, name="desk cam")
    live_ui.bar.play.setChecked(False)
    qtbot.waitUntil(lambda: live.state == "paused" and not live.busy, timeout=10_000)
    monkeypatch.setattr("slotviewer.gui.qt_live.QFileDialog.getExistingDirectory", lambda *a: str(tmp_path))
    answers: list = []
    monkeypatch.setattr("slotviewer.gui.qt_live.QMessageBox.question", lambda *a: answers.pop(0))
    live_ui.export_dialog()  # written on a thread: the window says when it is done
    target = tmp_path / live.export_name()
    qtbot.waitUntil(lambda: window.statusBar().toolTip().startswith(f"wrote {target}"), timeout=30_000)
    assert target.name.startswith("desk_cam_frames_") and (target / "trace.json").exists()
    (target / "mine.txt").write_text("kept unless replaced")
    answers.append(QMessageBox.StandardButton.No)
    live_ui.export_dialog()
    assert (target / "mine.txt").exists(), "No keeps the old export"
    answers.append(QMessageBox.StandardButton.Yes)
    live_ui.export_dialog()
    qtbot.waitUntil(lambda: not (target / "mine.txt").exists() and (target / "trace.json").exists(), timeout=30_000)
    live_ui.bar.sigStop.emit()
    qtbot.waitUntil(lambda: live.state == "stopped", timeout=10_000)


def test_a_video_joins_the_recent_files_and_opens_from_there_in_the_live_view(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    from PIL import Image

    from slotviewer.data.moving_shapes import MovingShapes

    frames = [Image.fromarray(image) for image, _ in MovingShapes(seed=1, height=35, width=35).frames(4)]
    gif = tmp_path / "clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=40)
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    live_ui.open_path(gif)
    assert window.recent_files()[0] == str(gif.resolve())
    qtbot.waitUntil(lambda: live_ui.live is not None and len(live_ui.live.buffer) >= 1, timeout=30_000)
    live_ui.stop()
    first = live_ui.live
    window.open_recent(str(gif.resolve()))  # the recent entry plays it again, it is not read as a still image
    qtbot.waitUntil(lambda: live_ui.live is not first and live_ui.live is not None
                    and len(live_ui.live.buffer) >= 1, timeout=30_000)
    assert live_ui.live.source.name.endswith("clip.gif")
    live_ui.stop()


def test_reconnect_is_offered_for_a_camera_that_went_away_not_for_a_file_that_broke_off(
        qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    cut = write_truncated_video(tmp_path)
    live_ui = window.live if hasattr(window, "live") else QtLive(window)
    live_ui.start(open_source(cut))
    qtbot.waitUntil(lambda: live_ui.bar.state.text() == "failed", timeout=30_000)
    assert not live_ui.bar.reconnect.isVisible() and not live_ui._reconnect_action.isEnabled()  # it would fail again
    assert live_ui.fps.text() == ""  # no rates for a stream that stopped
    camera = FakeCamera(realtime=True, fps=30)
    live_ui.start(camera)
    qtbot.waitUntil(lambda: len(live_ui.live.buffer) >= 2, timeout=30_000)
    camera.disconnect()
    qtbot.waitUntil(lambda: live_ui.bar.state.text() == "failed", timeout=30_000)
    assert live_ui.bar.reconnect.isVisible() and live_ui._reconnect_action.isEnabled()

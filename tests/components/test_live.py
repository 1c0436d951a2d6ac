"""The live view without Qt: fake camera in, carry-over, edits by slot identity, pause/scrub/step,
stall/disconnect/reconnect, recording closed on every exit path, files end and seek."""

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from slotviewer.components.live import LiveView, view_picture
from slotviewer.engine import Engine
from slotviewer.io.sources import FakeCamera, open_source
from tests.io.test_sources import write_truncated_video, write_video


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_frames_flow_with_carry_over_and_fill_the_buffer(live: LiveView) -> None:
    shown = []
    live.events.frame.connect(shown.append)
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) == 16 and len(shown) > 3)
    assert live.state == "running"
    traces = [item.trace for item in live.buffer]
    assert traces[-1].provenance["init"] == "carried" and traces[-1].iterations == 1
    seqs = [item.seq for item in live.buffer]
    assert seqs == list(range(seqs[0], seqs[0] + 16))  # a ring buffer of the most recent frames
    previous, start = traces[-2].slots[-1], traces[-1].slots[0]  # slots carried frame to frame, in the
    assert sorted(map(tuple, start.tolist())) == sorted(map(tuple, previous.tolist()))  # order matching gave
    assert set(live.rates) == {"capture", "model", "display"}


def test_a_hidden_slot_stays_hidden_on_the_next_frames(live: LiveView) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    live.set_hidden(1)
    assert live.shown.trace.enabled[1] is False  # the frame on screen follows at once
    mark = live.buffer[-1].seq
    assert live.wait_for(lambda: live.buffer[-1].seq >= mark + 5)
    later = [item for item in live.buffer if item.seq > mark]
    assert all(item.trace.enabled[1] is False and sum(item.trace.enabled) == item.trace.num_slots - 1
               for item in later)
    assert [item.trace.edits for item in later] == [("enabled: hide [1]",)] * len(later), "exports say what was hidden"
    live.solo(2)
    mark = live.buffer[-1].seq
    assert live.wait_for(lambda: live.buffer[-1].seq >= mark + 2)
    assert live.buffer[-1].trace.enabled == tuple(i == 2 for i in range(live.buffer[-1].trace.num_slots))


def test_pause_stops_inference_scrub_shows_buffered_frames_and_step_processes_one(live: LiveView) -> None:
    camera = FakeCamera()
    live.start(camera)
    assert live.wait_for(lambda: len(live.buffer) >= 6)
    live.pause()
    assert live.wait_for(lambda: live.state == "paused" and not live.busy)  # the frame in flight finishes
    newest = live.buffer[-1].seq
    seq_now = live.capture.latest(0)[0]
    assert live.wait_for(lambda: live.capture.latest(0)[0] > seq_now + 20)  # the camera goes on…
    assert live.buffer[-1].seq == newest  # …but nothing is run while paused
    oldest = live.show(0)
    assert live.shown is oldest and oldest.seq == live.buffer[0].seq and live.state == "paused"
    rgb, alpha = live.engine.decode_iteration(oldest.trace, 0)  # iteration scrubbing on a paused frame
    assert alpha.shape[0] == oldest.trace.num_slots
    live.step(+1)
    assert live.shown.seq == live.buffer[1].seq
    live.show(len(live.buffer) - 1)
    live.step(+1)  # past the newest buffered frame: one new frame is run
    assert live.wait_for(lambda: live.buffer[-1].seq == newest + 1)
    assert live.wait_for(lambda: live.shown.seq == newest + 1)
    live.resume()
    assert live.wait_for(lambda: live.buffer[-1].seq > newest + 3)
    said = [m for m in live.messages if m.startswith(camera.name)]
    assert said[-2:] == [f"{camera.name}: paused (the camera goes on: Play shows the present)",
                         f"{camera.name}: live"], said  # the status follows the state, never a stale "live"


def test_stall_is_reported_and_recovers(live: LiveView) -> None:
    camera = FakeCamera()
    live.start(camera)
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    camera.stall()
    assert live.wait_for(lambda: live.state == "stalled")
    assert any("stalled" in m and "last frame stays" in m for m in live.messages)
    assert live.shown is not None  # the last frame stays on screen
    camera.resume()
    assert live.wait_for(lambda: live.state == "running")
    assert live.wait_for(lambda: live.messages[-1] == f"{camera.name}: live"), live.messages  # no longer "stalled"


def test_disconnect_closes_the_recording_and_reconnect_keeps_edits(live: LiveView, tmp_path: Path) -> None:
    camera = FakeCamera(disconnect_at=90, realtime=True, fps=30)  # 3 s: time to start recording
    live.start(camera)
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    live.set_hidden(0)
    live.start_recording(tmp_path / "rec.mp4")
    assert live.wait_for(lambda: live.state == "failed")
    assert live.recorder is None and (tmp_path / "rec.mp4").exists() and frames_in(tmp_path / "rec.mp4") > 0
    assert any("disconnected" in m and "reconnect" in m for m in live.messages)
    assert any("disconnected" in m and "the recording so far was kept" in m for m in live.messages)
    last = live.shown
    assert last is not None
    live.reconnect()
    mark = last.seq
    assert live.wait_for(lambda: live.state == "running" and live.buffer and live.buffer[-1].seq > mark)
    assert live.buffer[-1].trace.enabled[0] is False  # the edit survived the reconnect


@pytest.mark.parametrize("how", ["stop_recording", "stop", "source_ends"])
def test_recording_is_closed_on_every_exit_path(onnx_engine: Engine, tmp_path: Path, how: str) -> None:
    view = LiveView(onnx_engine, buffer=8)
    view.start(FakeCamera(frames=60 if how == "source_ends" else None, realtime=True, fps=30))
    assert view.wait_for(lambda: len(view.buffer) >= 1)
    view.start_recording(tmp_path / "rec.avi", reconstruction=True)
    assert view.wait_for(lambda: view.recorder is None or view.recorder.frames >= 3)
    if how == "stop_recording":
        assert view.stop_recording() == tmp_path / "rec.avi"
    elif how == "stop":
        view.stop()
    else:
        assert view.wait_for(lambda: view.state == "ended")
    assert view.recorder is None
    assert frames_in(tmp_path / "rec.avi") >= 1 and [p.name for p in tmp_path.iterdir()] == ["rec.avi"]
    cap = cv2.VideoCapture(str(tmp_path / "rec.avi"))
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 3 * 64  # input | overlay | reconstruction
    view.stop()


def test_swap_exchanges_the_carried_slots_and_their_edits(live: LiveView) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    live.pause()
    assert live.wait_for(lambda: live.state == "paused" and not live.busy)
    live.set_hidden(0)
    before = live.runner.previous.copy()
    live.swap(0, 2)
    assert np.array_equal(live.runner.previous[2], before[0]) and live.hidden == {2}
    mark = live.buffer[-1].seq
    live.show(len(live.buffer) - 1)
    live.step(+1)  # one new frame, started from the swapped slots
    assert live.wait_for(lambda: live.buffer[-1].seq == mark + 1)
    assert live.buffer[-1].trace.slots[0][2].tolist() == before[0].tolist()
    assert live.buffer[-1].trace.enabled[2] is False


def test_a_file_plays_to_its_end_then_seeks(onnx_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50, (40, 30))
    for i in range(10):
        writer.write(np.full((30, 40, 3), 20 * i, np.uint8))
    writer.release()
    with LiveView(onnx_engine, buffer=32) as view:
        messages: list[str] = []
        view.events.message.connect(messages.append)
        states: list[str] = []
        view.events.state.connect(states.append)
        view.start(open_source(path), realtime=False)
        # the state changes before its events are posted: wait for the events of the end too
        assert view.wait_for(lambda: view.state == "ended" and states[-1:] == ["ended"]
                             and any(m.startswith(f"{path}: end of file") for m in messages))
        assert [item.frame.index for item in view.buffer][-1] == 9
        mark = view.buffer[-1].seq
        messages.clear()
        states.clear()
        view.seek(4)
        assert view.state == "running", "playing again from the seek on, not only from its first frame"
        assert view.wait_for(lambda: view.buffer[-1].seq == mark + 6 and view.state == "ended")
        assert states == ["running", "ended"], "and not ended again before the file's end"
        assert messages[0] == f"{path}: playing" and messages[-1].startswith(f"{path}: end of file"), messages
        replayed = list(view.buffer)[-6:]
        assert [item.frame.index for item in replayed] == [4, 5, 6, 7, 8, 9]
        assert replayed[0].trace.provenance["init"] == "fresh"  # no carry-over across a jump
        assert replayed[1].trace.provenance["init"] == "carried"


def test_bad_sources_fail_in_one_message(live: LiveView, tmp_path: Path) -> None:
    live.start(open_source(tmp_path / "missing.mp4"))
    live.process_callbacks()
    assert live.state == "failed" and live.messages[-1].endswith("missing.mp4: file not found")


def test_view_picture_and_export(live: LiveView, tmp_path: Path) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 4)
    live.pause()
    live.set_hidden(2)
    picture = view_picture(live.shown)
    assert picture.shape == (64, 128, 3)
    out = live.export_buffer(tmp_path / "export")  # (a frame in flight at pause may join the buffer later)
    frames = json.loads((out / "trace.json").read_text())["frames"]
    assert 4 <= frames <= len(live.buffer) and len(list((out / "labels").iterdir())) == frames
    assert np.load(out / "masks.npz")["alpha"][:, 2].max() == 0  # the hidden slot, as shown


def test_rate_counter_counts_events_per_second_in_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    from slotviewer.components import live as live_module

    clock = [100.0]
    monkeypatch.setattr(live_module.time, "monotonic", lambda: clock[0])
    counter = live_module.RateCounter(window=2.0)
    assert counter.rate == 0.0
    counter.tick()
    assert counter.rate == 0.0, "one event is no rate"
    for _ in range(10):
        clock[0] += 0.1
        counter.tick()
    assert counter.rate == pytest.approx(10.0)
    clock[0] += 0.5  # still inside the 2 s window
    assert counter.rate == pytest.approx(10.0)
    clock[0] += 5.0
    assert counter.rate == 0.0


def test_switching_to_fresh_slots_and_back(live: LiveView) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    live.set_carry(False)
    mark = live.buffer[-1].seq
    assert live.wait_for(lambda: live.buffer[-1].seq >= mark + 2)
    assert live.buffer[-1].trace.provenance["init"] == "fresh" and live.runner.carry.iters_per_frame == 1
    live.set_carry(True, 3)
    mark = live.buffer[-1].seq
    assert live.wait_for(lambda: live.buffer[-1].seq >= mark + 2)
    newest = live.buffer[-1].trace
    assert newest.provenance["init"] == "carried" and newest.iterations == 3 and live.runner.carry.match


def test_reset_edits_and_swap_limits(live: LiveView) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    live.set_hidden(0)
    live.solo(2)
    live.reset_edits()
    assert live.hidden == set() and live.solo_slot is None and all(live.shown.trace.enabled)
    k = live.buffer[-1].trace.num_slots
    with pytest.raises(Exception, match=rf"slots 0 and {k}: this model runs {k} slots \(0\.\.{k - 1}\)"):
        live.swap(0, k)
    live.set_hidden(1)
    live.swap(1, 2)
    assert live.hidden == {2}, "an edit follows its object to the new index"
    live.mark_displayed()
    live.mark_displayed()
    assert live.rates["display"] > 0.0, "two paints are a rate"


def test_a_seek_while_paused_shows_the_frame_sought(onnx_engine: Engine, tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=60, fps=50.0)
    with LiveView(onnx_engine, buffer=8) as view:
        view.start(open_source(path), realtime=True)
        assert view.wait_for(lambda: len(view.buffer) >= 3)
        view.pause()
        view.seek(40)
        assert view.wait_for(lambda: view.shown is not None and view.shown.seq == view.buffer[-1].seq
                             and view.buffer[-1].frame.index >= 40)
        assert view.shown.frame.index == 40 and view.state == "paused"


def test_a_paused_file_is_not_read_on_and_steps_one_frame_at_a_time(onnx_engine: Engine, tmp_path: Path) -> None:
    """A file played in real time stops being read while paused: resuming goes on from the next frame,
    and a step shows exactly the next one (a camera's capture goes on instead: see the fake camera tests)."""
    path = write_video(tmp_path / "clip.avi", frames=60, fps=25.0)
    with LiveView(onnx_engine, buffer=64) as view:
        view.start(open_source(path), realtime=True)
        assert view.wait_for(lambda: len(view.buffer) >= 3)
        view.pause()
        assert view.wait_for(lambda: not view.busy)
        time.sleep(0.1)  # a frame that was on its way lands; nothing after it
        last = view.buffer[-1].frame.index
        time.sleep(0.6)  # 15 frames of the file's time
        assert view.buffer[-1].frame.index == last
        for expected in (last + 1, last + 2):
            view.step(1)
            assert view.wait_for(lambda e=expected: view.buffer[-1].frame.index == e and view.shown is view.buffer[-1])
        mark = view.buffer[-1].frame.index
        view.resume()
        assert view.wait_for(lambda: view.buffer[-1].frame.index > mark)
        assert view.buffer[-1].frame.index <= mark + 2, "it goes on from the frame after, not from the clock"


def test_a_new_model_runs_the_next_frames_and_rereads_a_paused_frame(live: LiveView, torch_engine: Engine) -> None:
    live.start(FakeCamera(fps=200))
    assert live.wait_for(lambda: len(live.buffer) >= 4)
    live.set_hidden(0)
    live.pause()
    assert live.wait_for(lambda: live.state == "paused" and not live.busy)
    live.process_callbacks()
    before = live.shown
    live.set_engine(torch_engine).join(10)
    assert live.wait_for(lambda: live.shown is not before)
    after = live.shown
    assert after.frame is before.frame and after.trace.provenance["backend"] == "torch"
    assert after.trace.provenance["init"] == "fresh" and all(after.trace.enabled)  # fresh slots, no old edits
    assert list(live.buffer) == [after]  # nothing from the old model to scrub back to
    live.resume()
    assert live.wait_for(lambda: len(live.buffer) >= 3)
    assert all(item.trace.provenance["backend"] == "torch" for item in live.buffer)


def test_the_rerun_after_a_model_change_starts_fresh_even_after_a_frame_in_between(
        live: LiveView, torch_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream's model thread may run a frame of the new model (it waited for the lock while the engine
    changed) before the re-run of the frame on screen: the re-run must not carry that frame's slots."""
    import slotviewer.components.live as live_module

    live.start(FakeCamera(fps=200))
    assert live.wait_for(lambda: len(live.buffer) >= 3)
    live.pause()
    assert live.wait_for(lambda: live.state == "paused" and not live.busy)
    live.process_callbacks()
    shown = live.shown
    held: list = []

    class Deferred:  # the re-run thread, started by the test when it chooses
        def __init__(self, target, name, daemon) -> None:  # noqa: ANN001
            self.target = target
            held.append(self)

        def start(self) -> None:
            pass

    class LiveThreading:  # the live module's `threading` with Thread deferred (not every thread of the process)
        Thread = Deferred

        def __getattr__(self, name: str) -> object:
            return getattr(threading, name)

    monkeypatch.setattr(live_module, "threading", LiveThreading())
    live.set_engine(torch_engine)
    live._process(live.buffer[-1].frame if live.buffer else shown.frame)  # the stream's frame, in between
    assert live.runner.previous is not None  # the runner now carries slots of the new model
    held[0].target()
    live.process_callbacks()
    assert live.shown.frame is shown.frame and live.shown.trace.provenance["init"] == "fresh"


def test_the_same_weights_loaded_again_keep_slots_edits_and_buffer(live: LiveView, tiny_model: Path) -> None:
    """The owner loads the model learning produced as its own engine: nothing the user set may be lost."""
    live.start(FakeCamera(fps=200))
    assert live.wait_for(lambda: len(live.buffer) >= 3)
    live.set_hidden(1)
    again = Engine.load(tiny_model.with_suffix(".onnx"), "onnx", "cpu")
    assert live.set_engine(again) is None
    assert live.engine is again and live.runner.engine is again
    assert live.hidden == {1} and len(live.buffer) >= 3 and live.runner.previous is not None


def test_a_model_that_cannot_take_the_mask_prior_says_so_when_it_takes_over(live: LiveView,
                                                                            legacy_step_onnx: Path) -> None:
    live.set_engine(Engine.load(legacy_step_onnx, "onnx", "cpu"))
    assert live.wait_for(lambda: any("export the model again" in m for m in live.messages)), live.messages
    assert live.runner.mask_prior_weight == 0.0 and live.runner.carry.mask_prior > 0  # the setting stays


def test_a_sequence_passes_over_unreadable_files_and_names_them(onnx_engine: Engine, tmp_path: Path) -> None:
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((30, 40, 3), 40 * i, np.uint8))
    (tmp_path / "1.png").write_bytes(b"")  # empty
    (tmp_path / "3.png").write_bytes(b"not a png")
    with LiveView(onnx_engine, buffer=32) as view:
        messages: list[str] = []
        view.events.message.connect(messages.append)
        view.start(open_source(tmp_path), realtime=False)
        assert view.wait_for(lambda: view.state == "ended"), (view.state, messages)
        assert [item.frame.index for item in view.buffer] == [0, 2], ("the readable frames", messages)
        # each skipped file is named once, with its reason, as soon as the stream has passed it
        named = "; ".join(m.split(": skipped ", 1)[1] for m in messages if m.startswith(f"{tmp_path}: skipped "))
        assert named == "1.png (empty file); 3.png (not an image, or a format Pillow cannot read)", messages
        assert messages[-1] == (f"{tmp_path}: end of the sequence (Play starts it again; or seek); 2 unreadable files "
                                f"skipped: {named}"), messages  # named again: the first messages are gone by then


def test_a_truncated_file_keeps_its_frames_and_does_not_offer_a_reconnect(onnx_engine: Engine,
                                                                         tmp_path: Path) -> None:
    cut = write_truncated_video(tmp_path)
    with LiveView(onnx_engine, buffer=64) as view:
        messages: list[str] = []
        view.events.message.connect(messages.append)
        view.start(open_source(cut), realtime=False)
        assert view.wait_for(lambda: view.state == "failed")
        view.process_callbacks()
        assert len(view.buffer) > 0 and view.shown is not None, "the frames before the break stay"
        assert "stopped at frame" in messages[-1] and messages[-1].endswith("the frames before it stay "
                                                                            "(seek back to them)")


def test_a_model_with_fixed_slots_takes_over_from_a_stream_run_with_another_k(live: LiveView) -> None:
    """The stream ran with K=2 from the run panel; the shipped tetrominoes model learned 4 queries: the
    paused frame is run again on it and the next frames run, with its own K (no 'cannot use 2 slots')."""
    fixed = Engine.load("tetrominoes", "onnx", "cpu")
    live.set_run(2, None, 0, None)
    live.start(FakeCamera(fps=100))
    assert live.wait_for(lambda: len(live.buffer) >= 2 and live.buffer[-1].trace.num_slots == 2)
    live.pause()
    assert live.wait_for(lambda: live.state == "paused" and not live.busy)
    live.process_callbacks()
    before = live.shown
    live.set_engine(fixed).join(10)
    assert live.wait_for(lambda: live.shown is not before and live.shown is not None)
    assert live.shown.frame is before.frame and live.shown.trace.num_slots == 4
    live.resume()
    assert live.wait_for(lambda: len(live.buffer) >= 3) and live.state == "running"
    assert all(item.trace.num_slots == 4 for item in live.buffer)


def test_an_export_is_the_newest_unbroken_stretch_one_k_and_frames_in_order(onnx_engine: Engine,
                                                                           tmp_path: Path) -> None:
    """Frames of two K cannot share one masks.npz (it was written with a header that lied, and did not load),
    and frames from before a seek would come twice under a name that promised a range."""
    path = write_video(tmp_path / "clip.avi", frames=30, fps=50.0)
    with LiveView(onnx_engine, buffer=64) as view:
        view.start(open_source(path), realtime=False)
        assert view.wait_for(lambda: view.state == "ended")
        view.set_run(2, None, 0, None)  # K=2 from the next frame
        view.seek(10)
        assert view.wait_for(lambda: len(view.buffer) == 50 and view.state == "ended")
        frames, left_out = view.export_frames()
        assert [f.frame.index for f in frames] == list(range(10, 30)) and {f.trace.num_slots for f in frames} == {2}
        assert left_out == "the 30 buffered frames before them ran with K=3", left_out
        assert view.export_name() == "clip_frames_000010-000029"
        out = view.export_buffer(tmp_path / view.export_name())
        trace = json.loads((out / "trace.json").read_text())
        assert np.load(out / "masks.npz")["alpha"].shape == (20, 2, 35, 35) and trace["K"] == 2
        assert trace["frame_indices"] == list(range(10, 30)) and trace["left_out"] == left_out
        assert trace["input_size"] == [48, 64] and trace["seed"] == 0 and trace["complete"]
        view.seek(25)  # the same K again: now the replay of 25… breaks the stretch
        assert view.wait_for(lambda: view.buffer[-1].frame.index == 29 and len(view.buffer) == 55)
        frames, left_out = view.export_frames()
        assert [f.frame.index for f in frames] == list(range(25, 30))
        assert left_out == "the 50 buffered frames before them came before a seek or a replay"


def test_an_export_runs_on_a_thread_and_says_how_it_went(live: LiveView, tmp_path: Path) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 3)
    live.pause()
    said: list[tuple] = []
    live.events.exported.connect(lambda path, text: said.append((path, text)))
    live.export_in_background(tmp_path / "ok").join(30)
    blocker = tmp_path / "file"
    blocker.write_text("")
    live.export_in_background(blocker / "sub").join(30)  # under a file: cannot be made
    assert live.wait_for(lambda: len(said) == 2), said
    assert said[0] == (tmp_path / "ok", f"wrote {tmp_path / 'ok'}") and (tmp_path / "ok" / "trace.json").exists()
    assert said[1][0] is None and str(blocker) in said[1][1] and "\n" not in said[1][1], said

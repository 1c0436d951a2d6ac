"""The live view's controls, one rule at a time: pause from a stall, step and show at the buffer's edges,
seek on sources that cannot, the carry-over switch keeping the other settings, swap bounds and the edits
that follow a swap, export refusals."""

import collections
import json
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from slotviewer.components.live import LiveFrame, LiveView, view_picture
from slotviewer.data.moving_shapes import MovingShapes
from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError
from slotviewer.io.render import slot_colours, to_uint8
from slotviewer.io.sources import FakeCamera, Frame
from slotviewer.video import CarryOver
from tests.fixtures import assert_not_flat


def paused_with_frames(live: LiveView, frames: int = 6, process: bool = True) -> None:
    """Start on the fake camera, let `frames` frames into the buffer, pause and wait for the frame in flight.
    With `process=False` no callback reaches the owner, so nothing has been shown yet."""
    live.start(FakeCamera())
    if process:
        assert live.wait_for(lambda: len(live.buffer) >= frames)
    else:
        deadline = time.monotonic() + 30
        while len(live.buffer) < frames and time.monotonic() < deadline:
            time.sleep(0.005)
    live.pause()
    deadline = time.monotonic() + 30
    while live.busy and time.monotonic() < deadline:
        time.sleep(0.005)


def test_pause_and_resume_announce_their_states(live: LiveView) -> None:
    states: list[str] = []
    live.events.state.connect(states.append)
    paused_with_frames(live, 2)
    live.process_callbacks()
    assert live.state == "paused" and states[-1] == "paused"
    live.resume()
    live.process_callbacks()
    assert live.state == "running" and states[-1] == "running"
    live.resume()  # resuming what runs changes nothing
    live.process_callbacks()
    assert states.count("running") == 2


def stalled_camera(live: LiveView) -> FakeCamera:
    """Start on a fake camera, let a frame through, then stall it until the view reports "stalled"."""
    camera = FakeCamera()
    live.start(camera)
    assert live.wait_for(lambda: len(live.buffer) >= 1)
    camera.stall()
    assert live.wait_for(lambda: live.state == "stalled")
    return camera


def test_a_stalled_source_can_be_paused(live: LiveView) -> None:
    camera = stalled_camera(live)
    live.pause()
    assert live.state == "paused"
    camera.resume()


def test_step_without_a_shown_frame_shows_the_newest_buffered_one(live: LiveView) -> None:
    shown: list = []
    live.events.frame.connect(shown.append)
    paused_with_frames(live, 4, process=False)
    assert live.shown is None and not shown
    newest = live.buffer[-1]
    live.step(+1)
    assert live.shown.seq == newest.seq and shown[-1] is live.shown, "the newest buffered frame, not a new one"


def test_step_moves_one_frame_by_default_and_stops_at_the_oldest(live: LiveView) -> None:
    paused_with_frames(live)
    live.show(3)
    live.step()
    assert live.shown.seq == live.buffer[4].seq
    live.step(-2)
    assert live.shown.seq == live.buffer[2].seq
    live.step(-50)
    assert live.shown.seq == live.buffer[0].seq, "stepping back past the oldest frame stops there"


def test_step_moves_from_a_shown_frame_that_carries_an_edit(live: LiveView) -> None:
    paused_with_frames(live)
    live.show(3)
    live.set_hidden(1)  # the frame on screen is now a copy of buffer[3] with slot 1 hidden
    assert live.shown is not live.buffer[3] and live.index_of(live.shown) == 3
    live.step(-1)
    assert live.shown.seq == live.buffer[2].seq and live.shown.trace.enabled[1] is False


def test_index_of_works_while_the_stream_appends(live: LiveView) -> None:
    """The window asks where the shown frame is on the GUI thread while inference appends frames on its own
    ("deque mutated during iteration" came up in a test run): thread switches forced as often as possible."""
    paused_with_frames(live, 4)
    frames = list(live.buffer)
    live.buffer = collections.deque(frames * 200, maxlen=len(frames) * 200)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    stop = threading.Event()

    def append() -> None:
        while not stop.is_set():
            live.buffer.append(frames[-1])

    writer = threading.Thread(target=append)
    writer.start()
    try:
        for _ in range(300):
            assert live.index_of(None) == len(live.buffer) - 1  # a frame not there: the whole buffer is read
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(interval)


def test_the_owners_edits_reach_the_frame_on_screen_too(live: LiveView) -> None:
    """`set_enabled` (the window's toggle, Show all, undo) changes the frame on screen as well as the next ones:
    the window re-shows that frame when the stream pauses, and it must not bring the old edits back."""
    paused_with_frames(live)
    live.show(3)
    k = live.shown.trace.num_slots
    live.set_enabled((True,) * (k - 1) + (False,))
    assert live.shown.seq == live.buffer[3].seq and live.shown.trace.enabled == (True,) * (k - 1) + (False,)
    live.set_enabled((True,) * k)
    assert live.shown.trace.enabled == (True,) * k


def test_step_does_nothing_while_running(live: LiveView) -> None:
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 2)
    live.step(-1)
    assert live.state == "running"


def test_show_clamps_to_the_buffer_and_emits_the_frame(live: LiveView) -> None:
    shown: list = []
    live.events.frame.connect(shown.append)
    assert live.show(0) is None, "nothing buffered yet"
    paused_with_frames(live)
    newest = live.show(10_000)
    assert newest.seq == live.buffer[-1].seq and shown[-1] is newest
    assert live.show(-3).seq == live.buffer[0].seq


def test_a_frame_that_left_the_ring_buffer_counts_as_the_newest(live: LiveView) -> None:
    paused_with_frames(live)
    assert live.index_of(None) == len(live.buffer) - 1
    assert live.index_of(live.buffer[2]) == 2


@pytest.mark.parametrize("started", [False, True])
def test_seek_on_a_source_that_cannot_is_a_message(live: LiveView, started: bool) -> None:
    if started:
        live.start(FakeCamera())  # a camera: no frame numbers to go to
        assert live.wait_for(lambda: len(live.buffer) >= 1)
    live.seek(5)
    assert live.messages[-1] == ("fake camera: cannot seek in a live source" if started
                                 else "nothing to seek: no source is playing")


def test_switching_carry_over_keeps_the_other_settings() -> None:
    class NoEngine:  # the runner only needs an engine when it runs a frame
        pass

    view = LiveView(NoEngine(), CarryOver(True, 3, match=False))  # type: ignore[arg-type]
    view.set_carry(False)
    assert (view.runner.carry.enabled, view.runner.carry.iters_per_frame, view.runner.carry.match) == (False, 3, False)
    view.set_carry(True, 1)
    assert view.runner.carry == CarryOver(True, 1, match=False)
    view.set_carry(True, None, 5.0)
    assert view.runner.carry == CarryOver(True, 1, match=False, mask_prior=5.0)
    view.set_carry(False)
    assert view.runner.carry.mask_prior == 5.0
    with pytest.raises(SlotviewerError, match="the mask prior must be 0..20, got -1"):
        view.set_carry(True, None, -1)
    assert view.runner.carry == CarryOver(False, 1, match=False, mask_prior=5.0)  # unchanged
    quiet = LiveView(NoEngine(), CarryOver(True, 1, sticky_labels=False))  # type: ignore[arg-type]
    quiet.set_carry(True, 2, 1.5)
    assert quiet.runner.carry == CarryOver(True, 2, mask_prior=1.5, sticky_labels=False)  # not reset to the default


def test_swap_bounds_and_the_edits_that_follow(live: LiveView) -> None:
    paused_with_frames(live, 2)
    k = len(live.runner.previous)
    with pytest.raises(SlotviewerError, match=f"slots {k} and 0"):
        live.swap(k, 0)
    live.swap(2, 0)  # both inside: fine in either order
    live.set_hidden(k - 1)
    live.swap(0, 1)
    assert live.hidden == {k - 1}, "an edit of a slot the swap does not touch stays where it is"
    live.solo(k - 1)
    live.swap(0, 1)
    assert live.solo_slot == k - 1
    live.solo(1)
    live.swap(1, 2)
    assert live.solo_slot == 2, "solo follows its object"
    live.solo(None)
    live.swap(1, 2)
    assert live.solo_slot is None


def test_export_refuses_an_empty_buffer_and_an_existing_folder(live: LiveView, tmp_path: Path) -> None:
    with pytest.raises(SlotviewerError, match="^nothing to export: no frames yet$"):
        live.export_buffer(tmp_path / "none")
    paused_with_frames(live, 3)
    out = live.export_buffer(tmp_path / "x")
    with pytest.raises(SlotviewerError, match="already exists"):
        live.export_buffer(out)
    assert live.export_buffer(out, overwrite=True) == out


class UnknownRateCamera(FakeCamera):
    """A camera that does not report its frame rate (many webcams report 0)."""

    @property
    def fps(self) -> None:
        return None


@pytest.mark.parametrize(("camera", "written"), [(FakeCamera, 30.0), (UnknownRateCamera, 25.0)])
def test_export_records_where_the_frames_came_from(live: LiveView, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                   camera: type[FakeCamera], written: float) -> None:
    """trace.json says the source, its rate (25 when it has none), the buffered frames from the first one's
    number, the first frame's run (fresh slots) and the edits; no progress bar is printed."""
    live.start(camera(name="desk cam"))
    assert live.wait_for(lambda: len(live.buffer) >= 3), (live.state, live.messages)
    live.pause()
    live.set_hidden(1)
    out = live.export_buffer(tmp_path / "x")
    record = json.loads((out / "trace.json").read_text())
    frames = list(live.buffer)[: record["frames"]]
    assert record["source"] == "desk cam" and record["fps"] == written and record["frames"] >= 3
    assert record["first_frame_index"] == frames[0].frame.index
    assert record["frame_indices"] == [item.frame.index for item in frames], "the source frame of each file"
    assert live.export_name() == f"desk_cam_frames_{frames[0].frame.index:06d}-{live.buffer[-1].frame.index:06d}"
    assert record["first_frame_init"] == "fresh" and frames[1].trace.provenance["init"] == "carried"
    assert record["hidden"] == [1] and record["solo"] is None and record["iters_per_frame"] == 1
    assert record["labels"] == live.runner.label_by == "posterior"
    assert cv2.VideoCapture(str(out / "overlay.mp4")).get(cv2.CAP_PROP_FPS) == pytest.approx(written)
    assert capfd.readouterr().err == ""


def test_seek_after_stop_is_a_message_even_on_a_file(live: LiveView, tmp_path: Path) -> None:
    from slotviewer.io.sources import FolderSource

    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    live.start(FolderSource(tmp_path), realtime=False)
    assert live.wait_for(lambda: live.state == "ended")
    live.stop()
    live.seek(0)
    assert live.messages[-1] == "nothing to seek: no source is playing"


def test_learning_needs_frames(live: LiveView) -> None:
    with pytest.raises(SlotviewerError, match="^no frames to learn from yet$"):
        live.learn(steps=1)


def test_reconnect_keeps_the_pace_and_never_reports_stopped(live: LiveView) -> None:
    states: list[str] = []
    live.events.state.connect(states.append)
    live.start(FakeCamera(disconnect_at=5), realtime=False)
    assert live.wait_for(lambda: live.state == "failed"), (live.state, live.messages)
    states.clear()
    live.reconnect()
    assert live.wait_for(lambda: live.state == "running")
    assert live.capture.realtime is False, "read as fast as consumed, as before the failure"
    assert "stopped" not in states


def test_hiding_emits_the_edited_frame_and_unhiding_shows_the_slot_again(live: LiveView) -> None:
    shown: list = []
    live.events.frame.connect(shown.append)
    paused_with_frames(live, 2)
    live.set_hidden(1)
    assert shown[-1] is live.shown and shown[-1].trace.enabled[1] is False
    live.set_hidden(1, hidden=False)
    assert live.hidden == set() and shown[-1].trace.enabled[1] is True


def test_cancel_before_any_learning_does_nothing(live: LiveView) -> None:
    live.cancel_learning()
    assert live.state == "idle"


def test_view_picture_tints_the_visible_slots_and_redraws_at_the_input_size(onnx_engine: Engine) -> None:
    """Input | input tinted by the enabled slots (hidden ones give their pixels to the others; with none
    enabled the frame stays plain) | reconstruction of the enabled slots, rounded, at the input's size."""
    image = MovingShapes(seed=1).frame(0)[0]  # 64×64 while the test model runs at 35×35
    trace = onnx_engine.run(image, seed=2)
    k = trace.num_slots
    colours = slot_colours(k).astype(float)

    def picture(enabled: tuple[bool, ...], reconstruction: bool = False) -> np.ndarray:
        return view_picture(LiveFrame(Frame(image, 0, 0.0), trace.replace(enabled=enabled), 1), reconstruction)

    def tinted_by(middle: np.ndarray, slots: list[int]) -> np.ndarray:
        """Per pixel: is it the half-and-half mix of the input with one of these slots' colours?"""
        mixes = [(image.astype(float) + colours[s]) / 2 for s in slots]
        return np.min([np.abs(middle - m).max(axis=-1) for m in mixes], axis=0) <= 1

    everything = picture((True,) * k, reconstruction=True)
    assert everything.shape == (64, 192, 3) and (everything[:, :64] == image).all()
    assert tinted_by(everything[:, 64:128], list(range(k))).all()
    expected = cv2.resize(to_uint8(trace.composite()), (64, 64), interpolation=cv2.INTER_LINEAR)
    assert_not_flat(expected)
    assert (everything[:, 128:] == expected).all()

    owner = np.argmin([np.abs(everything[:, 64:128] - (image + colours[s]) / 2).max(-1) for s in range(k)], 0)
    hide = int(np.bincount(owner.ravel()).argmax())  # the slot with the most pixels
    edited = picture(tuple(s != hide for s in range(k)), reconstruction=True)[:, 64:]
    assert tinted_by(edited[:, :64], [s for s in range(k) if s != hide]).all(), "its pixels go to other slots"
    assert not (edited[:, 64:] == expected).all(), "the reconstruction leaves the hidden slot out"
    assert (picture((False,) * k)[:, 64:] == image).all(), "nothing enabled: the plain frame"


def test_reconnecting_a_stalled_source_never_reports_stopped(live: LiveView) -> None:
    states: list[str] = []
    live.events.state.connect(states.append)
    camera = stalled_camera(live)
    camera.resume()
    states.clear()
    live.reconnect()
    assert live.wait_for(lambda: live.state == "running")
    assert "stopped" not in states and camera.open_count == 2


@pytest.mark.parametrize("state", ["idle", "ended", "failed", "stopped"])
def test_recording_needs_a_source_that_plays(live: LiveView, tmp_path: Path, state: str) -> None:
    if state == "ended":
        live.start(FakeCamera(frames=2), realtime=False)
    elif state == "failed":
        live.start(FakeCamera(disconnect_at=2), realtime=False)
    elif state == "stopped":
        live.start(FakeCamera())
        assert live.wait_for(lambda: len(live.buffer) >= 1)
        live.stop()
    assert live.wait_for(lambda: live.state == state)
    with pytest.raises(SlotviewerError, match=f"^nothing to record: the source is {state}$"):
        live.start_recording(tmp_path / "rec.avi")
    assert list(tmp_path.iterdir()) == []


def test_recording_waits_for_the_first_frame(live: LiveView, tmp_path: Path) -> None:
    live.start(FakeCamera(stall_at={0: 1.0}))
    with pytest.raises(SlotviewerError, match="^nothing to record yet: wait for the first frame$"):
        live.start_recording(tmp_path / "rec.avi")


def test_recording_takes_its_size_from_the_buffer_before_anything_is_shown(live: LiveView, tmp_path: Path) -> None:
    recording: list = []
    live.events.recording.connect(recording.append)
    paused_with_frames(live, 2, process=False)
    assert live.shown is None
    live.start_recording(tmp_path / "rec.avi")
    assert (live.recorder.height, live.recorder.width) == (64, 128) and recording == [tmp_path / "rec.avi"]


def test_a_second_recording_closes_the_first(live: LiveView, tmp_path: Path) -> None:
    recorded: list = []
    live.events.recorded.connect(recorded.append)
    live.start(FakeCamera(realtime=True, fps=30))
    assert live.wait_for(lambda: len(live.buffer) >= 1)
    live.start_recording(tmp_path / "one.avi")
    assert live.wait_for(lambda: live.recorder.frames >= 2)
    live.start_recording(tmp_path / "two.avi")
    assert live.wait_for(lambda: recorded == [tmp_path / "one.avi"])
    assert live.recorder is not None and live.recorder.path == tmp_path / "two.avi"


@pytest.mark.parametrize("reconstruction", [False, True])
def test_recorded_frames_are_the_view_with_or_without_the_reconstruction(live: LiveView, tmp_path: Path,
                                                                         reconstruction: bool) -> None:
    live.start(FakeCamera(realtime=True, fps=30))
    assert live.wait_for(lambda: len(live.buffer) >= 1)
    live.start_recording(tmp_path / "rec.avi", reconstruction=reconstruction)
    widths: list[int] = []
    write = live.recorder.write
    live.recorder.write = lambda picture: (widths.append(picture.shape[1]), write(picture))
    assert live.wait_for(lambda: len(widths) >= 2)
    assert set(widths) == {64 * (3 if reconstruction else 2)}, "written at the recording's size, not stretched"


def test_recordings_play_at_the_rate_they_were_seen(live: LiveView, tmp_path: Path) -> None:
    class Silent:  # a rate counter before any frame was processed
        rate = 0.0

    live.start(FakeCamera(fps=30.0))
    assert live.wait_for(lambda: len(live.buffer) >= 3)
    assert live._recording_fps() == 30.0, "the source's own rate"
    live.start_recording(tmp_path / "rec.avi")
    assert live.recorder.fps == 30.0
    live.stop_recording()
    live.source = UnknownRateCamera()
    assert live._recording_fps() == pytest.approx(live.model_rate.rate) and live.model_rate.rate >= 1.0
    live.model_rate = Silent()
    assert live._recording_fps() == 25.0


def test_a_started_source_plays_at_its_own_pace_and_says_it_is_live(live: LiveView) -> None:
    live.start(FakeCamera())
    assert live.capture.realtime is True, "a camera or a file plays at its rate by default"
    live.process_callbacks()
    assert live.messages == ["fake camera: live"]


def test_each_run_has_its_own_stop_so_a_slow_old_loop_cannot_go_on(live: LiveView) -> None:
    """A loop of the last run that outlived stop()'s wait (a frame in a slow model) still sees its own stop
    set after the next start: it ends instead of running beside the new loop."""
    live.start(FakeCamera())
    assert live.wait_for(lambda: len(live.buffer) >= 1)
    first = live._stop
    live.start(FakeCamera())
    assert first.is_set() and live._stop is not first and not live._stop.is_set()
    assert live.wait_for(lambda: len(live.buffer) >= 1)


def test_a_frame_of_a_stopped_run_is_not_buffered(live: LiveView) -> None:
    """The last frame of a loop that outlived stop()'s wait (a slow model) must not join the next run's buffer."""
    paused_with_frames(live, 2)
    count, stop = len(live.buffer), threading.Event()
    stop.set()
    assert live.runner.previous is not None  # carried slots of the paused stream
    live._process(live.buffer[-1].frame, stop=stop)
    assert len(live.buffer) == count and live.runner.previous is None, "no frame, and no slots carried from it"
    live._process(live.buffer[-1].frame, stop=threading.Event())
    assert len(live.buffer) == count + 1

"""`LiveView`: a camera, video file or image sequence through the model, frame after frame, without Qt.

Three threads, none of them the GUI's: the capture thread keeps only the newest frame
(`io.sources.CaptureThread`); the inference thread takes the newest frame whenever the model is free,
runs it with carry-over (`video.FrameRunner`: slot k keeps its object from frame to frame), applies the
user's edits by slot identity (hidden / solo / swapped slots stay so on the next frames), keeps the result
in a ring buffer of recent frames and writes it to the recording if one runs; results reach the owner
through `deliver` (the GUI posts them onto its event loop; tests call `process_callbacks`).

Pause stops inference (capture goes on, so resuming shows the present, not a backlog); while paused,
`show(i)` scrubs the buffer, and each buffered frame keeps its full `Trace`, so the iteration scrubber
works on it as on a still image. Faults never raise into the owner: a stall or a disconnect becomes a
state and a one-line message, the last frame stays, `reconnect()` tries again, and a recording is closed
(kept, not discarded) when the source fails, when the view stops, and when the app quits.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

from slotviewer.components.adaptation import ADAPTED_PREFIX
from slotviewer.components.inbox import Inbox
from slotviewer.engine import Engine, Trace, surgery
from slotviewer.errors import SlotviewerError
from slotviewer.io.images import some_of
from slotviewer.io.recorder import VideoRecorder
from slotviewer.io.render import slot_colours, to_uint8
from slotviewer.io.sources import CaptureThread, FolderSource, Frame, FrameSource, SourceError, SourceStalled
from slotviewer.model.files import copy_model
from slotviewer.video import CarryOver, FrameRunner, labels_at, overlay

STATES = ("idle", "running", "paused", "stalled", "ended", "failed", "stopped")


@dataclass(frozen=True)
class LiveFrame:
    """One processed frame: the source frame, its trace (edits applied), when it was shown."""

    frame: Frame
    trace: Trace
    seq: int  # processing order, increases by one per processed frame


def end_message(source: FrameSource) -> str:
    """What the status says when a file or folder has played to its end, naming what a folder passed over
    (the message that named each skipped file as it came is gone from the status bar by then)."""
    what = "the sequence" if isinstance(source, FolderSource) else "file"
    text = f"{source.name}: end of {what} (Play starts it again; or seek)"
    skipped = source.skipped  # "name (reason)" each
    if skipped:
        text += f"; {len(skipped)} unreadable file{'s' * (len(skipped) > 1)} skipped: {some_of(skipped)}"
    return text


class RateCounter:
    """Events per second over a sliding window (thread-safe)."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()

    @property
    def rate(self) -> float:
        with self._lock:
            times = [t for t in self._times if time.monotonic() - t <= self.window]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


class LiveEvents(SignalGroup):
    frame = Signal(object)  # LiveFrame to show (a new one, or a buffered one while paused)
    state = Signal(str)  # one of STATES
    message = Signal(str)  # a one-line status or error
    recording = Signal(object)  # Path while recording, None when it stopped
    recorded = Signal(object)  # Path of a finished recording
    exported = Signal(object, str)  # (the folder, or None when it failed; what to say)
    learning = Signal(str, float)  # "running"/"done"/"cancelled"/"failed", fraction done


def view_picture(live: LiveFrame, with_reconstruction: bool = False) -> np.ndarray:
    """What a recording holds per frame: the input and the input tinted by slot (its posterior labels, as
    `slotviewer run` writes them; hidden slots untinted) side by side, optionally with the reconstruction, all
    at the input's height."""
    from slotviewer.io.sources import _cv2

    cv2 = _cv2()
    trace = live.trace
    image = live.frame.image
    h, w = image.shape[:2]
    hidden = ~np.asarray(trace.enabled, bool)
    labels = labels_at(trace.posterior(), h, w, trace.sticky)  # the enabled slots' posterior (zero when none is)
    panels = [image, overlay(image, labels, slot_colours(trace.num_slots), hidden=hidden)]
    if with_reconstruction:
        panels.append(cv2.resize(to_uint8(trace.composite()), (w, h), interpolation=cv2.INTER_LINEAR))
    return np.ascontiguousarray(np.concatenate(panels, axis=1))


def same_model(a: Engine, b: Engine) -> bool:
    """The same weights file on the same backend and device (e.g. one model loaded twice)."""
    return (a.backend.model_sha256, a.backend.name, str(a.backend.device)) == (
        b.backend.model_sha256, b.backend.name, str(b.backend.device))


class LiveView:
    """Run a `FrameSource` live through an engine. Create, `start(source)`, then `pause`/`resume`/`show`,
    `set_hidden`/`solo`/`swap`, `start_recording`/`stop_recording`, `stop`."""

    def __init__(self, engine: Engine, carry: CarryOver | None = None, buffer: int = 120,
                 deliver: Callable[[Callable[[], None]], None] | None = None, stall_timeout: float = 2.0,
                 slots: int | None = None, iters: int | None = None, seed: int = 0) -> None:
        self.events = LiveEvents()
        self.engine = engine
        self.runner = FrameRunner(engine, carry or CarryOver(), slots=slots, iters=iters, seed=seed)
        self.buffer: collections.deque[LiveFrame] = collections.deque(maxlen=buffer)
        self.stall_timeout = stall_timeout
        self.state = "idle"
        self.source: FrameSource | None = None
        self._realtime = True  # read the source at its own pace (False: as fast as frames are taken)
        self.capture: CaptureThread | None = None
        self.hidden: set[int] = set()
        self.solo_slot: int | None = None
        self.capture_rate, self.model_rate, self.display_rate = RateCounter(), RateCounter(), RateCounter()
        self.shown: LiveFrame | None = None
        self.recorder: VideoRecorder | None = None
        self.record_reconstruction = False
        self._inbox = Inbox()
        self._deliver = deliver or self._inbox.post
        self._lock = threading.RLock()  # guards edits, runner slots, recorder
        self._paused = threading.Event()
        self._step = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._learn_thread: threading.Thread | None = None  # Learn this scene's, once started
        self._learn_cancel = threading.Event()  # the running (or last) Learn this scene's cancel
        self.adapted_model: Path | None = None  # the stem of the weights Learn this scene made, once done
        self._seq = 0
        self._first_seq = 0  # frames numbered below this ran on a model the view no longer uses
        self._skipped_told = 0  # how many of the source's skipped inputs a message named already
        self.busy = False  # a frame is being run now (after `pause` the one in flight still finishes)
        self._pause_lock = threading.Lock()
        self._held_frame: tuple[int, Frame] | None = None  # (seq, frame) taken from the capture as a pause began
        self._show_lock = threading.Lock()
        self._to_show: LiveFrame | None = None
        self._show_posted = False

    # --- owner's side: callbacks -------------------------------------------------------------------------

    def process_callbacks(self) -> int:
        """Run the callbacks the threads posted (tests and scripts; the GUI passes its own `deliver`)."""
        return self._inbox.process()

    def _set_state(self, state: str, message: str | None = None) -> None:
        self.state = state

        def emit() -> None:
            self.events.state.emit(state)
            if message:
                self.events.message.emit(message)

        self._deliver(emit)

    # --- the source ----------------------------------------------------------------------------------------
    def start(self, source: FrameSource, realtime: bool = True) -> None:
        """Open `source` and start; an unusable source is one message and state "failed", never an exception."""
        self.stop(final=False)  # the old source (if any) gives way: no "stopped" flickers before "running"
        self.source, self._realtime = source, realtime
        self._skipped_told = len(source.skipped)
        self._held_frame = None
        self.buffer.clear()
        self.runner.reset()
        self._stop = threading.Event()  # this run's own: a loop of the last run still ending keeps its own, set
        self._paused.clear()
        try:
            source.open()
        except SourceError as exc:
            self._set_state("failed", str(exc))
            return
        # "running" before the threads start: a source that fails at once must end "failed", not be
        # overwritten by this line after its failure
        missing = self.runner.mask_prior_missing
        self._set_state("running", self._playing_message() + (f" ({missing})" if missing else ""))
        self._start_threads()

    def _start_threads(self) -> None:
        assert self.source is not None
        self.capture = CaptureThread(self.source, realtime=self._realtime, stall_timeout=self.stall_timeout,
                                     on_error=self._source_error, on_frame=lambda _f: self.capture_rate.tick(),
                                     keep_open=True)
        self.capture.start()
        self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="live inference", daemon=True)
        self._thread.start()

    def reconnect(self) -> None:
        """Open the same source again after a failure (a replugged camera); edits are kept."""
        if self.source is None:
            return
        source, hidden, solo = self.source, set(self.hidden), self.solo_slot
        self.stop(final=False)
        self.hidden, self.solo_slot = hidden, solo
        self.start(source, self._realtime)

    def _source_error(self, exc: SourceError) -> None:
        if isinstance(exc, SourceStalled):
            self._set_state("stalled", f"{exc} — the last frame stays")
            return
        self._close_recording(f"{exc}; the recording so far was kept")
        seekable = self.source is not None and self.source.seekable  # a file: what it had stays to seek in
        self._set_state("failed", f"{exc} — " + ("the frames before it stay (seek back to them)" if seekable else
                                                "reconnect to try again; the last frame stays"))

    def _playing_message(self) -> str:
        name = self.source.name if self.source is not None else "live"
        return f"{name}: live" if self.source is not None and self.source.live else f"{name}: playing"

    def _paused_message(self) -> str:
        name = self.source.name if self.source is not None else "live"
        live = self.source is not None and self.source.live
        return f"{name}: paused" + (" (the camera goes on: Play shows the present)" if live else "")

    def _tell_skipped(self) -> None:
        """Name what the source passed over since the last time (a sequence's unreadable files)."""
        skipped = self.source.skipped if self.source is not None else ()
        if len(skipped) > self._skipped_told:
            text = f"{self.source.name}: skipped {'; '.join(skipped[self._skipped_told:])}"
            self._skipped_told = len(skipped)
            self._deliver(lambda: self.events.message.emit(text))

    # --- the inference loop ----------------------------------------------------------------------------------
    def _loop(self, stop: threading.Event) -> None:
        seen = 0
        while not stop.is_set():
            if self._paused.is_set() and not self._step.is_set():
                stop.wait(0.02)
                continue
            capture = self.capture
            if capture is None:
                return
            with self._pause_lock:  # a frame that arrived as the pause began comes first
                got, self._held_frame = self._held_frame, None
            got = got or capture.latest(seen, timeout=0.1)
            if got is None:
                if capture.ended:  # a failure was reported by the capture thread already
                    if capture.error is None and not stop.is_set():
                        self._close_recording(None)
                        self._set_state("ended", f"{self.source.name}: end")
                    return
                if capture.at_end and self.state == "running":  # a file: seeking brings it back
                    self._close_recording(None)
                    self._tell_skipped()
                    self._set_state("ended", end_message(self.source))
                continue
            with self._pause_lock:  # a pause that lands while waiting for the frame still holds
                if self._paused.is_set() and not self._step.is_set():
                    if not (self.source and self.source.live):  # a file's frame is kept for the next step or
                        self._held_frame = got  # the resume (a camera resumes with the present)
                    continue
                self.busy = True
            seen, frame = got
            self._step.clear()
            try:
                self._process(frame, stop=stop)
            except SlotviewerError as exc:
                self._set_state("failed", str(exc))
                return
            except Exception as exc:  # noqa: BLE001  (the app stays up; the message is one line)
                self._set_state("failed", f"{type(exc).__name__}: {exc}".splitlines()[0])
                return
            finally:
                self.busy = False
            self._tell_skipped()
            if self.state in ("stalled", "ended"):  # back: the status must not go on saying stalled or ended
                paused = self._paused.is_set()
                self._set_state("paused" if paused else "running",
                                self._paused_message() if paused else self._playing_message())

    def _process(self, frame: Frame, record: bool = True, fresh: bool = False,
                 stop: threading.Event | None = None) -> None:
        """Run `frame` and buffer and show it — unless `stop` (the run it belongs to) was set meanwhile: a
        loop that outlived stop()'s wait must not add its last frame to the next run's buffer, nor leave its
        slots in the runner (the next run's `start` reset it already, without waiting for this frame)."""
        with self._lock:
            if fresh:  # under the lock: a frame the stream ran in between must not become this one's start
                self.runner.reset()
            trace = self.runner.run(frame.image)
            if stop is not None and stop.is_set():  # nor may its slots start the next run's first frame
                self.runner.reset()
                return
            self._seq += 1
            live = self._with_edits(LiveFrame(frame, trace, self._seq))  # hidden/solo slots stay so
            self.buffer.append(live)
            self.model_rate.tick()
            if self.recorder is not None and record:
                try:
                    self.recorder.write(view_picture(live, self.record_reconstruction))
                except SlotviewerError as exc:
                    self.recorder, text = None, str(exc)
                    self._deliver(lambda: (self.events.message.emit(text), self.events.recording.emit(None)))

        with self._show_lock:  # at most one frame waits for the owner: a slow display drops frames,
            self._to_show = live  # it never builds a backlog
            if self._show_posted:
                return
            self._show_posted = True
        self._deliver(self._show_latest)

    def _show_latest(self) -> None:
        with self._show_lock:
            live, self._to_show, self._show_posted = self._to_show, None, False
        if live is not None and live.seq >= self._first_seq and (self.shown is None or self.shown.seq < live.seq):
            self.shown = self._with_edits(live)
            self.events.frame.emit(self.shown)

    # --- controls ------------------------------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop running frames; a file or folder also stops being read (a camera's capture goes on, so
        resuming shows the present)."""
        if self.state in ("running", "stalled"):
            with self._pause_lock:
                self._paused.set()
            if self.capture is not None:
                self.capture.hold(True)
            self._set_state("paused", self._paused_message())

    def resume(self) -> None:
        if self.state == "paused":
            if self.capture is not None:
                self.capture.hold(False)
            self._paused.clear()
            self._set_state("running", self._playing_message())

    def step(self, delta: int = 1) -> None:
        """While paused: move through the buffer; past its newest frame, process one new frame. After the end
        of a file, a stop or a failure: move through the buffer (there is nothing new to read)."""
        if self.state in ("ended", "stopped", "failed"):
            if self.buffer:
                self.show(min(max(0, self.index_of(self.shown) + delta), len(self.buffer) - 1))
            return
        if not self._paused.is_set():
            return
        index = self.index_of(self.shown) + delta if self.shown is not None else len(self.buffer) - 1
        if index >= len(self.buffer):
            with self._pause_lock:
                waiting = self._held_frame is not None
            if self.capture is not None and not waiting:
                self.capture.advance()  # a paused file reads exactly the next frame
            self._step.set()
        else:
            self.show(max(0, index))

    def index_of(self, live: LiveFrame | None) -> int:
        for i, item in enumerate(list(self.buffer)):  # a copy (made whole under the GIL): the stream appends
            if live is not None and item.seq == live.seq:  # by number: the frame shown is a copy with the edits
                return i
        return len(self.buffer) - 1

    def show(self, index: int) -> LiveFrame | None:
        """Show buffered frame `index` (0 = oldest); pauses first, as a scrub does."""
        if not self.buffer:
            return None
        self.pause()
        live = self.buffer[min(max(0, index), len(self.buffer) - 1)]
        live = self._with_edits(live)
        self.shown = live
        self.events.frame.emit(live)
        return live

    def seek(self, index: int) -> None:
        """Files and folders: continue from frame `index` with fresh slots (carry-over across a jump
        would drag the old objects along)."""
        if self.capture is None or self.source is None:
            self.events.message.emit("nothing to seek: no source is playing")
            return
        if not self.source.seekable:
            self.events.message.emit(f"{self.source.name}: cannot seek in a live source")
            return
        with self._lock:
            self.runner.reset()
        with self._pause_lock:
            self._held_frame = None  # from before the jump
        self.capture.seek(index)
        if self._paused.is_set():
            self._step.set()
        elif self.state == "ended":  # a seek in an ended file plays on from there: running from now, not from
            self._set_state("running", self._playing_message())  # its first frame (Play after the end)

    def set_carry(self, enabled: bool, iters_per_frame: int | None = None, mask_prior: float | None = None) -> None:
        """Switch between carried-over and fresh slots (and the iterations per carried frame, and how
        strongly the last frame's masks steer the next; `None` keeps the current value)."""
        with self._lock:  # a copy of the current settings: the ones not named here (match, sticky labels) stay
            old = self.runner.carry
            self.runner.carry = dataclasses.replace(
                old, enabled=enabled,
                iters_per_frame=old.iters_per_frame if iters_per_frame is None else int(iters_per_frame),
                mask_prior=old.mask_prior if mask_prior is None else float(mask_prior))

    def set_run(self, slots: int | None, iters: int | None, seed: int, draws: int | None) -> None:
        """The run panel's K, T, seed and draws for the stream's fresh starts (the first frame, fresh slots
        per frame, after a seek). A change starts the next frame from fresh slots, as a still image is run
        again; a new K also drops the edits (slot k is no longer the same slot)."""
        with self._lock:
            if self.runner.start == (slots, iters, int(seed), draws):
                return
            if self.runner.slots != slots:
                self.hidden, self.solo_slot = set(), None
            self.runner.start = (slots, iters, seed, draws)
            self.runner.reset()

    def mark_displayed(self) -> None:
        """The view calls this after painting a frame, for the display FPS."""
        self.display_rate.tick()

    @property
    def rates(self) -> dict[str, float]:
        return {"capture": self.capture_rate.rate, "model": self.model_rate.rate, "display": self.display_rate.rate}

    # --- edits by slot identity --------------------------------------------------------------------------------
    def _enabled(self, k: int) -> tuple[bool, ...]:
        if self.solo_slot is not None and 0 <= self.solo_slot < k:
            return tuple(i == self.solo_slot for i in range(k))
        return tuple(i not in self.hidden for i in range(k))

    def _with_edits(self, live: LiveFrame) -> LiveFrame:
        enabled = self._enabled(live.trace.num_slots)
        if enabled == live.trace.enabled:
            return live
        return LiveFrame(live.frame, surgery.set_enabled(live.trace, enabled), live.seq)  # in `edits` too

    def _edits_changed(self) -> None:
        if self.shown is not None:
            self.shown = self._with_edits(self.shown)
            self.events.frame.emit(self.shown)

    def set_hidden(self, index: int, hidden: bool = True) -> None:
        """Hide (or show) slot `index` on this and every following frame."""
        with self._lock:
            self.solo_slot = None
            (self.hidden.add if hidden else self.hidden.discard)(index)
        self._edits_changed()

    def set_enabled(self, enabled: tuple[bool, ...]) -> None:
        """The shown slots as the owner's document now has them (a toggle, Show all, Reset, undo…): hidden
        from the next frame on, as they are hidden on screen already."""
        with self._lock:
            self.hidden = {i for i, on in enumerate(enabled) if not on}
            self.solo_slot = None
            if self.shown is not None:  # quietly (the owner shows them already): a later re-show of the frame
                self.shown = self._with_edits(self.shown)  # on screen (a pause) must not bring the old ones back

    def solo(self, index: int | None) -> None:
        with self._lock:
            self.solo_slot = index
        self._edits_changed()

    def reset_edits(self) -> None:
        with self._lock:
            self.hidden.clear()
            self.solo_slot = None
        self._edits_changed()

    def swap(self, i: int, j: int) -> None:
        """Exchange slots i and j from the next frame on: the carried slots are swapped, and so are the
        edits, so each object keeps its edit while it changes colour."""
        with self._lock:
            if self.runner.previous is not None:
                k = len(self.runner.previous)
                if not (0 <= i < k and 0 <= j < k):
                    raise SlotviewerError(f"slots {i} and {j}: this model runs {k} slots (0..{k - 1})")
                order = np.arange(k)
                order[[i, j]] = order[[j, i]]
                self.runner.reorder(order)
            swap = {i: j, j: i}
            self.hidden = {swap.get(h, h) for h in self.hidden}
            if self.solo_slot is not None:
                self.solo_slot = swap.get(self.solo_slot, self.solo_slot)

    # --- recording -----------------------------------------------------------------------------------------------
    def start_recording(self, path: str | Path, reconstruction: bool = False) -> None:
        """Record the view (input | overlay [| reconstruction]) of every processed frame to `path`."""
        if self.recorder is not None:
            self.stop_recording()
        if self.state in ("idle", "ended", "failed", "stopped"):
            raise SlotviewerError(f"nothing to record: the source is {self.state}")
        size_from = self.shown or (self.buffer[-1] if self.buffer else None)
        if size_from is None:
            raise SlotviewerError("nothing to record yet: wait for the first frame")
        h, w = size_from.frame.image.shape[:2]
        fps = self._recording_fps()
        with self._lock:
            self.record_reconstruction = reconstruction
            self.recorder = VideoRecorder(path, fps, (h, w * (3 if reconstruction else 2)))
        self.events.recording.emit(Path(path))

    def _recording_fps(self) -> float:
        """The source's own rate; for a camera that reports none, the rate frames are processed at (25 before
        there is one), so the recording plays at the speed it was seen."""
        if self.source is not None and self.source.fps:
            return float(self.source.fps)
        rate = self.model_rate.rate
        return rate if rate >= 1.0 else 25.0

    def stop_recording(self) -> Path | None:
        return self._close_recording(None)

    def _close_recording(self, message: str | None) -> Path | None:
        with self._lock:
            recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        try:
            path = recorder.close()
        except SlotviewerError as exc:
            path, message = None, str(exc)

        def emit() -> None:
            self.events.recording.emit(None)
            if path is not None:
                self.events.recorded.emit(path)
            if message:
                self.events.message.emit(message)

        self._deliver(emit)
        return path

    # --- export ---------------------------------------------------------------------------------------------------
    def export_frames(self) -> tuple[list[LiveFrame], str]:
        """The buffered frames an export writes, and why older ones are left out ("" when none are).

        The buffer can hold more than one run of the stream: frames from before a seek or a replay (the same
        source frames twice, out of order) or run with another K (masks of another shape, which no single
        `masks.npz` array can hold). An export is the newest unbroken stretch: one K, source frames in order.
        """
        frames = list(self.buffer)
        start, why = len(frames) - 1, ""
        while start > 0:
            before, after = frames[start - 1], frames[start]
            if before.trace.num_slots != after.trace.num_slots:
                why = f"ran with K={before.trace.num_slots}"
                break
            if before.frame.index >= after.frame.index:
                why = "came before a seek or a replay"
                break
            start -= 1
        return frames[max(start, 0):], (f"the {start} buffered frame{'s' * (start > 1)} before them {why}"
                                         if why else "")

    def export_name(self, stretch: tuple[list[LiveFrame], str] | None = None) -> str:
        """A folder name for `export_buffer` that says what it holds: the source and its frame range,
        e.g. `clip_frames_000045-000050` (two exports of different moments do not collide). `stretch`: what
        `export_frames` gave, when the name must match an export of exactly those frames (the stream goes on)."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(self.source.name).stem if self.source else "").strip("_")
        frames, _ = stretch or self.export_frames()
        span = f"_frames_{frames[0].frame.index:06d}-{frames[-1].frame.index:06d}" if frames else ""
        return (stem or "live") + span

    def export_in_background(self, out_dir: str | Path, overwrite: bool = False,
                             stretch: tuple[list[LiveFrame], str] | None = None) -> threading.Thread:
        """`export_buffer` on a thread (a full buffer of 640×480 frames takes over a second to write); the
        outcome comes as `events.exported`: the folder and what to say, or None and the error."""
        frames, left_out = stretch = stretch or self.export_frames()

        def work() -> None:
            try:
                out: Path | None = self.export_buffer(out_dir, overwrite, stretch)
                text = f"wrote {out}" + (f" (the last {len(frames)} frames; {left_out})" if left_out else "")
            except (SlotviewerError, OSError) as exc:
                out, text = None, str(exc)
            self._deliver(lambda: self.events.exported.emit(out, text))

        thread = threading.Thread(target=work, name="live export", daemon=True)
        thread.start()
        return thread

    def export_buffer(self, out_dir: str | Path, overwrite: bool = False,
                      stretch: tuple[list[LiveFrame], str] | None = None) -> Path:
        """Write the buffer's newest unbroken stretch (`export_frames`, or `stretch` if it gave one already) like
        `slotviewer run VIDEO` does (labels/, masks.npz, overlay.mp4, trace.json), with the edits as shown. The
        buffer may skip frames (a slow model, a step), so `trace.json`'s `frame_indices` gives the source frame of
        each `labels/NNNNNN.png`, in order."""
        from slotviewer.headless_video import VideoOptions, VideoWriter, video_record

        out_dir = Path(out_dir)
        chosen, left_out = stretch or self.export_frames()
        frames = [self._with_edits(item) for item in chosen]
        if not frames:
            raise SlotviewerError("nothing to export: no frames yet")
        if out_dir.exists() and not overwrite:
            raise SlotviewerError(f"{out_dir}: already exists")
        source = self.source
        assert source is not None  # buffered frames came from it
        fps = source.fps or 25.0
        label_by = self.runner.label_by  # labelled as the stream was, so the held labels mean the same
        writer = VideoWriter(out_dir, fps, VideoOptions(label_by=label_by))  # all outputs; replaces `out_dir`
        try:
            for item in frames:
                writer.write(item.trace)
            first = frames[0].trace
            return writer.finish({
                **video_record(source, fps, len(frames), first, self.runner.settings(), label_by,
                               self.runner.start[2]),
                "complete": True, "first_frame_init": first.provenance.get("init"),
                "first_frame_index": frames[0].frame.index, "frame_indices": [item.frame.index for item in frames],
                **({"left_out": left_out} if left_out else {}),
                "hidden": sorted(self.hidden), "solo": self.solo_slot})
        except BaseException:
            writer.discard()
            raise

    # --- the model ----------------------------------------------------------------------------------------------
    def set_engine(self, engine: Engine, run: tuple[int | None, int | None, int, int | None] | None = None,
                   ) -> threading.Thread | None:
        """Run the stream on another engine (the user picked a model, or the owner loaded the adapted one).

        The same weights on the same backend and device (the owner loading the model learning produced)
        only replace the engine object. Another model starts the next frame from fresh slots (the old ones
        are the other model's) and drops the edits (its slots are not these) and the buffer: every frame one
        can scrub to, or that a paused view decodes the iterations of, must come from the model the owner
        now decodes with. Frames the old model ran are never shown after this, and the frame on screen is
        run again on a thread (returned), from fresh slots even if the stream ran a frame of the new model in
        between, so the picture changes with the model as a still image's does. `run` (K, T, seed, draws, as
        `set_run` takes them) applies with the engine, so no frame runs the new model with the old K.
        """
        with self._lock:
            old, self.engine = self.engine, engine
            self.runner.engine = engine
            if run is not None:
                self.runner.start = run
            if engine.fixed_slots:  # its K is its own: whatever K the last model ran with does not apply
                self.runner.slots = None
            missing = self.runner.mask_prior_missing
            if missing:
                self._deliver(lambda: self.events.message.emit(missing))
            if same_model(old, engine):
                return None
            self.runner.reset()
            self.hidden, self.solo_slot = set(), None
            self.buffer.clear()
            self._first_seq = self._seq + 1  # frames of the old model have lower numbers
            shown, self.shown = self.shown, None  # a pause before the re-run lands must not show it again
        with self._show_lock:
            self._to_show = None
        if shown is None:
            return None

        def rerun() -> None:
            try:
                self._process(shown.frame, record=False, fresh=True)
            except Exception as exc:  # noqa: BLE001  (one line; the stream keeps its state)
                text = str(exc) if isinstance(exc, SlotviewerError) else f"{type(exc).__name__}: {exc}"
                self._deliver(lambda: self.events.message.emit(text.splitlines()[0]))

        thread = threading.Thread(target=rerun, name="live re-run", daemon=True)
        thread.start()
        return thread

    # --- learn this scene -----------------------------------------------------------------------------------
    def learn(self, steps: int = 120, out_dir: str | Path | None = None) -> threading.Thread:
        """Adapt a copy of the model to the buffered frames (`slotviewer adapt`'s recipe) in the background,
        with progress (`events.learning`) and `cancel_learning()`; when done the live view switches to the
        adapted weights (`adapted_model` is their stem, for "Save model as…"). Needs torch."""
        if self.learning:  # a second run would leave the first one beyond cancel and quit
            raise SlotviewerError("this scene is being learned already (Live → Cancel learning first)")
        buffered = list(self.buffer)
        if not buffered:
            raise SlotviewerError("no frames to learn from yet")
        frames = np.stack([self.runner.model_image(item.frame.image) for item in buffered])
        self._learn_cancel = threading.Event()
        backend = self.engine.backend
        stem = Path(str(backend.model_path)).with_suffix("") if getattr(backend, "model_path", None) else None
        folder = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix=ADAPTED_PREFIX))
        what = f"{len(buffered)} recent frames of {self.source.name if self.source else 'a live source'} (unlabelled)"

        def progress(state: str, fraction: float) -> None:
            self._deliver(lambda: self.events.learning.emit(state, fraction))

        def written(out: Path) -> set[Path]:
            """The run's files in `out_dir`: the model's, and the hidden temporary ones of a killed write."""
            return set(folder.glob(out.name + ".*")) | set(folder.glob(f".{out.name}.*"))

        def discard(out: Path | None, before: set[Path]) -> None:
            """What a cancelled or failed run wrote: its temporary folder, or the files it added to `out_dir`
            (files there from before, such as an earlier run's model, stay)."""
            if out_dir is None:
                shutil.rmtree(folder, ignore_errors=True)
            elif out is not None:
                for path in written(out) - before:
                    path.unlink(missing_ok=True)

        def work() -> None:
            from slotviewer.components.adaptation import Cancelled, adapt_and_load

            out, before = None, set()
            try:
                from slotviewer.model.weights import load_model

                loaded = load_model(stem if stem is not None else backend.model_name)
                images = frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
                out = folder / f"{loaded.name}.live"
                before = written(out)
                device = "cpu" if "cpu" in str(backend.device).lower() else "auto"
                engine, _ = adapt_and_load(loaded, images, steps, out, backend.name, device, what,
                                           "the live view's Learn this scene", self._learn_cancel.is_set,
                                           on_step=lambda done, _error: progress("running", done / steps))
                if self._learn_cancel.is_set():  # came while the copy loaded: the stream keeps its model
                    raise Cancelled(steps)
                with self._lock:
                    self.engine = self.runner.engine = engine
                self.adapted_model = out
                progress("done", 1.0)
            except Cancelled as stop:
                discard(out, before)
                progress("cancelled", stop.done / steps)
            except Exception as exc:  # noqa: BLE001  (one line; the live view keeps its model)
                discard(out, before)
                text = str(exc) if isinstance(exc, SlotviewerError) else f"{type(exc).__name__}: {exc}"
                self._deliver(lambda: self.events.message.emit(f"learning failed: {text.splitlines()[0]}"))
                progress("failed", 0.0)

        thread = threading.Thread(target=work, name="learn this scene", daemon=True)
        thread.start()
        self._learn_thread = thread
        return thread

    def cancel_learning(self) -> None:
        self._learn_cancel.set()

    @property
    def learning(self) -> bool:
        """A Learn this scene run is going (until its thread ends, after its last event)."""
        return self._learn_thread is not None and self._learn_thread.is_alive()

    def join_learning(self, timeout: float) -> bool:
        """Wait for a learning run to end (the app's quit, after `cancel_learning`: a daemon thread would die
        with the app mid-write; a cancelled run removes what it wrote). True when none runs."""
        if self._learn_thread is not None:
            self._learn_thread.join(timeout)
        return not self.learning

    def save_model_as(self, stem: str | Path) -> list[Path]:
        """Copy the adapted model's files (weights, JSON, ONNX graphs) to `stem`.*."""
        source = self.adapted_model
        if source is None:
            raise SlotviewerError("nothing to save: learn this scene first")
        return copy_model(source, stem)

    # --- stopping -------------------------------------------------------------------------------------------------
    def stop(self, final: bool = True) -> None:
        """Stop capture and inference, close the recording (kept). Safe to call twice; call it on quit."""
        self._stop.set()
        self._paused.clear()
        if self.capture is not None:
            self.capture.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._close_recording(None)
        self.capture, self._thread = None, None
        if self.state not in ("idle", "stopped", "failed") and final:
            self._set_state("stopped")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Process callbacks until `predicate()` holds (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process_callbacks()
            if predicate():
                return True
            time.sleep(0.005)
        self.process_callbacks()
        return predicate()

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

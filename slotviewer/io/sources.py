"""Frame sources: webcams, video files, animated GIFs, image folders, and a fake camera for tests.

Every source speaks one small interface (`FrameSource`): `open`, `read` the next frame (`None` at the
end), `fps`, `frame_count` and `seek` where the source has them, `close`. Frames are RGB uint8.
`CaptureThread` runs any source on its own thread and keeps only the newest frame, so a slow model
never builds a queue behind it. No Qt here; OpenCV (`opencv-python-headless`) is imported lazily.

Failures are `SourceError`s (one line naming the source): `SourceStalled` when a live source stops
delivering, `SourceDisconnected` when it is gone, `SourceTruncated` when a file ends early.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slotviewer.errors import InputError
from slotviewer.io.images import list_images, read_image, unreadable

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".ogv"})


class SourceError(InputError):
    """A frame source cannot be opened or failed while reading."""


class SourceStalled(SourceError):
    """A live source delivered no frame for too long (it may come back)."""


class SourceDisconnected(SourceError):
    """A live source is gone (unplugged camera); reopening may bring it back."""


class SourceTruncated(SourceError):
    """A file ended before its announced length: the frames before `stopped_at` were readable."""

    def __init__(self, message: str, stopped_at: int) -> None:
        super().__init__(message)
        self.stopped_at = stopped_at


def _cv2():  # noqa: ANN202  (lazy: the still-image paths never need OpenCV)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")  # no probing chatter or open errors on stderr,
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # nor FFmpeg's per-packet complaints: we say it once
    try:
        import cv2
    except ImportError:
        frozen = getattr(sys, "frozen", False)
        hint = "this app was built without it (slotviewer bundle --with-video)" if frozen else (
            "pip install opencv-python-headless")
        raise SourceError(f"video and camera input need OpenCV: {hint}") from None
    return cv2


@dataclass(frozen=True)
class Frame:
    """One frame: `image [H, W, 3]` uint8 RGB, its `index` in the source, and `time` in seconds
    (media time for files, seconds since opening for live sources)."""

    image: np.ndarray
    index: int
    time: float


class FrameSource(ABC):
    """What a viewer or the headless runner needs from anything that yields frames."""

    name: str = "source"
    live: bool = False  # a camera: frames come at their own pace and old ones are worthless
    skipped: tuple[str, ...] = ()  # what it passed over, one "name (reason)" each (a folder's unreadable files)

    @abstractmethod
    def open(self) -> None:
        """Acquire the device/file; raises `SourceError` with a one-line reason."""

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame (for live sources: the newest), or `None` at the end of a file."""

    @property
    def fps(self) -> float | None:
        return None

    @property
    def frame_count(self) -> int | None:
        return None

    @property
    def seekable(self) -> bool:
        return False

    def seek(self, index: int) -> None:
        raise SourceError(f"{self.name}: cannot seek in a live source")

    def close(self) -> None:  # noqa: B027  (optional for sources that hold nothing)
        """Release the device/file; safe to call twice."""

    def interrupt(self) -> None:  # noqa: B027  (only sources that can block forever need it)
        """Wake a `read` blocked in another thread so a capture thread can stop."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.shape[2] == 4:
        return np.ascontiguousarray(frame[:, :, 2::-1])
    return np.ascontiguousarray(frame[:, :, ::-1])


class _RecordedSource(FrameSource):
    """A file of frames: its rate and length are known once open (`_fps`, `_count`), and it can seek."""

    _fps: float | None = None
    _count: int | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        return self._count

    @property
    def seekable(self) -> bool:
        return True


class VideoFileSource(_RecordedSource):
    """A video file OpenCV can decode (mp4, avi, mkv, webm, …), read frame by frame."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self._cap = None
        self._next = 0
        self._fps: float | None = None
        self._count: int | None = None

    def open(self) -> None:
        if not self.path.exists():
            raise SourceError(f"{self.path}: file not found")
        if self.path.is_dir():
            raise SourceError(f"{self.path}: is a folder, not a video (use it as an image sequence)")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path}: empty file")
        cv2 = _cv2()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: not a video OpenCV can open (unknown container or codec)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else None
        self._count = count if count > 0 else None
        self._cap, self._next = cap, 0
        first = self._grab()
        if first is None:
            self.close()
            raise SourceError(f"{self.path}: OpenCV opened the file but cannot decode a frame "
                              "(unsupported codec or corrupt data)")
        self._pending: Frame | None = first

    def _grab(self) -> Frame | None:
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        index = self._next
        self._next += 1
        return Frame(_bgr_to_rgb(frame), index, index / (self._fps or 25.0))

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.path}: not open")
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        frame = self._grab()
        if frame is None and self._count is not None and self._next < self._count - 1:
            # the container promised more: a truncated or corrupt file, not a normal end
            raise SourceTruncated(f"{self.path}: stopped at frame {self._next} of {self._count} "
                                  "(truncated or corrupt data after it)", self._next)
        return frame

    def seek(self, index: int) -> None:
        if self._cap is None:
            raise SourceError(f"{self.path}: not open")
        cv2 = _cv2()
        index = max(0, int(index))
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._next, self._pending = index, None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class GifSource(_RecordedSource):
    """A multi-frame GIF (or APNG/WebP animation) through Pillow: frame durations give the fps."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self._image = None
        self._next = 0
        self._elapsed = 0.0

    def open(self) -> None:
        from PIL import Image, UnidentifiedImageError

        if not self.path.exists():
            raise SourceError(f"{self.path}: file not found")
        try:
            self._image = Image.open(self.path)
            self._count = int(getattr(self._image, "n_frames", 1))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise SourceError(f"{self.path}: not an animation Pillow can read ({exc})") from None
        durations = []
        for i in range(min(self._count, 50)):
            self._image.seek(i)
            durations.append(self._image.info.get("duration", 100) or 100)
        self._fps = 1000.0 / float(np.median(durations))
        self._image.seek(0)
        self._next, self._elapsed = 0, 0.0

    def read(self) -> Frame | None:
        if self._image is None:
            raise SourceError(f"{self.path}: not open")
        if self._next >= self._count:
            return None
        try:
            self._image.seek(self._next)
            rgb = np.asarray(self._image.convert("RGB")).copy()
        except (OSError, EOFError, ValueError) as exc:
            raise SourceTruncated(f"{self.path}: stopped at frame {self._next} of {self._count} ({exc})",
                                  self._next) from None
        frame = Frame(rgb, self._next, self._elapsed)
        self._elapsed += (self._image.info.get("duration", 100) or 100) / 1000.0
        self._next += 1
        return frame

    def seek(self, index: int) -> None:
        self._next = min(max(0, int(index)), self._count)
        self._elapsed = self._next / self._fps

    def close(self) -> None:
        if self._image is not None:
            self._image.close()
            self._image = None


class FolderSource(FrameSource):
    """The images of a folder, in name order, played as a sequence at `fps`."""

    def __init__(self, folder: str | Path, fps: float = 10.0) -> None:
        self.folder = Path(folder)
        self.name = str(self.folder)
        self._fps = float(fps)
        self._paths: list[Path] = []
        self._next = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder")
        self._paths = list_images([self.folder])
        if not self._paths:
            raise SourceError(f"{self.folder}: no images in this folder")
        self._next = 0

    def read(self) -> Frame | None:
        """The next readable image; an unreadable one is passed over (named in `skipped`), as a video's
        dropped frame would be, so one broken file does not end the sequence."""
        while self._next < len(self._paths):
            index = self._next
            self._next += 1
            path = self._paths[index]
            try:
                return self._frame(read_image(path), index)
            except InputError as exc:
                note = unreadable(path, exc)
                if note not in self.skipped:
                    self.skipped = (*self.skipped, note)
        return None

    def _frame(self, image: np.ndarray, index: int) -> Frame:
        from slotviewer.engine.preprocess import to_float_rgb

        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            image = (to_float_rgb(image) * 255 + 0.5).astype(np.uint8)
        return Frame(image, index, index / self._fps)

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        return len(self._paths)

    @property
    def seekable(self) -> bool:
        return True

    def seek(self, index: int) -> None:
        self._next = min(max(0, int(index)), len(self._paths))


class _GuardedCapture:
    """An opened `cv2.VideoCapture` that is released once and never during a read on another thread.

    A camera that vanishes can block in `read` for seconds (V4L2 waits 10 s for a frame); stopping then
    closes the source from the GUI thread while the capture thread is still inside `read`, and releasing a
    capture under a read is a use-after-free in OpenCV. A close that comes during a read is left to that
    read, which releases the capture as it returns; the closing thread never waits for it."""

    def __init__(self, cap: Any) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._reading = self._closing = False

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self._lock:
            if self._closing:
                return False, None
            self._reading = True
        try:
            return self.cap.read()
        finally:
            with self._lock:
                self._reading, release = False, self._closing
            if release:
                self.cap.release()

    def get(self, prop: int) -> float:
        return self.cap.get(prop)

    def release(self) -> None:
        with self._lock:
            self._closing, reading = True, self._reading
        if not reading:
            self.cap.release()


class CameraSource(FrameSource):
    """An OpenCV camera by index (0 = the first webcam)."""

    live = True

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None) -> None:
        self.index = int(index)
        self.name = f"camera {self.index}"
        self.size = (width, height)
        self._cap = None
        self._count = 0
        self._start = 0.0

    def open(self) -> None:
        if self.index < 0:  # OpenCV's "any camera" index crashes its V4L2 backend (a segfault, no message)
            raise SourceError(f"camera {self.index}: camera numbers start at 0")
        cv2 = _cv2()
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {self.index}: not found or in use by another program")
        width, height = self.size
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap, self._count, self._start = _GuardedCapture(cap), 0, time.monotonic()

    def read(self) -> Frame | None:
        cap = self._cap  # the capture this read uses, even if a close replaces or clears it meanwhile
        if cap is None:
            raise SourceError(f"camera {self.index}: not open")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise SourceDisconnected(f"camera {self.index}: no frame (unplugged or taken by another program)")
        index = self._count
        self._count += 1
        return Frame(_bgr_to_rgb(frame), index, time.monotonic() - self._start)

    @property
    def fps(self) -> float | None:
        if self._cap is None:
            return None
        value = self._cap.get(_cv2().CAP_PROP_FPS)
        return float(value) if value and 0 < value < 1000 else None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def list_cameras(max_index: int = 8) -> list[int]:
    """Indices of the cameras OpenCV can open, probing 0..max_index-1 (quietly: OPENCV_LOG_LEVEL=ERROR)."""
    cv2 = _cv2()
    found = []
    for index in range(max_index):
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                found.append(index)
        finally:
            cap.release()
    return found


class FakeCamera(FrameSource):
    """A camera for tests: frames from `make_frame(i)` (default: moving shapes) at `fps`.

    Faults on cue, from a script (`stall_at={frame: seconds}`, `drop={frames}`, `disconnect_at=frame`)
    or from another thread (`stall()` / `resume()`, `disconnect()`). With `realtime=False` frames come
    as fast as they are read (deterministic tests); with `realtime=True` at `fps`, like hardware.
    Reopening after a disconnect reconnects, as replugging a camera would.
    """

    live = True

    def __init__(self, make_frame: Callable[[int], np.ndarray] | None = None, fps: float = 30.0,
                 frames: int | None = None, realtime: bool = False, stall_at: dict[int, float] | None = None,
                 drop: set[int] | None = None, disconnect_at: int | None = None, name: str = "fake camera") -> None:
        if make_frame is None:
            from slotviewer.data.moving_shapes import MovingShapes

            clip = MovingShapes(seed=0)
            make_frame = lambda i: clip.frame(i)[0]  # noqa: E731
        self.make_frame, self._fps, self.frames, self.realtime = make_frame, float(fps), frames, realtime
        self.stall_at, self.drop = dict(stall_at or {}), set(drop or ())
        self.disconnect_at = disconnect_at
        self.name = name
        self.opened = False
        self.open_count = 0
        self._next = 0
        self._running = threading.Event()
        self._running.set()
        self._gone = False
        self._closing = False
        self._start = 0.0

    def open(self) -> None:
        self._gone = False  # (re)plugged: opening after a disconnect reconnects
        # the frame count goes on, and the next frame is due now (not frames/fps after the first open)
        self.opened, self._start, self._closing = True, time.monotonic() - self._next / self._fps, False
        self.open_count += 1

    def stall(self) -> None:
        """Stop delivering frames until `resume()`."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def disconnect(self) -> None:
        self._gone = True
        self._running.set()

    def interrupt(self) -> None:
        self._closing = True
        self._running.set()

    def read(self) -> Frame | None:
        if not self.opened:
            raise SourceError(f"{self.name}: not open")
        while True:
            self._running.wait()
            if self._closing:
                return None
            if self._gone:
                self.opened = False
                raise SourceDisconnected(f"{self.name}: disconnected")
            index = self._next
            if self.frames is not None and index >= self.frames:
                return None
            if self.disconnect_at is not None and index >= self.disconnect_at:
                self.disconnect_at, self._gone, self.opened = None, True, False
                raise SourceDisconnected(f"{self.name}: disconnected at frame {index}")
            if index in self.stall_at:
                time.sleep(self.stall_at.pop(index))
            self._next += 1
            if self.realtime:
                due = self._start + index / self._fps
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if index in self.drop:
                continue
            return Frame(np.asarray(self.make_frame(index), np.uint8), index, index / self._fps)

    @property
    def fps(self) -> float | None:
        return self._fps

    def close(self) -> None:
        self.opened = False


def is_video_path(path: str | Path) -> bool:
    """A video file by suffix, or a GIF/WebP/PNG with more than one frame (read as a clip, not an image)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return True
    if suffix in (".gif", ".webp", ".png", ".apng") and p.is_file():
        from PIL import Image

        try:
            with Image.open(p) as im:
                return int(getattr(im, "n_frames", 1)) > 1
        except Exception:  # noqa: BLE001  (not readable: the image reader will say why)
            return False
    return False


def open_source(spec: str | Path | int, fps: float = 10.0) -> FrameSource:
    """A source for a camera index (`0`, `"camera:0"`), a video file, an animated GIF or a folder
    (played at `fps`). The source is returned unopened; `open()` (or `with`) says what is wrong."""
    if isinstance(spec, int) or (isinstance(spec, str) and (spec.isdigit() or spec.startswith("camera:"))):
        return CameraSource(int(str(spec).removeprefix("camera:")))
    p = Path(spec)
    if p.is_dir():
        return FolderSource(p, fps)
    if p.suffix.lower() in (".gif", ".webp", ".apng", ".png"):
        return GifSource(p)
    return VideoFileSource(p)


class CaptureThread:
    """Reads a source on its own thread and keeps only the newest frame.

    `latest(after)` returns the newest frame whose sequence number is greater than `after` (waiting up
    to `timeout`), so a consumer slower than the source simply skips frames. For live sources, no frame
    for `stall_timeout` seconds reports `SourceStalled` once (through `on_error`), and the thread keeps
    waiting; a disconnect or a read error ends the thread with `error` set. Files are paced at their fps
    when `realtime`, and read as fast as consumed otherwise (`latest` then hands out every frame).
    """

    def __init__(self, source: FrameSource, realtime: bool = True, stall_timeout: float = 2.0,
                 on_error: Callable[[SourceError], None] | None = None,
                 on_frame: Callable[[Frame], None] | None = None, keep_open: bool = False) -> None:
        self.source, self.realtime, self.stall_timeout = source, realtime, stall_timeout
        self.keep_open = keep_open  # at the end of a file, wait for a seek instead of ending
        self.at_end = False
        self.on_error, self.on_frame = on_error, on_frame
        self.error: SourceError | None = None
        self.ended = False
        self.stalled = False
        self._frame: Frame | None = None
        self._seq = 0
        self._taken = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._last_arrival = 0.0
        self._times: list[float] = []
        self._seek: int | None = None
        self._floor = 0  # frames up to this sequence number were read before the last seek: never handed out
        self._held = False  # a paused file or folder: nothing is read (a camera reads on, see `hold`)
        self._allowed = 0  # frames that may still be read while held (a step)

    def start(self) -> None:
        self._stop.clear()
        self._last_arrival = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"capture {self.source.name}", daemon=True)
        self._thread.start()
        if self.source.live:
            self._watchdog = threading.Thread(target=self._watch, name="capture watchdog", daemon=True)
            self._watchdog.start()

    def _loop(self) -> None:
        start, rebase = time.monotonic(), False
        try:
            while not self._stop.is_set():
                if self._held:
                    with self._cond:  # paused: read only a step's frame or a seek's (the clock restarts after)
                        self._cond.wait_for(lambda: not self._held or self._allowed > 0 or self._seek is not None
                                            or self._stop.is_set())
                        if self._held and self._allowed > 0 and self._seek is None:
                            self._allowed -= 1
                    rebase = True
                if not self.source.live and not self.realtime:
                    with self._cond:  # lockstep: wait until the consumer took the last frame (or a seek)
                        self._cond.wait_for(lambda: self._taken >= self._seq or self._seek is not None
                                            or self._stop.is_set())
                    if self._stop.is_set():
                        break
                with self._cond:  # seeking happens here: the source belongs to this thread
                    target, self._seek = self._seek, None
                if target is not None:
                    self.source.seek(target)
                    start = time.monotonic() - target / (self.source.fps or 25.0)
                frame = self.source.read()
                if frame is None:
                    if not (self.keep_open and self.source.seekable):
                        break
                    with self._cond:  # not when a seek came meanwhile: at_end never outlives a seek
                        self.at_end = self._seek is None
                    while self._seek is None and not self._stop.wait(0.05):
                        pass
                    self.at_end = False
                    continue
                if rebase:  # after a pause the file goes on from this frame, not from where the clock got to
                    start, rebase = time.monotonic() - frame.time, False
                if not self.source.live and self.realtime and self.source.fps:
                    delay = start + frame.time - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                now = time.monotonic()
                with self._cond:
                    if self._seek is not None:  # a seek arrived while this frame was read: it is from before
                        continue
                    self._frame, self._seq = frame, self._seq + 1
                    self._last_arrival = now
                    self.stalled = False
                    self._times = [t for t in self._times if now - t < 2.0] + [now]
                    self._cond.notify_all()
                if self.on_frame is not None:
                    self.on_frame(frame)
        except SourceError as exc:
            self._fail(exc)
        except Exception as exc:  # noqa: BLE001  (a driver's own exception: still one line, never a crash)
            text = str(exc) if isinstance(exc, InputError) else f"{self.source.name}: {type(exc).__name__}: {exc}"
            self._fail(SourceError(text.splitlines()[0]))
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _fail(self, exc: SourceError) -> None:
        if self._stop.is_set():  # a read that returned after stop() (a blocked camera released under it)
            return
        self.error = exc
        if self.on_error is not None:
            self.on_error(exc)

    def _watch(self) -> None:
        while not self._stop.wait(min(0.1, self.stall_timeout / 4)):
            if self.ended:
                return
            with self._cond:
                silent = time.monotonic() - self._last_arrival
                newly = silent > self.stall_timeout and not self.stalled
                if newly:
                    self.stalled = True
            if newly and self.on_error is not None:
                self.on_error(SourceStalled(f"{self.source.name}: no frame for {silent:.1f} s (stalled); "
                                            "waiting for it to come back"))

    def hold(self, held: bool) -> None:
        """Pause (True) or resume reading a file or folder: paused, it reads nothing, so resuming goes on
        from the frame after the one shown (a file played in real time would otherwise run on behind the
        pause). A camera is never held: its frames are the present, and resuming shows the present."""
        if self.source.live:
            return
        with self._cond:
            self._held, self._allowed = held, 0
            self._cond.notify_all()

    def advance(self) -> None:
        """While held: make one more frame available (a step). A frame read but not yet taken (it arrived
        as the pause began) is that frame: nothing more is read, so a step never skips one."""
        with self._cond:
            if self._taken >= self._seq:
                self._allowed += 1
            self._cond.notify_all()

    def seek(self, index: int) -> None:
        """Ask the capture thread to continue from frame `index` (files and folders only)."""
        if not self.source.seekable:
            raise SourceError(f"{self.source.name}: cannot seek in a live source")
        with self._cond:
            self._seek, self._floor = int(index), self._seq
            self.at_end = False  # from now on (the owner may ask at once whether the file is still at its end)
            self._cond.notify_all()  # a lockstep reader waiting for the consumer moves on to the seek

    def latest(self, after: int = 0, timeout: float | None = None) -> tuple[int, Frame] | None:
        """(sequence number, frame) of the newest frame newer than `after`; `None` on timeout or end."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > max(after, self._floor) or self.ended or self._stop.is_set(),
                                timeout)
            if self._seq <= max(after, self._floor):
                return None
            self._taken = self._seq
            self._cond.notify_all()
            return self._seq, self._frame  # type: ignore[return-value]

    @property
    def fps(self) -> float:
        """Frames delivered per second over the last two seconds."""
        with self._cond:
            times = [t for t in self._times if time.monotonic() - t < 2.0]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading and close the source (a thread blocked in a driver call is left to finish)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self.source.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._watchdog is not None:
            self._watchdog.join(timeout)
        self.source.close()

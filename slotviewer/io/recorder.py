"""Recording frames to `.mp4` / `.avi` / `.mkv`: written to a hidden temporary file, renamed on close.

A reader never sees a half-written video under the final name; `close()` finalises (the container's
index is written, then the rename), `abort()` throws the file away. Use it as a context manager or make
sure `close()` runs on every exit path: the live view closes it on stop, on source failure and on quit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from slotviewer.errors import SlotviewerError
from slotviewer.io.atomic import temporary_file

CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecordingError(SlotviewerError):
    """A recording could not be started, written or finalised (codec, permissions, full disk)."""


class VideoRecorder:
    """Write RGB uint8 frames of one size (others are resized to it) at `fps`."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        """`size` is (height, width)."""
        from slotviewer.io.sources import _cv2

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CODECS:
            what = f"cannot record to '{suffix}'" if suffix else "has no extension to choose the format by"
            raise RecordingError(f"{self.path}: {what} (use {', '.join(sorted(CODECS))})")
        self._cv2 = _cv2()
        self.height, self.width = int(size[0]), int(size[1])
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.frames = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp_path = temporary_file(self.path.with_name(self.path.stem), suffix)
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot write here ({exc.strerror or exc})") from None
        fourcc = self._cv2.VideoWriter_fourcc(*CODECS[suffix])
        # MPEG-4 wants even sides: OpenCV silently crops an odd one (a 63×63 input lost a row and a column) and
        # refuses a side of 1, so frames get their last row/column repeated instead
        even = CODECS[suffix] == "mp4v"
        self._pad = (self.height % 2, self.width % 2) if even else (0, 0)
        size = (self.width + self._pad[1], self.height + self._pad[0])
        self._writer = self._cv2.VideoWriter(str(self.tmp_path), fourcc, self.fps, size)
        if not self._writer.isOpened():
            self._writer.release()
            self.tmp_path.unlink(missing_ok=True)
            raise RecordingError(f"{self.path}: OpenCV cannot write {CODECS[suffix]} video here")
        self.closed = False

    def write(self, image: np.ndarray) -> None:
        """Append one RGB frame. A full disk shows up here or at `close()` as `RecordingError`."""
        if self.closed:
            raise RecordingError(f"{self.path}: recording already closed")
        if image.shape[:2] != (self.height, self.width):
            image = self._cv2.resize(image, (self.width, self.height), interpolation=self._cv2.INTER_AREA)
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        self._writer.write(np.ascontiguousarray(image[:, :, ::-1]))
        self.frames += 1
        if self.frames % 64 == 0:
            self._check_disk()

    def _check_disk(self) -> None:
        """OpenCV's writer drops write errors silently: notice a full disk or a vanished file ourselves."""
        try:
            stat = os.statvfs(self.tmp_path.parent)
            exists = self.tmp_path.exists()
        except OSError as exc:
            self.abort()
            raise RecordingError(f"{self.path}: recording failed ({exc.strerror or exc})") from None
        if not exists:
            self.abort()
            raise RecordingError(f"{self.path}: recording stopped: the file was removed while recording")
        if stat.f_bavail * stat.f_frsize < 1 << 20:
            kept = self._keep_what_was_written()
            raise RecordingError(f"{self.path}: recording stopped: the disk is full"
                                 + (f"; the {self.frames} frames so far were kept" if kept else ""))

    def _keep_what_was_written(self) -> bool:
        """Finalise a recording cut short (a full disk): whatever could be written stays playable."""
        try:
            return self.close() is not None
        except RecordingError:
            self.tmp_path.unlink(missing_ok=True)
            return False

    def close(self) -> Path | None:
        """Finalise and rename into place; returns the path (or `None` when no frame was written)."""
        if self.closed:
            return self.path if self.path.exists() else None
        self.closed = True
        self._writer.release()
        if self.frames == 0:
            self.tmp_path.unlink(missing_ok=True)
            return None
        try:
            if not self.tmp_path.exists() or self.tmp_path.stat().st_size == 0:
                raise RecordingError(f"{self.path}: the recording is empty (disk full or write error)")
            os.replace(self.tmp_path, self.path)
        except OSError as exc:
            self.tmp_path.unlink(missing_ok=True)
            raise RecordingError(f"{self.path}: cannot finish the recording ({exc.strerror or exc})") from None
        return self.path

    def abort(self) -> None:
        """Stop and delete the partial file."""
        if not self.closed:
            self.closed = True
            self._writer.release()
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # keep what was recorded, also when the source failed mid-way

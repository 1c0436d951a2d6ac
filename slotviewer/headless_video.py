"""`slotviewer run VIDEO --out DIR`: a video (or animated GIF) frame by frame into `DIR/<name>/`.

Writes `labels/000000.png …` (label map per frame at the input's size: the argmax of the colour posterior,
or of the alpha with `label_by="alpha"`), `masks.npz` (uint8 alpha
`[F, K, R, R]` at the model's resolution), `overlay.mp4` (the input tinted by slot) and `trace.json`
(source, fps, frames, model, backend, carry-over settings, timings). Everything goes to a hidden
temporary folder that is renamed into place at the end. A file that breaks off mid-way keeps the frames
read before the break: the folder is completed with them, `trace.json` says where and why it stopped,
one line goes to stderr, and the exit status is 1. A file that cannot be opened leaves nothing behind.
Memory stays flat however long the video: masks are streamed to disk, never held.
"""

from __future__ import annotations

import json
import queue
import shutil
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from slotviewer.engine import Engine, Trace
from slotviewer.engine.engine import new_seed
from slotviewer.errors import INTERRUPTED, Interrupted, SlotviewerError
from slotviewer.headless import OutputNames, RunReport
from slotviewer.io.atomic import temporary_dir
from slotviewer.io.recorder import VideoRecorder
from slotviewer.io.render import slot_colours
from slotviewer.io.sources import FrameSource, SourceError, SourceTruncated, _cv2, open_source
from slotviewer.video import CarryOver, FrameRunner, labels_at, masks_u8, overlay


@dataclass
class VideoOptions:
    model: str = "shapes"
    backend: str = "auto"
    device: str = "auto"
    slots: int | None = None
    iters: int | None = None  # T for the first frame (and every frame with fresh slots)
    seed: int = 0
    draws: int | None = None  # initial slot sets for the first frame (every frame with fresh slots); None: the model's
    carry: CarryOver = field(default_factory=CarryOver)
    overwrite: bool = False
    max_frames: int | None = None
    labels: bool = True
    label_by: str = "posterior"  # what the labels are the argmax of (`engine.trace.LABELS`)
    overlay: bool = True
    progress: bool = True


class _MaskStream:
    """Per-frame uint8 masks appended to a raw file, packed into `masks.npz` at the end (flat memory)."""

    def __init__(self, folder: Path) -> None:
        self.raw_path = folder / ".masks.raw"
        self.npz_path = folder / "masks.npz"
        self._raw = self.raw_path.open("wb")
        self.shape: tuple[int, ...] | None = None
        self.frames = 0

    def append(self, masks: np.ndarray) -> None:
        if self.shape is None:
            self.shape = masks.shape
        self._raw.write(np.ascontiguousarray(masks, np.uint8).tobytes())
        self.frames += 1

    def finish(self) -> None:
        self._raw.close()
        shape = (self.frames, *(self.shape or (0, 0, 0)))
        with zipfile.ZipFile(self.npz_path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
                archive.open("alpha.npy", "w", force_zip64=True) as entry, self.raw_path.open("rb") as raw:
            np.lib.format.write_array_header_1_0(entry, {"descr": "|u1", "fortran_order": False, "shape": shape})
            shutil.copyfileobj(raw, entry, 1 << 22)
        self.raw_path.unlink()


class VideoWriter:
    """The per-frame outputs of one video, written into a temporary folder until `finish`.

    Label PNGs and the overlay video are encoded on a second thread (OpenCV releases the GIL), so
    the model never waits for the disk; the queue between them is short, so memory stays flat.
    """

    def __init__(self, out_dir: Path, fps: float, options: VideoOptions) -> None:
        self.out_dir, self.fps, self.options = out_dir, fps, options
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temporary_dir(out_dir)
        (self.tmp / "labels").mkdir()
        self.masks = _MaskStream(self.tmp)
        self.recorder: VideoRecorder | None = None
        self.colours: np.ndarray | None = None
        self._cv2 = _cv2()
        self.frames = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._drain, name="video outputs", daemon=True)
        self._thread.start()

    def write(self, trace: Trace) -> None:
        if self._error is not None:
            raise self._error
        masks = masks_u8(trace)
        self.masks.append(masks)
        if self.options.labels or self.options.overlay:
            self._queue.put((self.frames, trace.image, trace.scores(by=self.options.label_by), trace.sticky))
        self.frames += 1

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write_pictures(*item)
                except Exception as exc:  # noqa: BLE001  (reported on the next write / finish)
                    self._error = exc if isinstance(exc, SlotviewerError) else SlotviewerError(
                        f"{self.out_dir}: cannot write outputs ({type(exc).__name__}: {exc})")

    def _write_pictures(self, index: int, image: np.ndarray, scores: np.ndarray, sticky: np.ndarray | None) -> None:
        h, w = image.shape[:2]
        labels = labels_at(scores, h, w, sticky, self.options.label_by)
        if self.options.labels:
            path = str(self.tmp / "labels" / f"{index:06d}.png")
            if not self._cv2.imwrite(path, labels, [self._cv2.IMWRITE_PNG_COMPRESSION, 1]):
                raise SlotviewerError(f"{path}: cannot write (disk full?)")
        if self.options.overlay:
            if self.recorder is None:
                self.colours = slot_colours(len(scores))
                self.recorder = VideoRecorder(self.tmp / "overlay.mp4", self.fps, (h, w))
            self.recorder.write(overlay(image, labels, self.colours))

    def _stop_thread(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def finish(self, record: dict) -> Path:
        """Close every file, write trace.json, and rename the folder into place."""
        self._stop_thread()
        if self._error is not None:
            raise self._error
        if self.recorder is not None:
            self.recorder.close()
        self.masks.finish()
        (self.tmp / "trace.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")
        if self.out_dir.exists():  # only reached with --overwrite
            old = self.out_dir.with_name(f".{self.out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            self.out_dir.rename(old)
            self.tmp.rename(self.out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.tmp.rename(self.out_dir)
        return self.out_dir

    def discard(self) -> None:
        self._stop_thread()
        if self.recorder is not None:
            self.recorder.abort()
        try:
            self.masks._raw.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def video_record(source: FrameSource, fps: float, frames: int, first: Trace, settings: dict, labels: str,
                 seed: int | None) -> dict:
    """The part of a video's `trace.json` that `slotviewer run VIDEO` and the live view's export share: the
    source, the first frame's run (model, backend, T) without its per-frame start, carry-over as run, and the
    shape of `masks.npz`."""
    provenance = {k: v for k, v in first.provenance.items() if k not in ("seed", "init", "T", "draw")}
    r = first.resolution
    return {"source": source.name, "fps": fps, "frames": frames, "frame_count_announced": source.frame_count,
            "input_size": list(first.image.shape[:2]), "model_resolution": r, **provenance,
            "T_first_frame": first.iterations, **settings, "labels": labels, "seed": seed,
            "masks_npz": {"alpha": [frames, first.num_slots, r, r]}}


def run_source(engine: Engine, source: FrameSource, out_dir: Path, options: VideoOptions,
               extra: dict | None = None) -> tuple[Path | None, SlotviewerError | None]:
    """Run an opened source into `out_dir`. Returns (the folder or `None`, the error that stopped it).

    Frames read before a failure are kept: the folder is completed with them. Nothing is written
    when not a single frame could be processed.
    """
    runner = FrameRunner(engine, options.carry, options.slots, options.iters, options.seed, options.draws,
                         options.label_by)
    if runner.mask_prior_missing:
        tqdm.write(f"slotviewer: warning: {runner.mask_prior_missing}", file=sys.stderr)
    fps = source.fps or 25.0
    total = source.frame_count
    if options.max_frames is not None:
        total = min(total, options.max_frames) if total else options.max_frames
    writer = VideoWriter(out_dir, fps, options)
    spent = {"read": 0.0, "model": 0.0, "write": 0.0}
    error: SlotviewerError | None = None
    stopped_at: int | None = None
    first_trace: Trace | None = None
    started = time.perf_counter()
    bar = tqdm(total=total, desc=f"slotviewer run {Path(source.name).name}", unit="frame",
               disable=not options.progress, file=sys.stderr)
    try:
        while options.max_frames is None or writer.frames < options.max_frames:
            t0 = time.perf_counter()
            try:
                frame = source.read()
            except SourceError as exc:
                error = exc
                stopped_at = exc.stopped_at if isinstance(exc, SourceTruncated) else writer.frames
                break
            t1 = time.perf_counter()
            if frame is None:
                break
            trace = runner.run(frame.image)
            t2 = time.perf_counter()
            writer.write(trace)
            t3 = time.perf_counter()
            first_trace = first_trace or trace
            spent["read"] += t1 - t0
            spent["model"] += t2 - t1
            spent["write"] += t3 - t2
            bar.update(1)
    except KeyboardInterrupt:
        error, stopped_at = Interrupted(f"{source.name}: interrupted"), writer.frames
    except BaseException:
        writer.discard()
        raise
    finally:
        bar.close()
    if isinstance(error, Interrupted) and out_dir.exists():  # --overwrite: part of a run never replaces a result
        writer.discard()
        return None, Interrupted(f"{source.name}: interrupted; {out_dir} is as it was before")
    if writer.frames == 0 or first_trace is None:
        writer.discard()
        return None, error or SlotviewerError(f"{source.name}: no frames in this video")
    elapsed = time.perf_counter() - started
    n = writer.frames
    if error is None and n == options.max_frames and (source.frame_count or n + 1) > n:  # cut by the user
        stopped_at, cut = n, f"--max-frames {n}"
    else:
        cut = None
    record = {
        **video_record(source, fps, n, first_trace, runner.settings(), options.label_by, options.seed),
        "complete": error is None,
        **({"stopped": {"at_frame": stopped_at, "reason": str(error) if error is not None else cut}}
           if error is not None or cut else {}),
        "max_frames": options.max_frames,
        "timings": {
            "total_s": round(elapsed, 3),
            "fps": round(n / elapsed, 2) if elapsed > 0 else None,
            "ms_per_frame": {k: round(v * 1e3 / n, 3) for k, v in spent.items()},
        },
        **(extra or {}),
    }
    try:
        return writer.finish(record), error
    except BaseException:
        writer.discard()
        raise


def run_videos(inputs: list[str | Path], out: Path, options: VideoOptions, names: OutputNames | None = None,
               report: RunReport | None = None) -> int:
    """Every video into `out/<stem>/` (`names`: `stem_2` for a name already given in this command); where each
    went on stdout (`report`: said by the caller, with the images'), one stderr line per failure; exit status 1
    if any failed."""
    engine = Engine.load(options.model, options.backend, options.device)
    own_report, failures, interrupted = report is None, 0, False
    report = report or RunReport(out)
    written = report.written
    names = names or OutputNames()
    for item in inputs:
        path = Path(item)
        target = out / names(path)
        done: Path | None = None
        try:
            if target.exists() and not options.overwrite:
                raise SlotviewerError(f"{target}: already exists (use --overwrite to replace it)")
            source = open_source(path)
            source.open()
            try:
                done, error = run_source(engine, source, target, options, {"input": str(path)})
            finally:
                source.close()
            if error is not None:
                raise error
            written.append((path, done))
        except (SlotviewerError, OSError) as exc:  # OSError: a full disk, a folder that went read-only
            failures += 1
            message = (str(exc) if isinstance(exc, SlotviewerError) else exc.strerror or str(exc)).splitlines()[0]
            message = message if str(path) in message or str(target) in message else f"{path}: {message}"
            kept = f"; the frames before it are in {done}" if done is not None else ""
            interrupted = isinstance(exc, Interrupted)  # the user stopped the command, not just this video
            prefix = "slotviewer run" if interrupted else "slotviewer: error"
            tqdm.write(f"{prefix}: {message}{kept}", file=sys.stderr)
            if interrupted:
                break
    report.failures += failures
    if own_report:
        report.say()
    return INTERRUPTED if interrupted else 1 if failures else 0


def split_videos(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(videos and animated GIFs, everything else) among the command line's inputs and in the folders among
    them: an animated GIF or a clip in a folder plays as it does given alone, not as its first frame or not
    at all. A folder with neither images nor videos stays an input, for the error that says so."""
    from slotviewer.io.images import IMAGE_SUFFIXES, folder_files
    from slotviewer.io.sources import VIDEO_SUFFIXES, is_video_path

    files: list[str] = []
    for item in inputs:
        if Path(item).is_dir():
            files += [str(f) for f in folder_files(Path(item), IMAGE_SUFFIXES | VIDEO_SUFFIXES)] or [item]
        else:
            files.append(item)
    videos = [item for item in files if is_video_path(item)]
    return videos, [item for item in files if item not in videos]


def run_video_args(videos: list[str], args, names: OutputNames | None = None,  # noqa: ANN001 (Namespace)
                   report: RunReport | None = None) -> int:
    """`slotviewer run` for the videos among its inputs, with the same model/backend options as images.
    Options that only still images have are refused, naming the video, rather than silently dropped."""
    still_only = [flag for flag, given in (
        ("--remove", args.remove), ("--reconverge", args.reconverge), ("--swap-with", args.swap_with),
        ("--swap", args.swap), ("--gif", args.gif), ("--adapt", args.adapt),
        ("--method", args.method != "slot-attention"), ("--attention-size", args.attention_size != "model")) if given]
    if still_only:
        them = "them" if len(still_only) > 1 else "it"
        raise SlotviewerError(f"{videos[0]}: {', '.join(still_only)} only work{'s' * (them == 'it')} on still images; "
                              f"run the videos without {them} (images and videos in separate commands)")
    options = VideoOptions(
        model=args.model, backend=args.backend, device=args.device, slots=args.slots, iters=args.iters,
        seed=new_seed() if args.seed is None else args.seed, draws=args.draws,
        carry=CarryOver(args.carry_over, args.iters_per_frame, args.match_slots, args.mask_prior, args.sticky_labels),
        overwrite=args.overwrite, max_frames=args.max_frames, label_by=args.labels_by,
        progress=sys.stderr.isatty() if getattr(args, "progress", None) is None else args.progress,
    )
    return run_videos(videos, Path(args.out), options, names, report)

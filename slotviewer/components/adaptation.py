"""*Adapt to this image / folder*: `slotviewer adapt` for the app, without Qt.

A copy of the viewer's model is fine-tuned on a thread of its own with the recipe `slotviewer adapt` ships
(the decoder only, a low learning rate, augmented views; README, "Adapting a model to your own images"),
on the image on screen or on every image of its folder. Progress and every stage reach the owner through
`deliver` (the GUI posts them onto its event loop), and `cancel()` stops it between two steps. When it is
done, the image on screen runs again on the original and on the adapted weights with the same settings
(K, T, seed, draws), so the owner can show *before* and *after* side by side with their reconstruction
errors, and let the user decide: use the adapted model, save it, or drop it. Nothing the viewer shows
changes until then: the original model is loaded afresh here, never shared with the viewer's worker.

The adapted model is written to a temporary folder (`outcome.model_stem`, a stem as any model has), with ONNX
graphs when the viewer runs ONNX, so the viewer can load it as it loads any model; `save_as` copies it.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal, SignalGroup

from slotviewer.components.inbox import Inbox
from slotviewer.engine.engine import Engine
from slotviewer.engine.preprocess import model_input
from slotviewer.engine.trace import Trace
from slotviewer.errors import SlotviewerError, install_hint
from slotviewer.io.images import (
    MAX_FOLDER_IMAGES,
    folder_images,
    images_folder,
    list_images,
    read_image,
    some_of,
    unreadable,
)
from slotviewer.metrics import error_trend, psnr
from slotviewer.model.files import copy_model

if TYPE_CHECKING:
    from slotviewer.components.viewer import Viewer
    from slotviewer.model.weights import LoadedModel

IMAGE_STEPS = 30  # one image (Slot-TTA, `run --adapt 30`: the per-image numbers in the README)
FOLDER_STEPS = 120  # a folder (`slotviewer adapt`'s default)
ADAPTED_PREFIX = "slotviewer-adapted-"  # the temporary folders adapted copies live in until saved


@dataclass(frozen=True)
class AdaptOutcome:
    """What an adaptation produced: the adapted model's stem, and the image on screen before and after."""

    model_stem: Path  # the adapted model's files are this + .safetensors, .json (and the ONNX graphs)
    before: Trace
    after: Trace
    images: int  # how many images it adapted on
    steps: int  # steps done
    seconds: float
    errors: tuple[float, ...] = field(repr=False)  # the training batches' reconstruction MSE, step by step
    skipped: tuple[str, ...] = ()  # "name (reason)" of a folder's unreadable images

    @staticmethod
    def error_of(trace: Trace) -> float:
        """The reconstruction MSE of a run, on the model's input (what adapting lowers)."""
        return float(np.mean((trace.composite(np.ones(trace.num_slots, bool)) - trace.target) ** 2))

    @property
    def before_mse(self) -> float:
        return self.error_of(self.before)

    @property
    def after_mse(self) -> float:
        return self.error_of(self.after)


class AdaptationEvents(SignalGroup):
    stage = Signal(str)  # what it does now, one line ("reading images 3 / 40", "adapting", "exporting ONNX"…)
    progress = Signal(int, int, float)  # steps done, steps, recent reconstruction error of the training batches
    finished = Signal(object)  # AdaptOutcome
    cancelled = Signal()
    failed = Signal(str)  # one line


class Cancelled(Exception):
    """Raised inside a worker thread when a cancel was asked for; never leaves it. `done`: steps done by then."""

    def __init__(self, done: int = 0) -> None:
        super().__init__(done)
        self.done = done


class Adaptation:
    """One adaptation of `model` (as the viewer names it, with its backend and device) for the image `image`
    on screen, adapting on that image (`folder` None) or on `folder`'s images. `run` holds the settings the
    image ran with (`Engine.run`'s keyword arguments) so before and after compare like with like."""

    def __init__(self, model: str | Path, backend: str, device: str, image: np.ndarray, run_kwargs: dict,
                 folder: str | Path | None = None, steps: int | None = None,
                 deliver: Callable[[Callable[[], None]], None] | None = None,
                 workdir: str | Path | None = None, source: str = "") -> None:
        self.model, self.backend, self.device = str(model), backend, device
        self.source = source  # the image's file or description, for the adapted model's card
        self.image, self.run_kwargs = image, dict(run_kwargs)
        self.folder = None if folder is None else Path(folder)
        self.steps = steps if steps is not None else (FOLDER_STEPS if self.folder else IMAGE_STEPS)
        if self.steps < 1:
            raise SlotviewerError(f"adapt: steps must be at least 1 (got {self.steps})")
        self.events = AdaptationEvents()
        self._inbox = Inbox()
        self._deliver = deliver or self._inbox.post
        self._workdir = Path(workdir) if workdir else None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._tempdir: Path | None = None  # the temporary folder this adaptation made (removed on `discard`)
        self._stem: Path | None = None  # the adapted model's files, once they are being written
        self.outcome: AdaptOutcome | None = None

    @functools.cached_property
    def what(self) -> str:
        """What it adapts to, for titles and messages: the image's name, or "the N images of FOLDER" (listed
        once: a title should not list a big folder each time it is drawn)."""
        if self.folder is None:
            return Path(self.source).name if self.source else "this image"
        count, name = len(list_images([images_folder(self.folder)])), self.folder.name or str(self.folder)
        if count > MAX_FOLDER_IMAGES:
            return f"{MAX_FOLDER_IMAGES} of the {count} images of {name}"
        return f"the {plural(count, 'image')} of {name}".replace("the 1 image", "the one image")

    def again(self, steps: int) -> Adaptation:
        """A new adaptation of the same model for the same image, settings and data (Start again in the app:
        what the first one was about, whatever the window shows by now), with `steps`."""
        return Adaptation(self.model, self.backend, self.device, self.image, self.run_kwargs, self.folder, steps,
                          self._deliver, self._workdir, self.source)

    # --- the owner's side ---------------------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Run it on a thread of its own (once); what happens comes as `events` through `deliver`."""
        if self._thread is not None:
            raise SlotviewerError("this adaptation has already started")
        self._thread = threading.Thread(target=self._work, name="adapt to this image", daemon=True)
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop at the next step, image read or stage (an ONNX export is killed): what it wrote is removed and
        `cancelled` is emitted, however late the cancel lands. The model on screen is untouched."""
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        """Cancel was asked for and the thread has not ended yet (its `cancelled` event is still to come)."""
        return self._cancel.is_set() and self.running

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end (the app's quit: a cancelled run then has removed its files)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        """The thread runs (it ends right after delivering its last event)."""
        return self._thread is not None and self._thread.is_alive()

    def save_as(self, stem: str | Path) -> list[Path]:
        """Copy the adapted model's files (weights, JSON, ONNX graphs) to `stem`.*."""
        if self.outcome is None:
            raise SlotviewerError("nothing to save: the adaptation has not finished")
        return copy_model(self.outcome.model_stem, stem)

    def discard(self) -> None:
        """Remove the adapted model's temporary folder (the user closed the comparison without using it);
        a `workdir` given by the owner is the owner's to keep. Call it only when the adaptation has ended."""
        if not self.running:
            self._remove_files()

    def _remove_files(self) -> None:
        """What this adaptation wrote: its temporary folder, or in the owner's `workdir` its model's files."""
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
        elif self._stem is not None:
            for path in self._stem.parent.glob(self._stem.name + ".*"):
                path.unlink(missing_ok=True)
        self._tempdir = self._stem = None

    def process_callbacks(self) -> int:
        """Run delivered callbacks on this thread (only with the default `deliver`)."""
        return self._inbox.process()

    def wait(self, timeout: float = 120.0) -> bool:
        """Process callbacks until the thread has ended and everything it delivered ran (tests, scripts)."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            self.process_callbacks()
            time.sleep(0.01)
        self.process_callbacks()
        return not self.running

    # --- the thread ---------------------------------------------------------------------------------------------
    def _emit(self, signal: Signal, *args: object) -> None:
        self._deliver(lambda: signal.emit(*args))

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    def _work(self) -> None:
        try:
            outcome = self._adapt()
            self._check()  # a cancel that came as it finished: nothing is published, nothing stays
        except Cancelled:
            self._remove_files()
            self._emit(self.events.cancelled)
        except Exception as exc:  # noqa: BLE001  (one line; the viewer keeps its model)
            self._remove_files()
            text = str(exc) if isinstance(exc, SlotviewerError) else f"{type(exc).__name__}: {exc}"
            lines = [line for line in text.splitlines() if line.strip()]
            self._emit(self.events.failed, lines[0] if lines else type(exc).__name__)
        else:
            self.outcome = outcome
            self._emit(self.events.finished, outcome)

    def _images(self, resolution: int) -> tuple[np.ndarray, list[str]]:
        """The images to adapt on, `[N, 3, R, R]` float in [0, 1]; a folder's unreadable ones are skipped and
        named (one broken file should not stop the adaptation); reading stops when cancelled."""
        if self.folder is None:
            return model_input(self.image, resolution)[0][None].astype(np.float32), []
        paths = folder_images(self.folder)
        frames, skipped = [], []
        for i, path in enumerate(paths):
            self._check()
            self._emit(self.events.stage, f"reading images {i + 1} / {len(paths)}")
            try:
                frames.append(model_input(read_image(path), resolution)[0])
            except SlotviewerError as exc:
                skipped.append(unreadable(path, exc))
        if not frames:
            raise SlotviewerError(f"{self.folder}: none of its {len(paths)} images could be read ({skipped[0]})")
        return np.stack(frames).astype(np.float32), skipped

    def _adapt(self) -> AdaptOutcome:
        try:
            from slotviewer.model.weights import load_model
        except ImportError as exc:  # an ONNX-only install
            raise SlotviewerError(f"adapting needs PyTorch, which is not installed ({exc.name}): "
                                  + install_hint("torch")) from None
        started = time.monotonic()
        self._emit(self.events.stage, "loading the model")
        loaded = load_model(self.model)
        original = Engine.load(self.model, self.backend, self.device)
        images, skipped = self._images(loaded.config.resolution)
        self._check()
        where = self._workdir  # (made when the copy is saved)
        if where is None:
            self._tempdir = where = Path(tempfile.mkdtemp(prefix=ADAPTED_PREFIX))
        self._stem = out = where / f"{loaded.name}.adapted"
        on = (f"{self.source or 'one image'} (one image, unlabelled)" if self.folder is None
              else f"{self.folder} ({len(images)} images, unlabelled)")
        self._emit(self.events.stage, f"adapting on {plural(len(images), 'image')}")
        adapted, errors = adapt_and_load(
            loaded, images, self.steps, out, original.backend.name, self.device, on,
            "the app's Adapt to this image/folder", self._cancel.is_set,
            on_step=lambda step, error: self._emit(self.events.progress, step, self.steps, error),
            on_stage=lambda text: self._emit(self.events.stage, text))
        self._check()
        self._emit(self.events.stage, "running the image on both models")
        before = original.run(self.image, **self.run_kwargs)
        after = adapted.run(self.image, **self.run_kwargs)
        self._check()  # a cancel that landed in the last stage still wins: nothing half-decided stays behind
        return AdaptOutcome(out, before, after, len(images), len(errors), time.monotonic() - started,
                            tuple(errors), tuple(skipped))


def adapt_and_load(loaded: LoadedModel, images: np.ndarray, steps: int, out: Path, backend: str, device: str,
                   adapted_on: str, by: str, stopped: Callable[[], bool],
                   on_step: Callable[[int, float], None], on_stage: Callable[[str], None] | None = None,
                   ) -> tuple[Engine, list[float]]:
    """The pipeline the app's adaptations share (Adapt to this image / folder, the live view's Learn this
    scene): `steps` of `slotviewer adapt`'s recipe on a copy of `loaded` with `images` `[N, 3, R, R]` in
    [0, 1] (`on_step(steps done, recent error)` after each), the copy saved as `out` with a card saying
    `adapted_on` and `by`, exported to ONNX when it is to run on the `onnx` backend, and loaded. Raises
    `Cancelled(steps done)` when `stopped()` turns true between steps or during the export (which is killed);
    what it saved by then stays for the caller to remove. Returns the engine and the steps' errors."""
    from slotviewer.adapt import Adapter, AdaptSettings, adapted_card
    from slotviewer.model.weights import save_model

    started = time.monotonic()
    adapter = Adapter(loaded.model, images, AdaptSettings(steps=steps))
    for step in range(steps):
        if stopped():
            raise Cancelled(step)
        adapter.train_step()
        on_step(step + 1, float(np.mean(adapter.errors[-10:])))
    if stopped():
        raise Cancelled(steps)
    card = adapted_card(loaded, adapted_on, adapter, time.monotonic() - started, by)
    weights, _ = save_model(adapter.model.eval().cpu(), out, card)
    if backend == "onnx":  # the copy runs where the original ran: ONNX needs its graphs
        if on_stage is not None:
            on_stage("exporting the adapted model to ONNX")
        from slotviewer.engine.onnx_export import export_onnx_apart

        if not export_onnx_apart(weights, out, stop=stopped):
            raise Cancelled(steps)
    return Engine.load(out, backend, device), list(adapter.errors)


def before_after_pictures(outcome: AdaptOutcome, max_side: int = 768) -> dict[str, np.ndarray]:
    """The four pictures a comparison shows, uint8 RGB at one size (the input's, at most `max_side` long, so a
    photo stays cheap to draw): each run's segmentation over the input (labels as the viewer draws them: the
    decoder's posterior; slot k has the same colour in both) and its reconstruction, every slot taking part."""
    from slotviewer.io.render import resize_uint8, slot_colours, to_uint8
    from slotviewer.video import labels_at, overlay

    h, w = outcome.before.image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    h, w = max(1, round(h * scale)), max(1, round(w * scale))
    shown = resize_uint8(outcome.before.image, h, w)
    pictures = {}
    for name, trace in (("before", outcome.before), ("after", outcome.after)):
        everything = np.ones(trace.num_slots, bool)
        labels = labels_at(trace.scores(everything), h, w)
        pictures[f"{name} segmentation"] = overlay(shown, labels, slot_colours(trace.num_slots))
        pictures[f"{name} reconstruction"] = resize_uint8(to_uint8(trace.composite(everything)), h, w)
    return pictures


def adaptation_for(viewer: Viewer, folder: bool = False, steps: int | None = None,
                   deliver: Callable[[Callable[[], None]], None] | None = None) -> Adaptation:
    """An adaptation of `viewer`'s model for image A as it runs now, on that image or (`folder`) on the
    images of the folder it was opened from; a one-line error when there is nothing to adapt to."""
    document = viewer.session.documents["A"]
    if document is None or document.trace is None or viewer.engine is None:
        raise SlotviewerError("open an image first: adapting shows it before and after")
    source = Path(document.source)
    images = source if source.is_dir() else source.parent  # a frame of an image sequence: that folder
    if folder and not (source.is_dir() or (source.is_file() and document.frame is None)):
        video = document.frame is not None and source.is_file()
        raise SlotviewerError(f"{document.source}: " + ("a video's frame: Live → Learn this scene adapts to the recent "
                              "frames" if video else "not an image file, so there is no folder to adapt to") +
                              " (Adapt to this image works)")
    p = viewer.params
    run = {**viewer.run_kwargs(document), "method": "slot-attention"}  # adapting concerns the slots
    if viewer.engine.fixed_slots:  # learned queries: K is the model's
        run["slots"] = None
    described = document.source if document.frame is None else f"{document.source}, frame {document.frame}"
    return Adaptation(p.model, p.backend, p.device, document.image, run, images if folder else None,
                      steps, deliver, source=described)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def summary_html(outcome: AdaptOutcome) -> str:
    """Before → after in numbers (HTML, one paragraph): this image's reconstruction error, its PSNR and its
    multiple of the model's typical error (as the window's caption gives it), what it adapted on, the files it
    skipped — and the warning that a lower error is not better objects."""
    from html import escape

    b, a = outcome.before_mse, outcome.after_mse
    typical = (outcome.before.provenance.get("familiarity") or {}).get("typical_mse")
    ratios = f"; {b / typical:.1f}× → {a / typical:.1f}× the model's typical error" if typical else ""
    done = f"{plural(outcome.steps, 'step')} on {plural(outcome.images, 'image')} in {seconds(outcome.seconds)}"
    if len(outcome.errors) >= 2:  # the views it trained on: for a folder, more telling than this one image
        first, last = error_trend(outcome.errors)
        done += f" (its training views' error {first:.5f} → {last:.5f})"
    if outcome.skipped:
        done += f"; skipped {plural(len(outcome.skipped), 'unreadable file')}: {some_of(outcome.skipped)}"
    db = (f"{psnr(x):.1f}" if x > 0 else "∞" for x in (b, a))
    return (f"<b>Reconstruction error of this image: {b:.5f} → {a:.5f}</b> (PSNR {next(db)} → {next(db)} dB"
            f"{ratios}); {escape(done)}. A lower error means the decoder draws these images better, not that "
            "the objects are found better: compare the segmentations.")

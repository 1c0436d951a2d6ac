"""`Viewer`: the app's state without Qt, as napari keeps it — widgets subscribe to its events.

It owns the session (documents A/B with undo), the run parameters, the scrubbed position, the overlay,
and derived results (stability, the k-means comparison), each keyed to the image, model and parameters it
was computed for so it is cleared or recomputed when any of those change. Every engine call goes through
a `JobRunner`; results that arrive for an image, model or trace that has since changed are dropped.

A live source (camera, video) runs in `LiveView` (`components/live.py`), which puts its traces into
document A; a still image shown in A announces itself (`events.still`) so that the live view's owner
stops the stream instead of letting its next frame replace the image.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

from slotviewer.components.document import Document
from slotviewer.components.frames import OVERLAYS, Frame, frame_at
from slotviewer.components.jobs import Job, JobRunner
from slotviewer.components.session import Session
from slotviewer.engine.engine import BACKENDS, DEVICES, MAX_DRAWS, MAX_ITERS, MAX_SEED, MAX_SLOTS, METHODS
from slotviewer.engine.familiarity import NOTICE
from slotviewer.engine.trace import Trace
from slotviewer.errors import SlotviewerError
from slotviewer.model.files import file_sha256

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SAMPLES = RESOURCES / "samples"


@dataclass(frozen=True)
class RunParams:
    """What a run depends on. `slots`/`iters`/`draws` None = the model's own K, T and draws."""

    model: str = "shapes"
    backend: str = "onnx"
    device: str = "auto"
    slots: int | None = None
    iters: int | None = None
    seed: int = 0
    method: str = "slot-attention"
    draws: int | None = None  # initial slot sets compared per run (the best reconstruction is kept)

    @property
    def engine_key(self) -> tuple[str, str, str]:
        return self.model, self.backend, self.device

    def validate(self) -> None:
        """The engine's limits, checked before anything runs (the widgets' ranges come from the same)."""
        checks = [(self.backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}"),
                  (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
                  (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
                  (self.slots is None or 1 <= self.slots <= MAX_SLOTS, f"slots K must be 1..{MAX_SLOTS}"),
                  (self.iters is None or 0 <= self.iters <= MAX_ITERS, f"iterations T must be 0..{MAX_ITERS}"),
                  (self.draws is None or 1 <= self.draws <= MAX_DRAWS, f"draws must be 1..{MAX_DRAWS}"),
                  (0 <= self.seed <= MAX_SEED, f"seed must be 0..{MAX_SEED}")]
        for ok, message in checks:
            if not ok:
                raise SlotviewerError(f"{message} ({self})")


def sample_model(path: str | Path) -> str | None:
    """The shipped model a bundled sample was made for (`resources/samples/<model>.png`), else None."""
    p = Path(path).resolve()
    return p.stem if p.parent == SAMPLES.resolve() else None


class ViewerEvents(SignalGroup):
    params = Signal(object)  # RunParams (what the controls show)
    engine = Signal(object)  # the loaded Engine
    document = Signal(str)  # "A"/"B": its image or trace changed (re-layout and re-render)
    frame = Signal(str)  # "A"/"B": what it shows changed (position, overlay, decodes arrived)
    position = Signal(float)
    overlay = Signal(str)
    opacity = Signal(float)
    stability = Signal(object)  # Stability | None
    history = Signal(bool, bool)  # can undo, can redo
    notice = Signal(str)  # the familiarity notice for A ("" = none)
    message = Signal(str)  # one transient line for the status bar
    error = Signal(str)
    opened = Signal(str)  # an image file was opened (absolute path, for "recent files")
    still = Signal(str)  # "A"/"B" now shows a still image (file, clipboard, drop): a live stream there stops


def _sha256(document: Document) -> str:
    """The input's hash for trace.json: of the file for an image read from one (read in blocks), else of the
    pixels (pasted or dropped pixels, a frame of a video: hashing a whole video file says nothing of the
    frame, and reading one at once could take gigabytes)."""
    path = Path(document.source)
    if document.frame is None and path.is_file():
        return file_sha256(path)
    return hashlib.sha256(np.ascontiguousarray(document.image).tobytes()).hexdigest()


def _folder_images(folder: Path) -> list[Path]:
    """A folder's images in name order, as absolute paths (what `browsing` holds, so they compare)."""
    from slotviewer.io.images import list_images

    return [image.resolve() for image in list_images([folder])]


def export_name(document: Document) -> str:
    """The folder an export of `document` goes into: the input's stem, and the frame for a video's frame."""
    stem = Path(document.source).stem or "image"
    return stem if document.frame is None else f"{stem}_frame_{document.frame:06d}"


class Viewer:
    def __init__(self, params: RunParams | None = None, runner: JobRunner | None = None) -> None:
        self.events = ViewerEvents()
        self.runner = runner or JobRunner()
        self.runner.events.error.connect(self.events.error.emit)
        self.session = Session()
        self.params = params or RunParams()
        self.engine: Any = None
        self.position = 0.0
        self.overlay = "attention"
        self.opacity = 0.45
        self.stability: Any = None
        self.comparison: str | None = None  # B mirrors A with this method
        self.browsing: Path | None = None  # the file A was last asked to open (PgUp/PgDn page from it)
        self.model_chosen = False  # the user named a model (`gui --model`): a bundled sample does not change it
        self._notes: dict[str, str] = {}  # what to say with a document's next result (files skipped to open it)
        self.notice = ""
        self._engine_generation = 0
        self._stability_key: tuple | None = None
        self._loaded_key: tuple[str, str, str] | None = None  # the engine running now: model, backend, device

    # --- parameters and model --------------------------------------------------------------------------
    def set_params(self, **changes: Any) -> None:
        """Change run parameters: a new model/backend/device loads it; anything else re-runs the images."""
        new = dataclasses.replace(self.params, **changes)
        new.validate()
        if new == self.params:
            return
        old, self.params = self.params, new
        self.events.params.emit(new)
        if new.engine_key != old.engine_key:
            self.load_engine()
        else:
            self.rerun()

    def load_engine(self) -> None:
        self._clear_stability()

        def loaded(engine: Any) -> None:
            previous, self.engine = self.engine, engine
            self._engine_generation += 1
            cfg = engine.config
            if previous is None or previous.config != cfg:
                # another model: its own K, T and draws. The same model on another backend or device, or its
                # adapted copy, keeps the user's (Adapt compared its before and after with them).
                self.params = dataclasses.replace(self.params, slots=cfg.num_slots, iters=cfg.iters, draws=cfg.draws)
            self._loaded_key = self.params.engine_key
            self.events.params.emit(self.params)
            self.events.engine.emit(engine)
            self.events.message.emit(f"model ready: {engine.description}")
            self.rerun()

        def failed(_message: str) -> None:
            """The previous model stays loaded: the controls show it again, and keep whatever else the user
            set meanwhile (K, T, seed: the picture on screen was made with them)."""
            if self._loaded_key is not None:
                model, backend, device = self._loaded_key
                self.params = dataclasses.replace(self.params, model=model, backend=backend, device=device)
                self.events.params.emit(self.params)

        p = self.params
        self.runner.load(p.model, p.backend, p.device, loaded, failed)

    def resample(self) -> None:
        self.set_params(seed=int(np.random.default_rng().integers(0, MAX_SEED)))

    # --- images ------------------------------------------------------------------------------------------
    def open_path(self, path: str | Path, name: str = "A") -> None:
        """Open an image file, or a folder's first readable image (reading happens on the worker); a bundled
        sample brings its own model. For A the file is remembered even when it cannot be read, so paging
        through its folder (`browse`) goes on past a broken file."""
        p = Path(path).expanduser().resolve()
        if p.is_dir():
            images = _folder_images(p)
            if not images:
                self.events.error.emit(f"{p}: no images in this folder")
                return
            if name == "A":
                self.browsing = images[0]
            self._open_first_readable(images, name)
            return
        if name == "A":
            self.browsing = p
        self._open_first_readable([p], name)

    def browse(self, step: int) -> None:
        """Open the next (`step` 1) or previous (-1) image of the folder A's last file was opened from,
        going round at the ends; unreadable files are skipped and named in a message."""
        if self.browsing is None or not self.browsing.parent.is_dir():
            return
        folder = _folder_images(self.browsing.parent)
        if not folder:
            return
        here = folder.index(self.browsing) if self.browsing in folder else (
            sum(f < self.browsing for f in folder) - (step > 0))  # a vanished file: between its neighbours
        order = [folder[(here + step * i) % len(folder)] for i in range(1, len(folder) + 1)]
        self._open_first_readable([f for f in order if f != self.browsing] or order, "A")

    def _open_first_readable(self, paths: list[Path], name: str) -> None:
        """Read the first of `paths` that is a readable image (on the worker) and show it; the ones before it
        are skipped, named with their reasons in one message. When none is readable that is the error."""
        from slotviewer.io.images import read_image, unreadable

        def read(_engine: Any) -> tuple[Path, np.ndarray, list[str]]:
            skipped: list[str] = []
            for path in paths:
                try:
                    return path, read_image(path), skipped
                except SlotviewerError as exc:
                    if len(paths) == 1:
                        raise
                    skipped.append(unreadable(path, exc))
            raise SlotviewerError(f"{paths[0].parent}: no readable image ({skipped[0]}"
                                  f"{f', and {len(skipped) - 1} more' if len(skipped) > 1 else ''})")

        def done(result: tuple[Path, np.ndarray, list[str]]) -> None:
            path, image, skipped = result
            if name == "A":
                self.browsing = path
                model = sample_model(path)
                if model and not self.model_chosen and Path(self.params.model).stem != model:
                    self.set_params(model=model)
            if skipped:  # said with the run's result, which would otherwise replace it at once
                self._notes[name] = (f"skipped {len(skipped)} unreadable file{'s' * (len(skipped) > 1)}: "
                                     f"{'; '.join(skipped)}")
            self.events.opened.emit(str(path))
            self.show_image(image, str(path), name)

        self.runner.submit(Job(f"open:{name}", read, done, f"opening {paths[0].name}…", needs_engine=False))

    def show_image(self, image: np.ndarray, source: str, name: str = "A") -> None:
        """The one entry point for still pixels (files, clipboard, drops): show them and run. Live frames do
        not come through here (a live view puts its traces into document A itself); a still image stops one."""
        if name == "B":
            self.comparison = None
        elif source != str(self.browsing):  # pasted or dropped pixels: no folder to page through
            self.browsing = None
            self._notes.pop(name, None)
        self.events.still.emit(name)
        self.session.open(name, Document(source, image))
        if name == "A":
            self._clear_stability()
            if self.comparison and self.session.documents["B"] is not None:
                self.session.open("B", Document(source, image, method=self.comparison))
                self._changed("B")
                self.run("B")
        self._changed(name)
        self.run(name)

    def compare(self, method: str = "soft-kmeans") -> None:
        """Show image A again as B, clustered by `method` on the same encoder features; B follows A."""
        a = self.session.documents["A"]
        if a is None:
            return
        self.comparison = method
        self.session.open("B", Document(a.source, a.image, method=method, frame=a.frame))
        self._changed("B")
        self.run("B")

    def show_live_frame(self, source: str, frame: int, trace: Trace) -> None:
        """A live frame becomes document A without a run of its own (the live view ran it): its unedited trace
        is the run, the hidden/solo flags the live view carries from frame to frame are an edit on it, so
        Reset edits shows every slot again. A stability result belonged to the frame before, and so did the
        undo history; the frame on screen shown again (a pause) keeps both, and the scrubbed iteration. The
        caller tells the views, at the pace it can draw (`events.document`, or `_trace_changed` for a paused
        frame that is scrubbed)."""
        a = self.session.documents["A"]
        if a is not None and (a.source, a.frame) == (source, frame) and a.original is not None \
                and a.original.slots is trace.slots:  # the frame on screen again (paused, its edits changed)
            if a.trace is not trace:
                a.trace = trace
            return
        document = Document(source, trace.image, frame=frame)
        self.session.open("A", document)
        unedited = trace.replace(enabled=(True,) * trace.num_slots, edits=()) if not all(trace.enabled) else trace
        self.session.new_run("A", unedited)
        document.trace = trace  # the edit on the run: its carried hide/solo (the run itself when there is none)
        self._clear_stability()
        self.position = float(trace.iterations)
        self.events.position.emit(self.position)
        self.events.history.emit(self.session.can_undo, self.session.can_redo)

    def follow_comparison(self) -> None:
        """B shows A's current image again (a live frame that A got directly, not through `show_image`), when
        a comparison is on and B shows another frame; the job thread keeps only the newest such run."""
        a, b = self.session.documents["A"], self.session.documents["B"]
        if not self.comparison or a is None or b is None or (b.source, b.frame) == (a.source, a.frame):
            return
        self.session.open("B", Document(a.source, a.image, method=self.comparison, frame=a.frame))
        self._changed("B")
        self.run("B")

    def close_b(self) -> None:
        self.comparison = None
        self.session.close("B")
        self._changed("B")

    # --- running -----------------------------------------------------------------------------------------
    def rerun(self) -> None:
        self._clear_stability()
        for name, document in self.session.documents.items():
            if document is not None:
                self.run(name)

    def run_kwargs(self, document: Document) -> dict:
        """`Engine.run`'s settings for `document` as it runs now (K, T, seed, method, draws)."""
        p = self.params
        fixed = self.engine is not None and self.engine.fixed_slots
        method = document.method or p.method
        return {"slots": None if fixed and method == "slot-attention" else p.slots, "iters": p.iters,
                "seed": p.seed, "method": method, "draws": p.draws}

    def run(self, name: str) -> None:
        document = self.session.documents[name]
        if document is None or self.engine is None:
            return
        kwargs, image, generation = self.run_kwargs(document), document.image, self._engine_generation
        engine = self.engine

        def job(current: Any) -> Trace | None:
            # the settings were made for `engine`; a model loaded since (a sample that brings its own) reruns
            # the images itself, and this run's K could be one that model refuses: skip it, say nothing
            return current.run(image, **kwargs) if current is engine else None

        def done(trace: Trace | None) -> None:
            if trace is None or self.session.documents[name] is not document or generation != self._engine_generation:
                return  # the image or the model changed while this ran
            self.session.new_run(name, trace)
            if name == "A":
                self.position = float(trace.iterations)
                self._set_notice(trace)
            self._trace_changed(name)
            note = self._notes.pop(name, "")
            self.events.message.emit(f"{name}: {document.name} in {trace.timings_ms.get('total', 0):.1f} ms on "
                                     f"{trace.provenance.get('device')}{f' · {note}' if note else ''}")

        self.runner.submit(Job(f"run:{name}", job, done, f"running {document.name}…"))

    def _set_notice(self, trace: Trace) -> None:
        record = trace.provenance.get("familiarity") or {}
        self.notice = NOTICE if record.get("unfamiliar") else ""
        if self.notice:
            self.notice += (f" (reconstruction error {record['ratio']:.1f}× the typical "
                            f"{record['typical_mse']:.4f} on its own data)")
        self.events.notice.emit(self.notice)

    def _trace_changed(self, name: str) -> None:
        """A document's trace was replaced (run, edit, undo): decode what scrubbing needs, tell the views."""
        document = self.session.documents[name]
        trace = document.trace
        if name == "A":
            self.position = min(self.position, float(trace.iterations))
        if trace.iterations and any(document.needs_decode(t) for t in range(trace.iterations)):
            generation = self._engine_generation

            def done(decoded: list) -> None:
                if generation != self._engine_generation:
                    return
                for t, (rgb, alpha_logits) in enumerate(decoded):
                    document.store_decoded(trace, t, rgb, alpha_logits)
                if self.session.documents[name] is document:
                    self.events.frame.emit(name)

            self.runner.submit(Job(f"decode:{name}", lambda e: e.decode_iterations(trace), done))
        self._changed(name)
        if name == "A" and self.session.documents["B"] is not None:  # B follows A's position
            self.events.frame.emit("B")

    def _changed(self, name: str) -> None:
        self.events.document.emit(name)
        self.events.history.emit(self.session.can_undo, self.session.can_redo)

    # --- position and display ----------------------------------------------------------------------------
    @property
    def iterations(self) -> int:
        a = self.session.documents["A"]
        return 0 if a is None or a.trace is None else a.trace.iterations

    @property
    def iteration(self) -> int:
        return int(self.position)

    def set_position(self, position: float) -> None:
        """Scrub (whole iterations) or play (fractions blend neighbours); B follows, clamped to its own T."""
        position = min(max(float(position), 0.0), float(self.iterations))
        if position == self.position:
            return
        self.position = position
        self.events.position.emit(position)
        for name, document in self.session.documents.items():
            if document is not None:
                self.events.frame.emit(name)

    def step(self, delta: int) -> None:
        self.set_position(round(self.position) + delta)

    def set_overlay(self, mode: str) -> None:
        if mode not in OVERLAYS:
            raise SlotviewerError(f"overlay must be one of {', '.join(OVERLAYS)}, got {mode!r}")
        self.overlay = mode
        self.events.overlay.emit(mode)
        for name in ("A", "B"):
            self.events.frame.emit(name)

    def set_opacity(self, value: float) -> None:
        self.opacity = min(max(float(value), 0.0), 1.0)
        self.events.opacity.emit(self.opacity)

    def frame(self, name: str) -> Frame | None:
        document = self.session.documents[name]
        return None if document is None else frame_at(document, self.position, self.overlay == "posterior")

    # --- surgery -----------------------------------------------------------------------------------------
    def _trace(self, name: str) -> Trace | None:
        document = self.session.documents.get(name)
        return None if document is None else document.trace

    def set_enabled(self, name: str, enabled: list[bool] | None) -> None:
        """Toggle slots: instant, on the caller's thread (no decode needed)."""
        from slotviewer.engine import surgery

        trace = self._trace(name)
        if trace is None:
            return
        enabled = [True] * trace.num_slots if enabled is None else enabled
        self.session.edit({name: surgery.set_enabled(trace, enabled)})
        self._changed(name)

    def toggle_slot(self, name: str, index: int, on: bool | None = None) -> None:
        trace = self._trace(name)
        if trace is None or not 0 <= index < trace.num_slots:
            return
        enabled = list(trace.enabled)
        enabled[index] = not enabled[index] if on is None else on
        self.set_enabled(name, enabled)

    def solo_slot(self, name: str, index: int) -> None:
        trace = self._trace(name)
        if trace is not None:
            self.set_enabled(name, [i == index for i in range(trace.num_slots)])

    def _edit(self, names: tuple[str, ...], job: Callable[[Any], dict[str, Trace]], label: str,
              position: float | None = None) -> None:
        """Run an edit on the worker; its result is dropped if any input trace changed meanwhile."""
        before = {n: self._trace(n) for n in names}
        if any(t is None for t in before.values()):
            return

        def done(result: dict[str, Trace]) -> None:
            if any(self._trace(n) is not t for n, t in before.items()):
                self.events.message.emit("an edit was dropped: its image changed while it was computed")
                return
            self.session.edit(result)
            if position is not None:
                self.position = position
            for name in result:
                self._trace_changed(name)

        self.runner.submit(Job(f"edit:{names[-1]}", lambda e: job(e), done, label))

    def reconverge(self, iters: int) -> None:
        from slotviewer.engine import surgery

        trace = self._trace("A")
        if trace is not None:
            self._edit(("A",), lambda e: {"A": surgery.reconverge(e, trace, iters)}, "re-converging…",
                       position=float(trace.iterations + iters))  # show where the new iterations end

    def swap(self, source: str, i: int, target: str, j: int, transplant: bool = False) -> None:
        from slotviewer.engine import surgery

        ta, tb = self._trace(source), self._trace(target)
        if ta is None or tb is None:
            return
        if transplant:
            job = lambda e: {target: surgery.transplant(e, ta, i, tb, j)}  # noqa: E731
        elif source == target:
            job = lambda e: {target: surgery.swap(e, ta, i, ta, j)[0]}  # noqa: E731
        else:
            job = lambda e: dict(zip((source, target), surgery.swap(e, ta, i, tb, j), strict=True))  # noqa: E731
        self._edit((source, target) if source != target else (target,), job,
                   "transplanting…" if transplant else "swapping…")

    def reset_edits(self) -> None:
        changes = {n: d.original for n, d in self.session.documents.items()
                   if d is not None and d.original is not None and d.trace is not d.original}
        if changes:
            self.session.edit(changes)
            for name in changes:
                self._trace_changed(name)

    def undo(self) -> None:
        self._step_history(self.session.undo)

    def redo(self) -> None:
        self._step_history(self.session.redo)

    def _step_history(self, step: Callable[[], list[str]]) -> None:
        """Undo or redo; a scrubber at the last iteration stays at the last one (a redone re-converge shows
        where its new iterations end, as doing it did)."""
        before = self._trace("A")
        at_end = before is not None and self.position >= before.iterations
        names = step()
        after = self._trace("A")
        if at_end and "A" in names and after is not None:
            self.position = float(after.iterations)
        for name in names:
            self._trace_changed(name)

    # --- derived results ---------------------------------------------------------------------------------
    def _clear_stability(self) -> None:
        if self.stability is not None or self._stability_key is not None:
            self.stability, self._stability_key = None, None
            self.events.stability.emit(None)

    def check_stability(self, runs: int) -> None:
        """Re-run A with `runs` seeds; the result belongs to this image, model and parameters only."""
        from slotviewer.engine.stability import stability

        document = self.session.documents["A"]
        if document is None or self.engine is None:
            return
        kwargs = self.run_kwargs(document)
        cfg = self.engine.config
        jittered = cfg.query_noise > 0 and (kwargs["draws"] or cfg.draws) > 1  # then seeds choose among draws
        if self.engine.fixed_slots and kwargs["method"] == "slot-attention" and not jittered:
            when = "with one draw (raise best of draws, " if cfg.query_noise > 0 else "("
            self.events.error.emit("this model uses learned slot queries: every seed gives the same result "
                                   f"{when}choose k-means, or a model with Gaussian slots)")
            return
        base = kwargs.pop("seed")
        seeds = [base + i for i in range(runs)]
        key = (document, self._engine_generation, self.params)
        self._clear_stability()
        self._stability_key = key
        image, cancelled = document.image, self.runner.cancelled

        def job(engine: Any) -> Any:
            traces = []
            for s in seeds:
                if cancelled.is_set():
                    raise SlotviewerError("stability check cancelled")
                traces.append(engine.run(image, seed=s, **kwargs))
            return stability([t.labels() for t in traces], seeds, traces[0].num_slots)

        def done(result: Any) -> None:
            if self._stability_key != key or (document, self._engine_generation, self.params) != key:
                return
            self.stability = result
            self.events.stability.emit(result)

        self.runner.submit(Job("stability", job, done, f"running {runs} seeds…"))

    # --- export ------------------------------------------------------------------------------------------
    def export(self, folder: Path, files: dict[str, bytes] | None = None) -> None:
        """Write what `slotviewer run` writes for A (edits included) into `folder/<stem>`, plus `files`."""
        from slotviewer.export import write_trace

        document = self.session.documents["A"]
        if document is None or document.trace is None:
            self.events.error.emit("nothing to export yet")
            return
        trace, target = document.trace, Path(folder) / export_name(document)

        def job(_engine: Any) -> Path:
            extra = {"input": document.source, "input_sha256": _sha256(document)}
            if document.frame is not None:
                extra["frame_index"] = document.frame
            return write_trace(trace, target, overwrite=True, gif=True, extra=extra, files=files or {})

        self.runner.submit(Job("export", job, lambda path: self.events.message.emit(f"wrote {path}"),
                               f"writing {target}…", needs_engine=False))

    def close(self) -> None:
        """Stop the worker and disconnect every listener: jobs that finished while the window closed still
        have reports queued for the GUI thread, and they must reach no (deleted) widget."""
        self.runner.stop()
        self.runner.events.disconnect()
        self.events.disconnect()

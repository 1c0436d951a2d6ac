"""`slotviewer run`: many inputs through one engine, each to its own output folder.

A bad input gets one line on stderr and leaves nothing behind; the others are still processed and
the exit status says whether everything succeeded.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from slotviewer.engine import Engine, Trace, surgery
from slotviewer.errors import SlotviewerError
from slotviewer.export import write_trace
from slotviewer.io.images import DEFAULT_MAX_PIXELS, list_images, read_image


@dataclass
class RunOptions:
    model: str = "shapes"
    backend: str = "auto"
    device: str = "auto"
    slots: int | None = None
    iters: int | None = None
    seed: int | None = None
    method: str = "slot-attention"
    draws: int | None = None  # None: the model's (its config)
    remove: list[int] = field(default_factory=list)
    reconverge: int = 0
    swap_with: str | None = None
    swap: tuple[int, int] | None = None
    gif: bool = False
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    attention_size: str = "model"  # attention.npz at the model's resolution, or "input"
    progress: bool | None = None  # None: a progress bar only when stderr is a terminal
    adapt: int = 0  # steps of per-image adaptation (Slot-TTA) before the outputs are made; 0 = none
    label_by: str = "posterior"  # what labels.png is the argmax of (`engine.trace.LABELS`)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def process(engine: Engine, image_path: Path, options: RunOptions, donor: Trace | None) -> Trace:
    """Run one image and apply the requested edits, in order: swap, remove, re-converge."""
    image = read_image(image_path, options.max_pixels)
    if options.adapt:
        from slotviewer.adapt import adapt_engine

        engine = adapt_engine(engine, image, options.adapt, options.seed)
    trace = engine.run(image, slots=options.slots, iters=options.iters, seed=options.seed,
                       method=options.method, draws=options.draws)  # type: ignore[arg-type]
    if donor is not None and options.swap is not None:
        i, j = options.swap
        trace = surgery.transplant(engine, donor, j, trace, i)
    if options.remove:
        trace = surgery.remove(trace, options.remove)
        if not np.any(trace.enabled):  # the label maps would name a hidden slot for every pixel
            raise SlotviewerError(f"--remove {','.join(map(str, options.remove))} removes all {trace.num_slots} "
                                  "slots: leave at least one")
        if options.reconverge:
            trace = surgery.reconverge(engine, trace, options.reconverge)
    return trace


class OutputNames:
    """The folder name under `--out` for each input of one command: its stem, and for a name given before
    (a.png and a.jpg, or clip.mp4 and clip.avi, videos and images alike; also a.png, a.jpg, a_2.png) the
    first free `stem_2`, `stem_3`, … so that no result of the command overwrites another. Names are
    compared ignoring case (A.png and a.png share a folder on macOS and Windows), and a stem of dots only
    (`..png`) becomes `_`: `OUT/.` is OUT itself, which `--overwrite` would replace."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, path: Path) -> str:
        stem = path.stem if path.stem.strip(".") else "_"
        name, n = stem, 1
        while name.casefold() in self.taken:
            n += 1
            name = f"{stem}_{n}"
        self.taken.add(name.casefold())
        return name


@dataclass
class RunReport:
    """What one command wrote and how many of its inputs failed, videos and images together: said once at
    the end (`say`), not once per kind of input."""

    out: Path
    written: list[tuple[Path, Path]] = field(default_factory=list)
    failures: int = 0

    def say(self) -> None:
        report_outputs(self.written, self.failures, self.out)


def run_inputs(inputs: list[str], out: Path, options: RunOptions, names: OutputNames | None = None,
               report: RunReport | None = None) -> int:
    """Process every input; returns the exit status (0 all good, 1 if any input failed). `names` carries the
    folder names already given in this command (to its videos), `report` what it wrote and how many failed
    (the caller then says it; without one, this does)."""
    if (options.swap is None) != (options.swap_with is None):
        raise SlotviewerError("--swap and --swap-with go together")
    if options.reconverge and not options.remove:
        raise SlotviewerError("--reconverge needs --remove (which slots to drop)")
    backend = "torch" if options.adapt and options.backend == "auto" else options.backend  # adapting trains
    engine = Engine.load(options.model, backend, options.device)
    donor = None
    if options.swap_with is not None:
        donor = engine.run(read_image(options.swap_with, options.max_pixels), slots=options.slots,
                           iters=options.iters, seed=options.seed, draws=options.draws)
        if options.swap is not None and not 0 <= options.swap[1] < donor.num_slots:  # its slot, not the input's
            raise SlotviewerError(f"{options.swap_with}: slot {options.swap[1]} does not exist (--swap-with's image "
                                  f"has slots 0..{donor.num_slots - 1})")
    paths = list_images(inputs)
    if not paths:
        raise SlotviewerError(f"no images found in {', '.join(inputs)}")
    own_report, failures = report is None, 0
    report = report or RunReport(out)
    names = names or OutputNames()
    show = sys.stderr.isatty() if options.progress is None else options.progress
    written = report.written
    for path in tqdm(paths, desc="slotviewer run", unit="img", disable=not show or len(paths) < 2):
        target = out / names(path)
        try:
            if target.exists() and not options.overwrite:
                raise SlotviewerError(f"{target}: already exists (use --overwrite to replace it)")
            trace = process(engine, path, options, donor)
            extra = {"input": str(path), "input_sha256": _sha256(path)}
            if donor is not None:
                extra |= {"swap_with": options.swap_with, "swap_with_sha256": _sha256(Path(options.swap_with)),
                          "swap_with_seed": donor.provenance["seed"], "swap_with_draws": donor.provenance["draws"],
                          "swap": options.swap}
            write_trace(trace, target, overwrite=options.overwrite, gif=options.gif, extra=extra,
                        attention_size=options.attention_size, label_by=options.label_by)  # type: ignore[arg-type]
            written.append((path, target))
        except Exception as exc:  # one bad input must not stop the others  # noqa: BLE001
            failures += 1
            text = str(exc) if isinstance(exc, SlotviewerError) else f"{type(exc).__name__}: {exc}".strip()
            text = text.splitlines()[0] if text else type(exc).__name__
            message = text if str(path) in text or str(target) in text else f"{path}: {text}"
            tqdm.write(f"slotviewer: error: {message}", file=sys.stderr)
    report.failures += failures
    if own_report:
        report.say()
    return 1 if failures else 0


SUMMARY_AFTER = 10  # more inputs than this get one summary line instead of one line each


def report_outputs(written: list[tuple[Path, Path]], failures: int, out: Path) -> None:
    """Say where the results went (stdout, so scripts can read it): one line per input, or a summary; how many
    failed on stderr, with their errors."""
    if len(written) <= SUMMARY_AFTER:
        for path, target in written:
            print(f"{path} -> {target}{os.sep}")
    else:
        print(f"wrote {len(written)} result folders under {out}{os.sep} (one per input, named after it)")
    if failures and len(written) + failures > 1:  # beside the errors (stderr): stdout keeps where results went
        print(f"{failures} input{'s' if failures > 1 else ''} failed (see the errors above)", file=sys.stderr)

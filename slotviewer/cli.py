"""`slotviewer` command line: argument parsing only; each subcommand calls the layers below."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from slotviewer.components.frames import OVERLAYS as OVERLAY_MODES
from slotviewer.engine.engine import (  # the choices are defined once, in the engine
    DEVICES,
    MAX_DRAWS,
    MAX_ITERS,
    MAX_SEED,
    MAX_SLOTS,
    METHODS,
)
from slotviewer.errors import INTERRUPTED, DataMismatch, SlotviewerError, install_hint
from slotviewer.precision import PRECISIONS
from slotviewer.video import DEFAULT_ITERS_PER_FRAME, DEFAULT_MASK_PRIOR, MAX_MASK_PRIOR

if TYPE_CHECKING:  # the commands import their modules when they run (a fast --help)
    from slotviewer.headless import OutputNames, RunReport

DRAWS_HELP = ("keep the best of N initial slot draws by reconstruction error (default: the model's, see its "
              "card; 1 = a single draw)")


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line naming the option and the problem, as every other error here is; the usage
    block argparse prints before it buried that line (16 lines for `run --slots 0`). `--help` has the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argument type for a whole number in low..high, the engine's limits (K 300 would fail later, blamed
    on the input image); named `int`, so a word given for it reads "invalid int value"."""

    def check(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, got {value}")
        return value

    check.__name__ = "int"
    return check


def _float_in(low: float, high: float) -> Callable[[str], float]:
    """An argument type for a number in low..high (NaN is refused too); named `float`, as `_int_in` is `int`."""

    def check(text: str) -> float:
        value = float(text)
        if not low <= value <= high:  # NaN fails this too
            raise argparse.ArgumentTypeError(f"must be {low:g}..{high:g}, got {text}")
        return value

    check.__name__ = "float"
    return check


_slots, _draws, _seed = _int_in(1, MAX_SLOTS), _int_in(1, MAX_DRAWS), _int_in(0, MAX_SEED)
_iters = _int_in(0, MAX_ITERS)  # inference T, the range the engine runs (0 = the initial slots, decoded)
_scored_iters = _int_in(1, MAX_ITERS)  # `eval --iters`: the initial slots alone segment nothing worth scoring
_unit = _float_in(0, 1)  # a weight between 0 and 1 (the keys' position weight)
_mask_prior = _float_in(0, MAX_MASK_PRIOR)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _folder(text: str) -> str:
    """`--sequence DIR`: a folder (a video given there would silently play as a video)."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder (a video opens as `slotviewer gui VIDEO`)"
                                         if Path(text).exists() else f"no such folder: {text}")
    return text


def _screenshot_path(text: str) -> str:
    from slotviewer.io.images import SCREENSHOT_FORMATS

    if Path(text).suffix.lower() not in SCREENSHOT_FORMATS:
        raise argparse.ArgumentTypeError(f"{text}: a screenshot is written as {', '.join(SCREENSHOT_FORMATS)}; "
                                         "name the file so")
    return text


def _positive_float(text: str) -> float:
    """A rate or a duration: finite and above 0 (NaN, inf and 0 would run a broken or an empty job)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def _weight(text: str) -> float:
    """A loss weight: finite and 0 or more."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _interrupt_on_term() -> dict[int, object]:
    """Make SIGTERM (and SIGINT, even in a nohup'ed background job) save and exit like Ctrl-C.
    Returns the previous handlers, so a caller in a longer-lived process (tests, scripts) can restore them."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    return previous


def check_train_out(args: argparse.Namespace) -> None:
    """A new run never overwrites a run in `--out` (its checkpoint and curve would be lost), and `--resume`
    continues a checkpoint as it was made: options that would change its model are refused, not ignored."""
    from slotviewer.model.files import strip_model_suffix

    stem = strip_model_suffix(Path(args.out))
    checkpoint = stem.with_name(stem.name + ".train.safetensors")
    if not args.resume and checkpoint.exists():
        raise SlotviewerError(f"{checkpoint}: a training run is there already: --resume continues it, or give "
                              "another --out")
    fixed = [flag for flag, value in (("--init-from", args.init_from), ("--preset", args.preset),
                                      ("--slots", args.slots), ("--iters", args.iters),
                                      ("--slot-init", args.slot_init),
                                      ("--key-position-scale", args.key_position_scale)) if value is not None]
    if args.resume and fixed:
        raise SlotviewerError(f"{checkpoint}: --resume continues the checkpoint's model as it was made; "
                              f"{', '.join(fixed)} cannot change it (start another --out with --init-from {stem})")


def cmd_train(args: argparse.Namespace) -> int:
    from slotviewer.data.tfrecord import split_spec
    from slotviewer.model.config import PRESETS
    from slotviewer.train import Trainer, TrainSettings, command_line

    tfrecord = split_spec(args.dataset)
    preset = PRESETS.get(args.preset or (tfrecord[0] if tfrecord else args.dataset), PRESETS["shapes"]).to_dict()
    if args.slots:
        preset["num_slots"] = args.slots
    if args.iters:
        preset["iters"] = args.iters
    if args.key_position_scale is not None:
        preset["key_position_scale"] = args.key_position_scale
    if args.slot_init:
        preset["slot_init"] = args.slot_init
        preset["implicit"] = args.slot_init == "learned"
    settings = TrainSettings(
        dataset=args.dataset, out=args.out, steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup,
        seed=args.seed, checkpoint_minutes=args.checkpoint_minutes, threads=args.threads, device=args.device,
        init_from=args.init_from or "", config=preset,
        mask_consistency=args.mask_consistency, freeze=tuple(part for part in (args.freeze or "").split(",") if part),
        precision=args.precision, channels_last=args.channels_last, val=args.val or "", command=command_line(),
        eval_minutes=args.eval_minutes, clip_frames=args.clip_frames, iters_per_frame=args.iters_per_frame,
        keep_best=args.keep_best,
    )
    _check_out_stem(args.out)
    check_train_out(args)
    trainer = Trainer(settings, resume=args.resume)
    path = trainer.run(final_eval=args.final_eval)
    if not trainer.world.main:  # under torchrun: rank 0 wrote the files and says so
        return 0 if trainer.step >= settings.steps else INTERRUPTED
    print(f"wrote {path} and {path.with_suffix('.json')}")
    if trainer.step < settings.steps:  # stopped by Ctrl-C/SIGTERM: saved, but not the run that was asked for
        print(f"stopped at step {trainer.step:,} of {settings.steps:,}: add --resume to continue", file=sys.stderr)
        return INTERRUPTED
    return 0


def cmd_recipe(args: argparse.Namespace) -> int:
    from slotviewer.recipes import get_recipe, run_recipe, with_seed, with_steps
    from slotviewer.train import command_line

    recipe = get_recipe(args.name)  # (--scale is checked as an argument: above 0)
    if args.scale != 1.0:
        recipe = with_steps(recipe, args.scale)
    if args.seed:
        recipe = with_seed(recipe, args.seed)
    _check_out_stem(args.out)
    try:
        path = run_recipe(recipe, args.out, threads=args.threads, device=args.device, command=command_line(),
                          eval_scenes=args.eval_scenes, precision=args.precision)
    except KeyboardInterrupt:  # outside a phase's training loop (setup, scoring, export): nothing half-written
        path = None
        print("interrupted: run the same command to continue", file=sys.stderr)
    if path is None:
        return INTERRUPTED
    print(f"wrote {path}, {path.with_suffix('.json')} and its ONNX graphs")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from slotviewer.data import load_scenes
    from slotviewer.metrics import psnr
    from slotviewer.model.weights import load_model
    from slotviewer.progress import progress_bar
    from slotviewer.train import EVAL_SEED, evaluate_scenes

    loaded = load_model(args.model)
    if args.iters is not None:
        loaded.model.slot_attention.iters = args.iters
    r = loaded.config.resolution
    try:
        images, masks = load_scenes(args.data, args.n, r, args.seed if args.seed is not None else EVAL_SEED + 1)
    except DataMismatch as exc:  # a model and data that do not fit: say which two, in one line
        raise SlotviewerError(f"model {loaded.name} ({r}×{r} RGB) does not fit data {args.data}: {exc}") from None
    if images.ndim != 4 or images.shape[1:] != (r, r, 3):
        raise SlotviewerError(f"model {loaded.name} expects {r}×{r}×3 images, but data {args.data} has "
                              f"{'×'.join(map(str, images.shape[1:]))}")
    if masks is None:
        raise SlotviewerError(f"{args.data}: no masks/ folder, so there is nothing to score against")
    draws = args.draws or loaded.config.draws
    with progress_bar(len(images), f"slotviewer eval {loaded.name}", "scene", disable=not args.progress) as bar:
        by_labels, errors = evaluate_scenes(loaded.model, images, masks, draws=draws, on_batch=bar.update)
    scores, posterior = by_labels["alpha"], by_labels["posterior"]
    result = {"model": loaded.name, "data": args.data, "n": int(np.isfinite(scores).sum()), "draws": draws,
              "fg_ari_mean": float(np.nanmean(scores)), "fg_ari_std": float(np.nanstd(scores)),
              "fg_ari_posterior_mean": float(np.nanmean(posterior)),
              "fg_ari_posterior_std": float(np.nanstd(posterior)),
              "mse": float(errors.mean()), "psnr_db": psnr(errors)}
    if args.json:
        print(json.dumps(result))
    else:
        how = f"best of {draws} draws" if draws > 1 else "1 draw"
        print(f"{loaded.name} on {args.data}: FG-ARI {result['fg_ari_mean']:.4f} ± {result['fg_ari_std']:.4f} "
              f"by alpha, {result['fg_ari_posterior_mean']:.4f} ± {result['fg_ari_posterior_std']:.4f} by posterior "
              f"(n={result['n']}, {how}), reconstruction MSE {result['mse']:.5f}, PSNR {result['psnr_db']:.2f} dB")
    return 0


def cmd_data_generate(args: argparse.Namespace) -> int:
    from slotviewer.data.export import write_dataset

    _check_out_folder(Path(args.out))
    out = write_dataset(args.kind, args.n, Path(args.out), args.seed)
    print(f"wrote {args.n} images and masks to {out}")
    return 0


def _slot_pair(text: str) -> tuple[int, int]:
    try:
        i, j = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i:j (two slot indices), got {text!r}") from None
    return i, j


def _index_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated slot indices, got {text!r}") from None


def _check_out_folder(out: Path) -> None:
    """Refuse an --out that cannot become a folder before any input is read, in one line naming it: else every
    input fails on its own with the operating system's error (and seems to blame the input). Nothing is
    created here, so a run whose inputs all fail leaves no empty folder behind."""
    if out.exists() and not out.is_dir():
        raise SlotviewerError(f"{out}: exists and is not a folder (--out names the folder the results go into)")
    _check_can_write_in(out.absolute(), out)


def _check_can_write_in(folder: Path, out: Path | str) -> None:
    """`folder` (or the nearest part of it that exists, where it will be made) takes new files: else `out` is
    refused in one line now, not after the work, naming a hidden temporary file."""
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise SlotviewerError(f"{out}: cannot create this folder ({folder} is a file)")
    try:  # a trial folder, gone at once: permissions alone miss read-only mounts and /proc-like folders
        os.rmdir(tempfile.mkdtemp(prefix=".slotviewer-", dir=folder))
    except OSError as exc:
        raise SlotviewerError(f"{out}: cannot create a folder in {folder} ({exc.strerror})") from None


def _check_out_stem(out: str) -> None:
    """`train`, `recipe`, `adapt` and `export-onnx` write `OUT.safetensors`, `OUT.json`, … : an --out that
    ends in a separator names a folder, which pathlib would silently drop (the files then went beside it);
    and the folder must take files before minutes of work are spent."""
    if not out.strip():
        raise SlotviewerError(f"--out {out!r} names no file (give a stem such as models/mine)")
    if out.endswith(("/", os.sep)) or Path(out).name in ("", ".", ".."):
        raise SlotviewerError(f"--out {out!r} names a folder, not a file stem (give e.g. {out.rstrip('/' + os.sep)}"
                              f"{os.sep}mine: its files are mine.safetensors, mine.json, …)")
    _check_can_write_in(Path(out).absolute().parent, out)


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out_folder(out)
    made_here = not out.exists()
    try:
        return _run_all(args, out)
    finally:  # interrupted (or every input failed) before any result: no empty folder left behind
        if made_here and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def _run_all(args: argparse.Namespace, out: Path) -> int:
    from slotviewer.headless import OutputNames, RunReport
    from slotviewer.headless_video import run_video_args, split_videos

    videos, args.inputs = split_videos(args.inputs)  # videos and animated GIFs go frame by frame
    names = OutputNames()  # one name per input across videos and images: clip.mp4 and clip.png never collide
    report = RunReport(out)  # what went where and how many failed, said once for both kinds
    try:
        status = run_video_args(videos, args, names, report) if videos else 0
        if not args.inputs or status == INTERRUPTED:  # Ctrl-C in a video stops the command, not just that video
            return status
        return max(status, _run_images(args, out, names, report))
    finally:
        report.say()


def _run_images(args: argparse.Namespace, out: Path, names: OutputNames, report: RunReport) -> int:
    from slotviewer.headless import RunOptions, run_inputs

    options = RunOptions(
        model=args.model, backend=args.backend, device=args.device, slots=args.slots, iters=args.iters,
        seed=args.seed, method=args.method, draws=args.draws, remove=args.remove or [], reconverge=args.reconverge,
        swap_with=args.swap_with, swap=args.swap, gif=args.gif, overwrite=args.overwrite, max_pixels=args.max_pixels,
        adapt=args.adapt, attention_size=args.attention_size, progress=args.progress, label_by=args.labels_by,
    )
    return run_inputs(args.inputs, out, options, names, report)


def cmd_adapt(args: argparse.Namespace) -> int:
    from slotviewer.adapt import AdaptSettings, adapt_model

    defaults = AdaptSettings()
    settings = AdaptSettings(
        steps=args.steps if args.steps is not None else (0 if args.minutes else defaults.steps),
        minutes=args.minutes or 0.0, lr=args.lr, batch=args.batch, seed=args.seed,
        parts=tuple(p for p in args.parts.split(",") if p), mask_consistency=args.mask_consistency,
        augment=not args.no_augment, view_consistency=args.view_consistency,
    )
    if not settings.parts:
        raise SlotviewerError(f"--parts {args.parts!r} names no part to adapt (e.g. decoder, or encoder,decoder)")
    _check_out_stem(args.out)
    for path in adapt_model(args.model, args.data, args.out, settings, onnx=not args.no_onnx,
                            overwrite=args.overwrite):
        print(f"wrote {path}")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from slotviewer.engine.onnx_export import export_onnx

    _check_out_stem(args.out)
    for path in export_onnx(args.model, args.out):
        print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.video:
        from slotviewer.bench.video import bench_video, print_video

        result = bench_video(args.model, long_frames=args.video_frames, device=args.device)
        print(json.dumps(result, indent=2)) if args.json else print_video(result)
        return 0
    from slotviewer.bench.report import run_bench
    from slotviewer.errors import ModelFileError

    try:
        return run_bench(args.model, as_json=args.json, repeats=args.repeats, only=args.only, device=args.device)
    except ModelFileError as exc:  # bench has no --backend to fall back on: it times both side by side
        raise ModelFileError(str(exc).replace("; or --backend torch", "") + " — bench times both backends, so it "
                             "needs the model's weights and its ONNX graphs") from None


def _no_display() -> bool:
    """Linux without X11/Wayland and no Qt platform chosen: Qt would abort with a wall of text."""
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def cmd_gui(args: argparse.Namespace) -> int:
    live = "--camera" if args.camera is not None else "--sequence" if args.sequence else None
    if live and args.path:
        raise SlotviewerError(f"{args.path}: give one source, this path or {live} (both would play one of them)")
    shot_only = [f"--{k}" for k in ("iteration", "hide", "overlay", "size") if getattr(args, k) is not None]
    if shot_only and not args.screenshot:  # the window would open without them: say so instead
        raise SlotviewerError(f"{', '.join(shot_only)} only work{'s' * (len(shot_only) == 1)} with --screenshot "
                              "(in the window, use the controls)")
    if args.compare and args.b:
        raise SlotviewerError("--compare shows image A clustered as B; it cannot go with --b")
    if _no_display():
        if not args.screenshot:
            raise SlotviewerError("no display to open the app on (DISPLAY and WAYLAND_DISPLAY are unset); headless, "
                                  "use `slotviewer run IMAGES --out DIR`, or `slotviewer gui --screenshot OUT.png`")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
    try:
        from slotviewer.gui.app import main as gui_main
    except ImportError as exc:
        raise SlotviewerError(f"the desktop app needs the gui extra ({install_hint('gui')}): {exc}") from None
    if args.backend == "auto":  # the app takes a concrete backend; resolve it as run does
        from slotviewer.engine.select import choose_backend

        args.backend = choose_backend(args.model or "shapes")
    return gui_main(args.path, screenshot=args.screenshot, iteration=args.iteration, hide=args.hide,
                    model=args.model, backend=args.backend, size=args.size, b=args.b, compare=args.compare,
                    camera=args.camera, sequence=args.sequence, overlay=args.overlay)


def _generator_names() -> list[str]:
    from slotviewer.data import GENERATORS

    return list(GENERATORS)


def cmd_doctor(args: argparse.Namespace) -> int:
    from slotviewer import doctor

    if args.probe_qt:
        return doctor.probe_qt()
    report = doctor.diagnose(device=args.device, backend=args.backend, gui=args.gui)
    doctor.print_report(report, as_json=args.json)
    return 1 if report.problems else 0


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from slotviewer.desktop import install_desktop_entry

    entry, icon = install_desktop_entry(uninstall=args.uninstall)
    print(f"removed {entry} and {icon}" if args.uninstall else f"wrote {entry} and {icon}")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from slotviewer.bundle import bundle

    return bundle(Path(args.dist), Path(args.work), test=not args.no_test, with_video=args.with_video)


def build_parser() -> argparse.ArgumentParser:
    from slotviewer import __version__

    parser = OneLineParser(prog="slotviewer", description="See how Slot Attention takes a picture apart.")
    parser.add_argument("--version", action="version", version=f"slotviewer {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("gui", help="the desktop app (the default when no command is given)")
    p.add_argument("path", nargs="?", help="image or folder to open (default: a bundled sample scene)")
    p.add_argument("--model", help="shipped name or path")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"],
                   help="default: the app's saved choice; auto: ONNX Runtime when installed, else torch")
    p.add_argument("--screenshot", metavar="OUT.png", type=_screenshot_path,
                   help="render, save a screenshot of the window (.png, .jpg or .bmp), exit")
    p.add_argument("--iteration", type=int, help="with --screenshot: show this iteration")
    p.add_argument("--hide", type=_index_list, help="with --screenshot: hide these slots, e.g. 1,2")
    p.add_argument("--overlay", choices=OVERLAY_MODES, help="with --screenshot: what the input is tinted by "
                   "(default: the attention)")
    p.add_argument("--size", metavar="WxH", help="with --screenshot: the window's size, e.g. 1280x720")
    p.add_argument("--b", metavar="IMG", help="open this image as B (side by side, for swapping slots)")
    p.add_argument("--compare", choices=["soft-kmeans", "kmeans"], help="show image A clustered by k-means as B")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--camera", type=_non_negative, metavar="N",
                        help="live: webcam N (0 = the first); see `slotviewer doctor`")
    source.add_argument("--sequence", type=_folder, metavar="DIR", help="live: play a folder of images as a sequence")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("train", help="train a slot-attention autoencoder")
    p.add_argument("--dataset", required=True, help="a generator (tetrominoes, shapes, shapes-wide; clips: "
                   "moving-shapes), a folder DIR/images/*.png, or a DeepMind TFRecord file (NAME:PATH, NAME e.g. "
                   "multi_dsprites)")
    p.add_argument("--out", required=True, help="output stem, e.g. models/mymodel")
    p.add_argument("--preset", choices=["tetrominoes", "shapes"], help="architecture preset (default: by dataset)")
    p.add_argument("--slots", type=_positive)
    p.add_argument("--iters", type=_positive)
    p.add_argument("--slot-init", choices=["gaussian", "learned"])
    p.add_argument("--key-position-scale", type=_unit, metavar="S",
                   help="weight of the position embedding in Slot Attention's keys, 0..1 (shapes preset: 0.5)")
    p.add_argument("--steps", type=_positive, default=50_000)
    p.add_argument("--batch", type=_positive, default=32)
    p.add_argument("--lr", type=_positive_float, default=8e-4)
    p.add_argument("--warmup", type=_non_negative, default=1_000)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--checkpoint-minutes", type=_positive_float, default=5.0)
    p.add_argument("--final-eval", type=_non_negative, default=1000,
                   help="fresh scenes scored for the model card (a generator's; a folder or TFRecord is scored on "
                   "its validation scenes, and 0 skips the scoring)")
    p.add_argument("--threads", type=_non_negative, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT.train.safetensors, its model as it was made (--init-from, --preset, "
                   "--slots, --iters, --slot-init, --key-position-scale are refused); without it, a run already in "
                   "OUT is never overwritten")
    p.add_argument("--init-from", help="start from the matching weights of another model (e.g. a simpler data set)")
    p.add_argument("--mask-consistency", type=_weight, default=0.0, metavar="W",
                   help="add W × cross-entropy of the decoder masks against the last attention")
    p.add_argument("--freeze", metavar="PARTS", help="keep these parts fixed, e.g. encoder,slot_attention")
    p.add_argument("--keep-best", action="store_true",
                   help="write the weights of the best validation FG-ARI of the run (every --eval-minutes, and at "
                   "the end) instead of the last ones; OUT.best.safetensors holds them meanwhile")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="bf16: autocast convolutions and matmuls (softmaxes and the loss stay fp32); auto (default): "
                   "the faster of fp32 and bf16 on this machine, timed on the first batch and kept by --resume")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout for the convolutions (default: on a CPU, where it is faster)")
    p.add_argument("--eval-minutes", type=_positive_float, default=3.0, metavar="M",
                   help="score the validation set (a curve point) every M minutes of training")
    p.add_argument("--val", metavar="DATA", help="validation data for the curve and the card (default: --dataset; "
                   "for clips, their still scenes), e.g. shifted-spec")
    p.add_argument("--clip-frames", type=_non_negative, default=0, metavar="N",
                   help="train on clips of N frames with carry-over, as the live view runs (SAVi); needs a clip "
                   "generator: --dataset moving-shapes")
    p.add_argument("--iters-per-frame", type=_positive, default=1, metavar="N",
                   help="with --clip-frames: Slot Attention iterations on each carried frame")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("recipe", help="train a model by its whole recipe (all phases); run again to continue")
    p.add_argument("name", help="the recipe: shapes or tetrominoes")
    p.add_argument("--out", required=True, help="output stem; phases write STEM-1-NAME.*, … beside it")
    p.add_argument("--threads", type=_non_negative, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--eval-scenes", type=_non_negative, default=None, metavar="N",
                   help="held-out scenes scored for the final card (default: the recipe's, 1000)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="every phase's precision, as for train (auto: timed at each phase's start); fp32 by default, "
                   "as the recipe's result was made: its two bf16 runs segmented far worse (README, 'The model')")
    p.add_argument("--scale", type=_positive_float, default=1.0, metavar="F",
                   help="every phase F times as long (e.g. 0.01 for a quick trial of the whole pipeline)")
    p.add_argument("--seed", type=_seed, default=0, metavar="N",
                   help="add N to every phase's seed: the same recipe on other random draws (data, weights, slots)")
    p.set_defaults(func=cmd_recipe)

    p = sub.add_parser("eval", help="FG-ARI of a model on fresh scenes or a folder with masks")
    p.add_argument("--model", required=True, help="shipped name or path")
    p.add_argument("--data", required=True, help="a generator (tetrominoes, shapes, shapes-wide, shifted-spec, "
                   "shifted-big, …), a folder with images/ and masks/, or a TFRecord file (NAME:PATH)")
    p.add_argument("--iters", type=_scored_iters, help="Slot Attention iterations (default: the model's)")
    p.add_argument("--draws", type=_draws, help=DRAWS_HELP)
    p.add_argument("--n", type=_positive, default=1000, help="scenes drawn from a generator (a folder or TFRecord: "
                   "at most N of its scenes)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="the generator's scene seed (default 1000004: the held-out test scenes of the model cards; "
                   "the README's shifted-set table used 2000001)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object instead of a sentence")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress on stderr: a bar on a terminal, a line every so often in a log")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("run", help="run images headless and write labels, masks, slots, traces")
    p.add_argument("inputs", nargs="+", help="image files, videos (mp4, avi, mkv, webm, …), animated GIFs and "
                   "folders of any of them; a video gives one label map per frame")
    p.add_argument("--out", required=True, help="output folder; each input gets OUT/<stem>/")
    p.add_argument("--model", default="shapes", help="shipped name (tetrominoes, shapes) or a path")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"],
                   help="auto: ONNX Runtime when installed, else torch; a .onnx model path means onnx")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--slots", type=_slots, help="number of slots K (Gaussian-init models only)")
    p.add_argument("--iters", type=_iters, help="Slot Attention iterations T")
    p.add_argument("--seed", type=_seed, help="seed for the initial slots (default: random, recorded)")
    p.add_argument("--draws", type=_draws, help=DRAWS_HELP)
    p.add_argument("--method", default="slot-attention", choices=METHODS)
    p.add_argument("--remove", type=_index_list, help="slots to remove from the composite, e.g. 2,3")
    p.add_argument("--reconverge", type=_positive, default=0, metavar="N",
                   help="after --remove, let the other slots iterate N more times")
    p.add_argument("--swap-with", help="a donor image (see --swap); its own outputs are not written")
    p.add_argument("--swap", type=_slot_pair,
                   help="i:j — slot i of each input is replaced by slot j of --swap-with, and re-decoded")
    p.add_argument("--gif", action="store_true", help="also write attention.gif over the iterations")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--max-pixels", type=_positive, default=64_000_000, help="refuse larger images")
    p.add_argument("--attention-size", default="model", choices=["model", "input"],
                   help="attention.npz at the model's resolution (small), or scaled to the input (≤1024 px)")
    p.add_argument("--labels-by", default="posterior", choices=["posterior", "alpha"],
                   help="what the label maps are the argmax of: the decoder's masks weighed by how well each slot's "
                   "colour explains the pixel (sharp object borders), or the masks alone (as the paper scores them)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: only on a terminal)")
    p.add_argument("--adapt", type=_non_negative, default=0, metavar="N",
                   help="adapt a copy of the model to each image for N steps first (Slot-TTA; torch backend; "
                   "still images only)")
    p.add_argument("--carry-over", action=argparse.BooleanOptionalAction, default=True,
                   help="videos: start each frame from the previous frame's slots (default), or fresh slots")
    p.add_argument("--iters-per-frame", type=_non_negative, default=DEFAULT_ITERS_PER_FRAME, metavar="N",
                   help="videos: Slot Attention iterations per carried-over frame (the first frame runs --iters)")
    p.add_argument("--match-slots", action=argparse.BooleanOptionalAction, default=True,
                   help="videos: rename each carried frame's slots to overlap the previous frame's best, so two "
                   "slots the update exchanged keep their objects (default)")
    p.add_argument("--mask-prior", type=_mask_prior, default=DEFAULT_MASK_PRIOR, metavar="W",
                   help=f"videos: how strongly each slot holds the places its mask covered on the last frame "
                   f"(0..{MAX_MASK_PRIOR:g}; 0 = every pixel contested anew)")
    p.add_argument("--sticky-labels", action=argparse.BooleanOptionalAction, default=True,
                   help="videos: a pixel's label keeps the last frame's slot unless another slot's score is "
                   "clearly higher, so slots sharing the background do not flicker (default)")
    p.add_argument("--max-frames", type=_positive, metavar="N", help="videos: stop after N frames")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("adapt", help="fit a copy of a model to your own unlabelled images (no labels needed)")
    p.add_argument("--model", required=True, help="shipped name or path of the model to start from")
    p.add_argument("--data", required=True, help="a folder of images, a video / animated GIF, or one image")
    p.add_argument("--out", required=True, help="output stem of the adapted model, e.g. models/mine")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive, help="optimiser steps (default 120)")
    length.add_argument("--minutes", type=_positive_float, help="adapt for this long instead")
    p.add_argument("--lr", type=_positive_float, default=3e-4, help="learning rate (Adam)")
    p.add_argument("--batch", type=_positive, default=8, help="images drawn per step (augmented unless --no-augment)")
    p.add_argument("--view-consistency", type=_weight, default=0.0, metavar="W",
                   help="also fit the mirror image and pull both views' pixel groupings together (weight W)")
    p.add_argument("--parts", default="decoder", help="parts that adapt, e.g. decoder or encoder,decoder")
    p.add_argument("--mask-consistency", type=_weight, default=0.01, metavar="W",
                   help="weight of the decoder masks' cross-entropy against the last attention (0 = MSE alone)")
    p.add_argument("--no-augment", action="store_true", help="no flips, turns and crops")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (graphs of a model replaced at "
                   "--out are removed: they would run the old weights)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already at --out")
    p.add_argument("--seed", type=_seed, default=0, help="seed for the batches, augmentations and initial slots")
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("export-onnx", help="export a model to ONNX (full, decoder, step and encoder graphs)")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, help="output path stem or NAME.onnx")
    p.set_defaults(func=cmd_export_onnx)

    p = sub.add_parser("bench", help="measure backends, surgery and Slot Attention side by side")
    p.add_argument("--model", default="shapes", help="shipped name or path of the model to time")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--repeats", type=_positive, default=20, help="timed runs per measurement (the median is kept)")
    p.add_argument("--only", choices=["engine", "slot-attention", "write", "gui", "train"],
                   help="run one part only (write: per-image output writing at 512² and 6000²; gui: window "
                   "update latency, needs the gui extra; train: training img/s fp32 vs bf16 vs channels-last, "
                   "shapes preset, batch 32)")
    p.add_argument("--video", action="store_true", help="the video pipeline instead: headless FPS at 64² and "
                   "640×480, memory over a long run, identity switches with carry-over vs fresh slots (ONNX on the "
                   "CPU; see --device)")
    p.add_argument("--video-frames", type=_non_negative, default=10_000, metavar="N",
                   help="with --video: frames in the memory run (0 skips it)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: both backends on the GPU, timed and checked against the CPU (with --only train: "
                   "training img/s there; with --video: the video pipeline there)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("doctor", help="what this install can use: versions, devices, Qt, cameras, paths")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="cuda: fail with a hint when no backend can use the GPU")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"],
                   help="fail with a hint when this backend is missing")
    p.add_argument("--gui", action="store_true", help="fail with a hint when the desktop app cannot open a window")
    p.add_argument("--json", action="store_true")
    p.add_argument("--probe-qt", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("install-desktop", help="add slotviewer to the Linux desktop menu (.desktop entry and icon)")
    p.add_argument("--uninstall", action="store_true", help="remove them again")
    p.set_defaults(func=cmd_install_desktop)

    p = sub.add_parser("bundle", help="build the desktop app with PyInstaller (no torch) and smoke-test it")
    p.add_argument("--dist", default="dist", help="the app goes to DIST/slotviewer/")
    p.add_argument("--work", default="build", help="PyInstaller's work folder (and the smoke test's outputs)")
    p.add_argument("--no-test", action="store_true", help="build only")
    p.add_argument("--with-video", action="store_true",
                   help="include OpenCV (video files, cameras, faster writing of large outputs; about +150 MB)")
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser("data", help="data set tools")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    g = data_sub.add_parser("generate", help="write procedural scenes as DIR/images and DIR/masks")
    g.add_argument("kind", choices=sorted(_generator_names()))
    g.add_argument("--n", type=_positive, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=_seed, default=0)
    g.set_defaults(func=cmd_data_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # plain `slotviewer` opens the app
        args = parser.parse_args(["gui"])
    # SIGTERM (a killed job) stops a command as Ctrl-C does: the same saving and cleaning up, the same exit
    # status; the app handles its own signals. Restored after, for callers in longer-lived processes (tests).
    previous = _interrupt_on_term() if args.command != "gui" else {}
    try:
        return args.func(args)
    except (SlotviewerError, OSError) as exc:
        print(f"slotviewer: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C outside the places that save on it: what was written is whole
        print(f"slotviewer {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except ModuleNotFoundError as exc:  # torch in a torch-free install; the packaged app leaves torch's modules out
        frozen_out = getattr(sys, "frozen", False) and (exc.name or "").startswith("slotviewer.")
        if exc.name not in ("torch", "onnx", "onnxscript") and not frozen_out:
            raise
        print(f"slotviewer: error: `slotviewer {args.command}` needs torch, which this install does not have "
              f"({install_hint('torch')}); the app and `run` use ONNX Runtime without it",
              file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())

"""Training loop: resumable, checkpointed, interruptible, with a progress bar and an FG-ARI curve.

A run writes next to `OUT` (a path stem such as `models/shapes`):
- `OUT.safetensors` + `OUT.json` — the model, written at the end (and on Ctrl-C);
- `OUT.train.safetensors` + `OUT.train.json` — model + optimiser state for `--resume`;
- `OUT.curve.csv` — minutes, step, loss, FG-ARI on a fixed validation set.

Under `torchrun --nproc_per_node N -m slotviewer train …` it runs DistributedDataParallel (gloo on CPU,
NCCL on CUDA): each rank draws its own scenes, gradients are averaged, and rank 0 alone writes the
progress bar, the curve, the checkpoints and the model.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from slotviewer.data import (
    CLIP_GENERATORS,
    CLIP_STILLS,
    GENERATORS,
    FolderDataset,
    check_folder_exists,
    generate,
    generate_clips,
    load_scenes,
)
from slotviewer.data.tfrecord import TFRecordScenes, split_spec
from slotviewer.engine.trace import COLOUR_DEAD_ZONE, COLOUR_TOLERANCE, LABELS
from slotviewer.errors import ModelFileError, SlotviewerError
from slotviewer.io.atomic import write_text, write_with
from slotviewer.metrics import fg_ari, psnr
from slotviewer.model.autoencoder import SlotAutoencoder, best_of_draws
from slotviewer.model.clips import ClipAutoencoder
from slotviewer.model.config import ModelCard, ModelConfig
from slotviewer.model.device import resolve_torch_device
from slotviewer.model.files import model_paths, with_ext
from slotviewer.model.networks import mse
from slotviewer.model.weights import save_model, weight_tensors
from slotviewer.precision import PRECISIONS, PrecisionChoice, autocast, choose_precision
from slotviewer.progress import progress_bar

EVAL_SEED = 1_000_003  # evaluation scenes come from a stream training (seed < 1e6) never touches


@dataclass
class TrainSettings:
    dataset: str
    out: str
    steps: int = 50_000
    batch: int = 32
    lr: float = 8e-4
    warmup: int = 1_000
    half_life: int = 0  # steps per halving of the lr after warm-up; 0 = steps // 3
    clip: float = 1.0
    seed: int = 0
    checkpoint_minutes: float = 5.0
    eval_minutes: float = 3.0
    eval_samples: int = 256
    threads: int = 0
    device: str = "auto"
    init_from: str = ""  # a model or checkpoint whose matching tensors start this run (a curriculum)
    mask_consistency: float = 0.0  # weight of `mask_consistency_loss`; 0 = the paper's plain MSE
    freeze: tuple[str, ...] = ()  # parameter-name prefixes kept fixed, e.g. ("encoder", "slot_attention")
    config: dict = field(default_factory=dict)
    # "bf16": autocast matmuls/convolutions (softmaxes, composite and loss stay fp32); "auto": the faster of the
    # two on this machine, timed on the run's first batch (`slotviewer.precision`)
    precision: str = "fp32"
    # NHWC convolutions; None = on a CPU (oneDNN's NHWC kernels made a shapes step 1.12× faster there;
    # on CUDA it is untested, so it stays a choice)
    channels_last: bool | None = None
    val: str = ""  # validation data (a generator, folder or TFRecord); "" = the training data
    log_every: int = 20  # steps between reading the loss back from the device (each read is a sync)
    clip_frames: int = 0  # > 1: train on clips of this many frames with carry-over (SAVi); 0 = still images
    iters_per_frame: int = 1  # Slot Attention iterations on each carried frame of a clip
    command: str = ""  # the command line that started the run, for the model card
    # write the weights of the best validation FG-ARI seen instead of the last ones (`Trainer.best`): FG-ARI
    # wanders by ±0.05 over a run while the loss falls, and the last evaluation is as often a dip as a peak
    keep_best: bool = False


@dataclass(frozen=True)
class World:
    """This process's place in a distributed run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def distributed_world() -> World:
    """Read torchrun's environment; a single process when it is absent."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done, then raise KeyboardInterrupt: an optimiser step is
    applied whole or not at all, so a run saved on Ctrl-C resumes exactly. (Signals reach only the main
    thread; elsewhere the block just runs.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: caught.append(signum))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        raise KeyboardInterrupt


def batch_source(settings: TrainSettings, resolution: int, world: World = World()) -> Callable[[int], np.ndarray]:
    """`step -> images [B, H, W, 3] uint8` for this rank, a pure function of (seed, step, rank) so
    resuming is exact; ranks draw disjoint scenes."""
    b, rank, size = settings.batch, world.rank, world.size
    if settings.dataset in CLIP_GENERATORS:
        return lambda step: generate_clips(settings.dataset, b, settings.clip_frames, settings.seed,
                                           (step * size + rank) * b)[0]
    if settings.dataset in GENERATORS:
        first = generate(settings.dataset, 1, settings.seed)[0].shape[1]
        if first != resolution:
            raise SlotviewerError(f"{settings.dataset} scenes are {first}×{first} but the model expects {resolution}")
        return lambda step: generate(settings.dataset, b, settings.seed, (step * size + rank) * b)[0]
    tfrecord = split_spec(settings.dataset)
    if tfrecord is not None:
        return TFRecordBatches(TFRecordScenes(*tfrecord, resolution), b, settings.eval_samples, world)
    check_folder_exists(settings.dataset)
    folder = FolderDataset(settings.dataset, resolution)

    def from_folder(step: int) -> np.ndarray:
        rng = np.random.default_rng([settings.seed, step] if size == 1 else [settings.seed, step, rank])
        return folder.batch(rng.integers(0, len(folder), b))[0]

    return from_folder


class TFRecordBatches:
    """Batches streamed from a TFRecord file in file order (the published files are already shuffled),
    after the validation records; asking for a step out of order (a resumed run) re-opens the stream there."""

    def __init__(self, scenes: TFRecordScenes, batch: int, holdout: int, world: World) -> None:
        self.scenes, self.batch, self.holdout, self.world = scenes, batch, holdout, world
        self.next_step, self.stream = -1, iter(())

    def __call__(self, step: int) -> np.ndarray:
        if step != self.next_step:
            start = step * self.batch * self.world.size
            self.stream = self.scenes.stream(self.holdout, start, self.world.rank, self.world.size)
        self.next_step = step + 1
        return np.stack([next(self.stream) for _ in range(self.batch)])


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` → float `[B, 3, H, W]` in [0, 1] (clips: `[B, L, H, W, 3]` → `[B, L, 3, H, W]`)."""
    return torch.from_numpy(images).to(device).movedim(-1, -3).float().div_(255)


@torch.no_grad()
def evaluate_scenes(model: SlotAutoencoder, images: np.ndarray, masks: np.ndarray | None,
                    batch: int = 64, draws: int = 1,
                    on_batch: Callable[[int], object] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-image FG-ARI of both segmentations (`LABELS`: the decoder's alpha, as the papers score it, and
    the colour posterior the product labels with) and reconstruction MSE; FG-ARI is all NaN without masks.
    `draws` > 1 scores the best of that many initial slot sets, as inference runs a model whose config
    asks for it (`ModelConfig.draws`). `on_batch(n)` is told each batch's size (a progress bar)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    labels: dict[str, list[np.ndarray]] = {by: [] for by in LABELS}
    errors = []
    for i in range(0, len(images), batch):
        x = to_tensor(images[i : i + batch], device)
        generator = torch.Generator(device).manual_seed(i)
        out = model(x, generator=generator) if draws == 1 else best_of_draws(model, x, draws, generator=generator)
        labels["alpha"].append(out.alpha_logits.argmax(dim=1).cpu().numpy())
        posterior = out.posterior_logits(x, COLOUR_TOLERANCE, COLOUR_DEAD_ZONE)
        labels["posterior"].append(posterior.argmax(dim=1).cpu().numpy())
        errors.append((out.reconstruction.float() - x).pow(2).mean(dim=(1, 2, 3)).cpu().numpy())
        if on_batch is not None:
            on_batch(len(x))
    model.train(was_training)
    scores = {by: fg_ari(masks, np.concatenate(found)) if masks is not None else np.full(len(images), np.nan)
              for by, found in labels.items()}
    return scores, np.concatenate(errors)


def evaluate(model: SlotAutoencoder, images: np.ndarray, masks: np.ndarray, batch: int = 64,
             draws: int = 1, by: str = "alpha") -> np.ndarray:
    """Per-image FG-ARI of the argmax-alpha segmentation (or `by` another of `LABELS`) against the masks."""
    return evaluate_scenes(model, images, masks, batch, draws)[0][by]


def read_curve(path: Path) -> list[list[float]]:
    """[minutes, FG-ARI] rows of a run's curve file (`OUT.curve.csv`), for a model card; none if unreadable."""
    try:
        with open(path, newline="") as f:
            return [[float(row["minutes"]), float(row["fg_ari"])] for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return []


def held_out_scores(model: SlotAutoencoder, images: np.ndarray, masks: np.ndarray | None) -> tuple[dict, dict]:
    """The card's (FG-ARI, reconstruction) records on held-out scenes, at the model's own T and draws;
    FG-ARI is empty without masks."""
    cfg = model.cfg
    scores, errors = evaluate_scenes(model, images, masks, draws=cfg.draws)
    alpha, posterior = scores["alpha"], scores["posterior"]
    fg_ari = {} if masks is None else {"mean": round(float(np.nanmean(alpha)), 4),
                                       "std": round(float(np.nanstd(alpha)), 4), "n": len(images),
                                       "iters": cfg.iters, "draws": cfg.draws,
                                       "posterior": {"mean": round(float(np.nanmean(posterior)), 4),
                                                     "std": round(float(np.nanstd(posterior)), 4)}}
    reconstruction = {"psnr_db": round(psnr(errors), 2), "mse": round(float(errors.mean()), 6), "n": len(images),
                      "draws": cfg.draws}
    return fg_ari, reconstruction


def _best_step(path: Path) -> int | None:
    """The step whose weights a `keep_best` file holds (None: no such file, or unreadable)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return int((f.metadata() or {}).get("step", -1))
    except (SafetensorError, OSError, ValueError):
        return None


def mask_consistency_loss(alpha: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the decoder's masks `[B, K, H, W]` against Slot Attention's last attention
    `[B, K, N]` (held fixed). Why: attention assigns each pixel from its own features and segments
    better than the decoder's masks, which must be drawn from the slot vector alone; MSE barely
    punishes a mask error between similar colours, this loss punishes every one, and its gradient
    pushes shape information into the slots."""
    side = math.isqrt(attention.shape[-1])
    pooled = F.adaptive_avg_pool2d(alpha.float(), side).flatten(2)
    return -(attention.detach().float() * pooled.clamp_min(1e-6).log()).sum(1).mean()


def check_clip_settings(settings: TrainSettings) -> None:
    """Clip training needs a clip generator and vice versa; say so before any work starts."""
    clips = settings.dataset in CLIP_GENERATORS
    if clips and settings.clip_frames < 2:
        raise SlotviewerError(f"{settings.dataset} is a clip generator: give --clip-frames N (N ≥ 2)")
    if settings.clip_frames and not clips:
        raise SlotviewerError(f"--clip-frames needs a clip generator ({', '.join(CLIP_GENERATORS)}), "
                              f"not {settings.dataset}")
    if settings.clip_frames and settings.mask_consistency:
        raise SlotviewerError("--mask-consistency is for still images; it cannot be combined with --clip-frames")
    if settings.clip_frames and settings.iters_per_frame < 1:
        raise SlotviewerError(f"--iters-per-frame must be ≥ 1 for training, got {settings.iters_per_frame}")


def learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then exponential decay (the paper's schedule, rescaled to the run's length)."""
    half_life = settings.half_life or max(settings.steps // 3, 1)
    warm = min(1.0, (step + 1) / max(settings.warmup, 1))
    return settings.lr * warm * 0.5 ** (max(step - settings.warmup, 0) / half_life)


def command_line() -> str:
    """How this process was started, e.g. `slotviewer train --dataset shapes …`, for the model card."""
    return shlex.join(["slotviewer", *sys.argv[1:]])


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class Trainer:
    """Owns the model, the optimiser and the files of one run."""

    def __init__(self, settings: TrainSettings, resume: bool = False) -> None:
        self.s = settings
        if settings.precision not in PRECISIONS:
            raise SlotviewerError(f"precision must be one of {', '.join(PRECISIONS)}, not {settings.precision!r}")
        check_clip_settings(settings)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.world = distributed_world()
        self.device = resolve_torch_device(settings.device)
        if self.world.size > 1:
            self._init_distributed()
        self.out = Path(settings.out)
        self.ckpt = self.out.with_name(self.out.name + ".train.safetensors")
        self.ckpt_json = self.out.with_name(self.out.name + ".train.json")
        self.curve_path = self.out.with_name(self.out.name + ".curve.csv")
        if self.world.main:  # the first curve row or checkpoint must not fail minutes into a run
            self.out.parent.mkdir(parents=True, exist_ok=True)
        self.step, self.elapsed = 0, 0.0
        self.loss_avg = math.nan  # running mean of the reconstruction error (the curve's `loss`), kept by resume
        self.best_path = self.out.with_name(self.out.name + ".best.safetensors")
        self.best: tuple[int, float] | None = None  # (step, validation FG-ARI) of the weights in `best_path`
        self.last_eval_step = -1
        state = self._read_checkpoint() if resume else None  # read once: config, precision, optimiser, step
        cfg = ModelConfig.from_dict(settings.config if state is None else state["config"])
        torch.manual_seed(settings.seed)
        self.model = SlotAutoencoder(cfg).to(self.device)
        self.channels_last = self.device.type == "cpu" if settings.channels_last is None else settings.channels_last
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._freeze(settings.freeze)
        self.optim = torch.optim.Adam(self.model.parameters(), lr=settings.lr)
        if state is not None:
            self._load_state(state)
        elif settings.init_from:
            self.warm_start(settings.init_from)
        self.batches = batch_source(settings, cfg.resolution, self.world)
        self.precision = self._choose_precision(state)
        self.net: torch.nn.Module = (ClipAutoencoder(self.model, settings.iters_per_frame) if settings.clip_frames
                                     else self.model)
        if self.world.size > 1:  # broadcasts rank 0's weights, then averages gradients every step
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.val = self._validation_set(cfg.resolution) if self.world.main else None
        if self.world.main:
            self._trim_curve()

    def _choose_precision(self, checkpoint: dict | None) -> PrecisionChoice:
        """The run's precision; `auto` is timed once and kept by `--resume` (a run does not change precision
        with the machine's load), and every rank trains in rank 0's choice."""
        kept = (checkpoint or {}).get("precision")
        if self.s.precision == "auto" and kept:
            choice = PrecisionChoice(kept, "auto: as the run started")
        else:
            choice = choose_precision(self.s.precision, self.device, self._probe_step)
        if self.world.size > 1:
            import torch.distributed as dist

            shared = [choice]
            dist.broadcast_object_list(shared, src=0)
            choice = shared[0]
        if self.world.main:
            print(f"precision: {choice.describe()}")
        return choice

    def _probe_step(self, precision: str) -> None:
        """Forward and backward of this run's next batch (still images; a clip's first frames), gradients
        dropped: what a training step costs, without changing the weights or the optimiser."""
        images = self.batches(self.step)
        x = to_tensor(images if images.ndim == 4 else images[:, 0], self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(precision, self.device):
            out = self.model(x, generator=torch.Generator(self.device).manual_seed(0))
        mse(out.reconstruction, x).backward()
        self.optim.zero_grad(set_to_none=True)

    def _init_distributed(self) -> None:
        import torch.distributed as dist

        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def val_data(self) -> str:
        return self.s.val or CLIP_STILLS.get(self.s.dataset, self.s.dataset)

    def _validation_set(self, resolution: int) -> tuple[np.ndarray, np.ndarray] | None:
        images, masks = load_scenes(self.val_data, self.s.eval_samples, resolution, EVAL_SEED)
        return None if masks is None else (images, masks)

    def _freeze(self, prefixes: tuple[str, ...]) -> None:
        """Keep some parts fixed, e.g. to fit a new decoder to a trained encoder without first
        scrambling the segmentation it already makes with the decoder's early random gradients."""
        names = [name for name, _ in self.model.named_parameters()]
        for prefix in prefixes:
            if not any(name.startswith(prefix) for name in names):
                raise SlotviewerError(f"--freeze {prefix}: no parameter starts with it "
                                      f"(parts: {', '.join(sorted({n.split('.')[0] for n in names}))})")
        for name, param in self.model.named_parameters():
            param.requires_grad_(not name.startswith(prefixes))  # startswith(()) is False
        if prefixes and not any(param.requires_grad for param in self.model.parameters()):
            raise SlotviewerError(f"--freeze {','.join(prefixes)}: that is every part, nothing is left to train")

    def warm_start(self, path: str) -> list[str]:
        """Start from another model's weights wherever the shapes match (the convolutions and Slot Attention
        do not depend on resolution or K). Learned queries become a Gaussian's mean and spread when this
        model draws Gaussian slots. Returns the names of tensors that were not copied."""
        file = str(model_paths(path)[0])  # a model name, stem or file (a checkpoint: `x.train.safetensors`)
        try:
            source = {k.removeprefix("model."): v for k, v in load_file(file).items() if not k.startswith("optim.")}
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: cannot warm-start from it ({exc})") from None
        own = self.model.state_dict()
        if "slot_attention.slots_init" in source and "slot_attention.slots_mu" in own:
            queries = source.pop("slot_attention.slots_init")[0]
            source["slot_attention.slots_mu"] = queries.mean(0).view(1, 1, -1)
            source["slot_attention.slots_logsigma"] = queries.std(0).clamp_min(1e-3).log().view(1, 1, -1)
        copied = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
        self.model.load_state_dict(copied, strict=False)
        skipped = sorted(set(own) - set(copied))
        print(f"warm start from {path}: copied {len(copied)} tensors, kept {len(skipped)} fresh {skipped}")
        return skipped

    def _read_checkpoint(self) -> dict:
        try:
            return json.loads(self.ckpt_json.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{self.ckpt_json}: cannot resume ({exc})") from None

    def _load_state(self, meta: dict) -> None:
        try:
            tensors = load_file(str(self.ckpt))
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"{self.ckpt}: cannot resume ({exc})") from None
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optim_state = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".")
                optim_state.setdefault(int(index), {})[name] = value.to(self.device)
        self.optim.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
        self.step, self.elapsed = meta["step"], meta["elapsed"]
        kept = meta.get("loss_avg")  # None in checkpoints made before it was kept: the mean starts anew
        self.loss_avg = math.nan if kept is None else float(kept)
        best = meta.get("best")
        if self.s.keep_best and best is not None and _best_step(self.best_path) == int(best[0]):
            self.best = (int(best[0]), float(best[1]))  # else the file is from a later, killed part of the run

    def save_checkpoint(self) -> None:
        tensors = {f"model.{k}": v for k, v in weight_tensors(self.model).items()}
        state = self.optim.state_dict()
        for index, values in state["state"].items():
            for name, value in values.items():
                tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
        write_with(self.ckpt, lambda tmp: save_file(tensors, str(tmp)))
        meta = {"step": self.step, "elapsed": self.elapsed, "config": self.model.cfg.to_dict(),
                "param_groups": state["param_groups"], "settings": self.s.__dict__,
                "precision": self.precision.precision, "loss_avg": None if math.isnan(self.loss_avg) else self.loss_avg,
                "best": self.best}
        write_text(self.ckpt_json, json.dumps(meta, indent=2))

    def _trim_curve(self) -> None:
        """Keep only the curve rows up to the step this run starts from: a run killed after its last
        checkpoint logged rows that the resumed run logs again (a fresh start keeps none)."""
        try:
            with open(self.curve_path, newline="") as f:
                rows = list(csv.reader(f))
        except FileNotFoundError:
            return
        if not rows:
            return
        kept = [row for row in rows[1:] if row and row[1].isdigit() and int(row[1]) <= self.step]
        if len(kept) != len(rows) - 1:
            text = io.StringIO()
            csv.writer(text).writerows([rows[0], *kept])  # as `_log_curve` writes them
            write_text(self.curve_path, text.getvalue())

    def _log_curve(self, loss: float, score: float) -> None:
        new = not self.curve_path.exists()
        with open(self.curve_path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["minutes", "step", "loss", "fg_ari"])
            writer.writerow([f"{self.elapsed / 60:.2f}", self.step, f"{loss:.6f}", f"{score:.4f}"])

    def train_step(self, images: np.ndarray) -> torch.Tensor:
        """One optimiser step; returns the reconstruction error as a 0-d tensor on the device (reading
        it back forces a sync, so the caller does that only every `log_every` steps)."""
        for group in self.optim.param_groups:
            group["lr"] = learning_rate(self.s, self.step)
        x = to_tensor(images, self.device)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        # initial-slot noise is a function of (seed, step, rank) too, so a resumed run is the same run
        seed = self.s.seed * 1_000_003 + self.step + self.world.rank * 7_919_011
        generator = torch.Generator(self.device).manual_seed(seed)
        with autocast(self.precision.precision, self.device):
            out = self.net(x, generator=generator)
        if self.s.clip_frames:  # (reconstructions, alpha logits) of every frame of every clip
            return self._optimise(mse(out[0], x))
        loss = mse(out.reconstruction, x)
        extra = None
        if self.s.mask_consistency:
            extra = self.s.mask_consistency * mask_consistency_loss(out.alpha, out.attention[-1])
        return self._optimise(loss, extra)

    def _optimise(self, loss: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Back-propagate `loss + extra` and step; returns `loss`, the reconstruction error alone
        (comparable across runs), as a 0-d tensor still on the device."""
        self.optim.zero_grad(set_to_none=True)
        (loss if extra is None else loss + extra).backward()
        if self.s.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.s.clip, foreach=True)
        with interrupts_deferred():  # Ctrl-C inside would save half-updated weights and Adam moments
            self.optim.step()
            self.step += 1
        return loss.detach()

    def _prefetched(self) -> Iterator[np.ndarray]:
        """Batches for steps `self.step, …`, the next drawn on a thread while this one trains."""
        with ThreadPoolExecutor(1, thread_name_prefix="batches") as pool:
            step = self.step
            pending: Future = pool.submit(self.batches, step)
            while True:
                images = pending.result()
                step += 1
                pending = pool.submit(self.batches, step)
                yield images

    def run(self, final_eval: int = 1000) -> Path:
        """Train until `steps`, then write the model with FG-ARI on `final_eval` fresh scenes.

        Ctrl-C saves the checkpoint and the model (without the final evaluation) and returns normally.
        """
        self.model.train()
        main = self.world.main
        last_ckpt = last_eval = time.monotonic()
        bar = progress_bar(self.s.steps, f"train {self.out.name}", "step", initial=self.step, disable=not main)
        pending: list[torch.Tensor] = []
        batches = self._prefetched()
        try:
            while self.step < self.s.steps:
                t0 = time.monotonic()
                pending.append(self.train_step(next(batches)))
                self.elapsed += time.monotonic() - t0
                bar.update(1)
                if len(pending) < self.s.log_every and self.step < self.s.steps:
                    continue
                for loss in torch.stack(pending).tolist():  # one sync for the last `log_every` steps
                    self.loss_avg = loss if math.isnan(self.loss_avg) else 0.98 * self.loss_avg + 0.02 * loss
                pending.clear()
                speed = self.s.batch * self.world.size * self.step / max(self.elapsed, 1e-9)
                bar.set_postfix(loss=f"{self.loss_avg:.5f}", img_s=f"{speed:.0f}")
                now = time.monotonic()
                if main and self.val is not None and now - last_eval > self.s.eval_minutes * 60:
                    bar.write(self._validate())
                    last_eval = time.monotonic()
                if main and now - last_ckpt > self.s.checkpoint_minutes * 60:
                    self.save_checkpoint()
                    last_ckpt = now
            if main and self.s.keep_best and self.val is not None and self.last_eval_step != self.step:
                bar.write(self._validate())  # the last steps' weights compete too
        except KeyboardInterrupt:
            bar.write("interrupted: saving checkpoint and model")
            final_eval = 0
        finally:
            bar.close()
            batches.close()
        if main:
            self.save_checkpoint()
            try:
                path = self.finish(final_eval)
            except KeyboardInterrupt:  # Ctrl-C during the final scoring: the trained model is not lost to it
                print("interrupted during the final scoring: writing the model without it", file=sys.stderr)
                path = self.finish(0)
        else:
            path = with_ext(self.out, ".safetensors")
        if self.world.size > 1:  # every rank returns once rank 0's files are written (a resume may follow)
            import torch.distributed as dist

            dist.barrier()
        return path

    def _validate(self) -> str:
        """Score the validation scenes, log the curve row and, with `keep_best`, keep these weights if they
        score best so far. Returns the line to print."""
        score = float(np.nanmean(evaluate(self.model, *self.val)))
        self._log_curve(self.loss_avg, score)
        self.last_eval_step = self.step
        line = f"step {self.step}: {self.elapsed / 60:.1f} min, loss {self.loss_avg:.5f}, FG-ARI {score:.3f}"
        if self.s.keep_best and (self.best is None or score > self.best[1]):
            tensors = weight_tensors(self.model)
            write_with(self.best_path, lambda tmp: save_file(tensors, str(tmp), metadata={"step": str(self.step)}))
            self.best = (self.step, score)
            self.save_checkpoint()  # so that a resume knows which weights the file holds
            line += " (best so far, kept)"
        return line

    def _model_to_write(self) -> tuple[SlotAutoencoder, str]:
        """The weights the run writes: the last ones, or with `keep_best` the best-scoring ones (a copy, so
        the training state stays as it is), and a note for the card saying which."""
        if not self.s.keep_best:
            return self.model, ""
        if self.best is None or self.best[0] == self.step:
            why = "no validation scores to choose by" if self.best is None else "the best validation FG-ARI of the run"
            return self.model, f"; weights of the last step ({why})"
        try:
            tensors = load_file(str(self.best_path))
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"{self.best_path}: cannot read the best weights ({exc})") from None
        model = SlotAutoencoder(self.model.cfg)
        model.load_state_dict(tensors)
        step, score = self.best
        return model.to(self.device), (f"; weights of step {step:,}, the best validation FG-ARI of the run "
                                       f"({score:.3f} on {self.s.eval_samples} scenes)")

    def trained_on(self) -> str:
        """`cpu, 2 thread(s), bf16` / `cuda (NVIDIA H200), bf16`: what the card's time and numbers came from."""
        where = (f" ({torch.cuda.get_device_name()})" if self.device.type == "cuda"
                 else f", {torch.get_num_threads()} thread(s)")
        return f"{self.device.type}{where}, {self.precision.precision}"

    def finish(self, eval_samples: int = 0) -> Path:
        """Write the model with its card; FG-ARI on `eval_samples` fresh scenes when asked."""
        model, which = self._model_to_write()
        card = ModelCard(
            dataset=self.s.dataset, steps=self.step, batch=self.s.batch, wall_clock_s=round(self.elapsed, 1),
            trained_on=self.trained_on(),
            commit=git_commit(),
            notes=f"slot init: {self.model.cfg.slot_init}; lr {self.s.lr}, warm-up {self.s.warmup}"
            + (f"; {self.precision.describe()}" if self.s.precision != "fp32" else "")
            + (f"; {self.world.size} processes (DDP), batch {self.s.batch} each" if self.world.size > 1 else "")
            + (f"; warm start from {self.s.init_from}" if self.s.init_from else "")
            + (f"; frozen: {', '.join(self.s.freeze)}" if self.s.freeze else "")
            + (f"; mask consistency {self.s.mask_consistency}" if self.s.mask_consistency else "")
            + (f"; clips of {self.s.clip_frames} frames with carry-over, {self.s.iters_per_frame} iteration(s) per "
               f"carried frame" if self.s.clip_frames else "")
            + which,
            curve=read_curve(self.curve_path),
            command=self.s.command,
        )
        if eval_samples:
            fresh = self.val_data in GENERATORS  # other data: the validation scenes again
            images, masks = load_scenes(self.val_data, eval_samples if fresh else self.s.eval_samples,
                                        self.model.cfg.resolution, EVAL_SEED + 1 if fresh else EVAL_SEED)
            fg_ari, reconstruction = held_out_scores(model, images, masks)
            # a folder trains on all its images, its validation ones included: say so on the card
            held_out = fresh or self.val_data != self.s.dataset or split_spec(self.s.dataset) is not None
            record = {"data": self.val_data} | ({} if held_out else {
                "held_out": False, "note": "scored on training images (a folder has no held-out split: give --val)"})
            card.fg_ari = fg_ari and fg_ari | record
            card.reconstruction = reconstruction | record
        weights, _ = save_model(model.cpu().eval(), self.out, card)
        model.to(self.device)
        return weights

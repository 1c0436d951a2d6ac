"""`slotviewer adapt`: fit a copy of a trained model to the user's own unlabelled images.

Unsupervised: the only signal is the reconstruction error (Slot-TTA, Prabhudesai et al. 2023), plus
optionally the mask-consistency term training uses. The recipe's defaults (what adapts, the learning
rate, the number of steps) are the ones measured in the README; reconstruction alone rewards
splitting objects, so the defaults adapt only some parts and only for a short while.

The adapted model is a normal model (`OUT.safetensors`, `OUT.json`, ONNX graphs) whose card says what
it was adapted on. Ctrl-C stops early and still saves.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from slotviewer.engine.engine import Engine
from slotviewer.engine.preprocess import model_input
from slotviewer.errors import InputError, SlotviewerError
from slotviewer.io.images import MAX_FOLDER_IMAGES
from slotviewer.metrics import error_trend
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.config import ModelCard
from slotviewer.model.files import GRAPH_ENDINGS, strip_model_suffix, with_ext
from slotviewer.model.networks import mse
from slotviewer.model.weights import LoadedModel, load_model, save_model
from slotviewer.progress import progress_bar
from slotviewer.train import mask_consistency_loss

MAX_IMAGES = MAX_FOLDER_IMAGES  # frames kept from a video (evenly spaced) or images from a folder
UNTIL_TIME_UP = 10**9  # the step budget of a run given only --minutes


@dataclass
class AdaptSettings:
    steps: int = 120
    minutes: float = 0.0  # > 0: stop after this long instead (whichever comes first, with steps)
    lr: float = 3e-4
    batch: int = 8
    parts: tuple[str, ...] = ("decoder",)  # parameter-name prefixes that adapt; the rest stays fixed
    mask_consistency: float = 0.01
    augment: bool = True
    seed: int = 0
    train_iters: int = 3  # Slot Attention iterations while adapting (the shipped models trained with 3)
    view_consistency: float = 0.0  # weight of `affinity_consistency` between an image and its mirror image


def load_unlabelled(data: str | Path, resolution: int, max_images: int = MAX_IMAGES) -> np.ndarray:
    """Images of a folder (or its `images/`), a video / animated GIF, or one image, as float
    `[N, 3, R, R]` in [0, 1] at the model's resolution."""
    from slotviewer.io.images import folder_images, read_image

    path = Path(data)
    if not path.exists():
        raise InputError(f"{path}: not found")
    frames: list[np.ndarray] = []
    if path.is_dir():
        frames = [model_input(read_image(p), resolution)[0] for p in folder_images(path, max_images)]
    else:
        from slotviewer.io.sources import is_video_path, open_source

        if is_video_path(path):
            with open_source(path) as source:
                count = source.frame_count or 0
                step = max(1, count // max_images) if count else 1
                index = 0
                while len(frames) < max_images and (frame := source.read()) is not None:
                    if index % step == 0:
                        frames.append(model_input(frame.image, resolution)[0])
                    index += 1
            if not frames:
                raise InputError(f"{path}: no frames could be read")
        else:
            frames = [model_input(read_image(path), resolution)[0]]
    return np.stack(frames).astype(np.float32)


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flips, 90° turns and a random crop of 80–100 % resized back: the scene's objects stay objects,
    so the copy learns their appearance rather than one fixed view of each image."""
    b, _, r, _ = batch.shape
    out = []
    for image in batch:
        if torch.rand(1, generator=generator) < 0.5:
            image = image.flip(-1)
        image = torch.rot90(image, int(torch.randint(4, (1,), generator=generator)), dims=(-2, -1))
        side = int(r * (0.8 + 0.2 * float(torch.rand(1, generator=generator))))
        if side < r:
            y, x = (int(v) for v in torch.randint(r - side + 1, (2,), generator=generator))
            crop = image[:, y : y + side, x : x + side].unsqueeze(0)
            image = torch.nn.functional.interpolate(crop, size=(r, r), mode="bilinear", align_corners=False)[0]
        out.append(image)
    return torch.stack(out)


def affinity_consistency(alpha: torch.Tensor, alpha_mirrored: torch.Tensor, side: int = 16) -> torch.Tensor:
    """How differently two views group the pixels: the masks `[B, K, H, W]` of an image and of its mirror
    image (mirrored back) are pooled to `side`², and their pixel-affinity matrices `Aᵀ A` compared. Affinities
    do not depend on which slot took which object, so the two runs' slot orders need not match."""
    a = torch.nn.functional.adaptive_avg_pool2d(alpha.float(), side).flatten(2)
    b = torch.nn.functional.adaptive_avg_pool2d(alpha_mirrored.float().flip(-1), side).flatten(2)
    return (a.transpose(1, 2) @ a - b.transpose(1, 2) @ b).pow(2).mean()


class Adapter:
    """Adapts a copy of `model`; `run` returns it. Used by `slotviewer adapt` (a data set) and by
    `slotviewer run --adapt N` (one image)."""

    def __init__(self, model: SlotAutoencoder, images: np.ndarray, settings: AdaptSettings) -> None:
        self.s = settings
        self.model = copy.deepcopy(model).float().train()
        self.device = next(self.model.parameters()).device
        self.images = torch.from_numpy(images).to(self.device)
        names = [n for n, _ in self.model.named_parameters()]
        for prefix in settings.parts:
            if not any(n.startswith(prefix) for n in names):
                raise SlotviewerError(f"adapt: no parameter starts with {prefix!r} (parts: "
                                      f"{', '.join(sorted({n.split('.')[0] for n in names}))})")
        trainable = []
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.startswith(settings.parts))
            if param.requires_grad:
                trainable.append(param)
        self.optim = torch.optim.Adam(trainable, lr=settings.lr)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.step = 0
        self.errors: list[float] = []

    def train_step(self) -> float:
        index = torch.randint(len(self.images), (self.s.batch,), generator=self.generator)
        x = self.images[index.to(self.device)]
        if self.s.augment:
            x = augment(x, self.generator)
        noise = torch.randn(x.shape[0], self.model.cfg.num_slots, self.model.cfg.slot_dim, generator=self.generator)
        if self.model.cfg.slot_init == "learned":
            noise.zero_()  # learned queries adapt from the queries themselves, as they were trained (no jitter)
        out = self.model(x, iters=self.s.train_iters, noise=noise.to(self.device))
        loss = mse(out.reconstruction, x)
        total = loss
        if self.s.mask_consistency:
            total = loss + self.s.mask_consistency * mask_consistency_loss(out.alpha, out.attention[-1])
        if self.s.view_consistency:
            mirrored = self.model(x.flip(-1), iters=self.s.train_iters, noise=noise.to(self.device))
            total = total + mse(mirrored.reconstruction, x.flip(-1))
            total = total + self.s.view_consistency * affinity_consistency(out.alpha, mirrored.alpha)
        self.optim.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.optim.param_groups for p in g["params"]], 1.0)
        self.optim.step()
        self.step += 1
        self.errors.append(float(loss.detach()))
        return self.errors[-1]

    def run(self, progress: bool = True, desc: str = "adapt") -> SlotAutoencoder:
        """Adapt for `steps` (or `minutes`); Ctrl-C stops early. Returns the adapted copy in eval mode."""
        started = time.monotonic()
        deadline = started + self.s.minutes * 60 if self.s.minutes > 0 else float("inf")
        timed = self.s.minutes > 0 and self.s.steps >= UNTIL_TIME_UP  # --minutes alone: the bar counts seconds
        total, unit = (round(self.s.minutes * 60), "s") if timed else (self.s.steps, "step")
        bar = progress_bar(total, desc, unit, disable=not progress)
        average = float("nan")
        try:
            while self.step < self.s.steps and time.monotonic() < deadline:
                error = self.train_step()
                average = error if np.isnan(average) else 0.9 * average + 0.1 * error
                bar.update(min(total, round(time.monotonic() - started)) - bar.n if timed else 1)
                bar.set_postfix(**({"steps": self.step} if timed else {}), recon_mse=f"{average:.5f}")
        except KeyboardInterrupt:
            bar.write(f"interrupted at step {self.step}: saving what was adapted so far")
        finally:
            bar.close()
        return self.model.eval()


def adapted_card(loaded: LoadedModel, adapted_on: str, adapter: Adapter, seconds: float, by: str) -> ModelCard:
    """The original's card, saying what the copy was adapted on and how (`by`: the command or the app's
    action), with the training batches' reconstruction error at the start and the end. Its FG-ARI and PSNR
    stay the original's: nothing labelled was measured."""
    s = adapter.s
    first, last = error_trend(adapter.errors)
    card = loaded.card
    return dataclasses.replace(
        card,
        adapted_on=adapted_on,
        notes=(card.notes + "; " if card.notes else "")
        + f"adapted from {loaded.name} ({loaded.sha256[:12]}) by {by}: {adapter.step} steps in {seconds:.0f} s, "
        f"lr {s.lr}, batch {s.batch}, parts {','.join(s.parts)}, mask consistency {s.mask_consistency}, "
        f"augment {'on' if s.augment else 'off'}; reconstruction MSE {first:.5f} → {last:.5f} "
        "(training batches); FG-ARI and PSNR above are the original model's",
    )


MODEL_FILES = (".safetensors", ".json", *GRAPH_ENDINGS)  # one model's files


def adapt_model(model: str, data: str, out: str, settings: AdaptSettings, onnx: bool = True,
                overwrite: bool = False) -> list[Path]:
    """`slotviewer adapt`: adapt a copy of `model` to `data`, write it to `out` (+ ONNX); returns the files.

    A model already at `out` is replaced only with `overwrite`, and then as a whole: without a new export its
    old ONNX graphs are removed, as they would run the old weights under the new model's name."""
    stem = strip_model_suffix(Path(out))
    old = [with_ext(stem, e) for e in MODEL_FILES if with_ext(stem, e).exists()]
    if old and not overwrite:
        raise SlotviewerError(f"{out}: a model is already there ({', '.join(sorted(f.name for f in old))}); "
                              "use --overwrite to replace it")
    loaded = load_model(model)
    images = load_unlabelled(data, loaded.config.resolution)
    if settings.minutes > 0 and settings.steps <= 0:
        settings = dataclasses.replace(settings, steps=UNTIL_TIME_UP)
    adapter = Adapter(loaded.model, images, settings)
    started = time.monotonic()
    adapted = adapter.run(desc=f"adapt {loaded.name} → {Path(out).name}")
    card = adapted_card(loaded, f"{data} ({len(images)} image(s), unlabelled)", adapter,
                        time.monotonic() - started, "slotviewer adapt")
    weights, config = save_model(adapted.cpu(), out, card)
    written = [weights, config]
    graphs = [with_ext(stem, ending) for ending in GRAPH_ENDINGS]
    if not onnx:  # the old graphs would run the old weights under this model's name
        for stale in graphs:
            stale.unlink(missing_ok=True)
        return written
    from slotviewer.engine.onnx_export import export_onnx

    try:
        written += list(export_onnx(weights, out))
    except KeyboardInterrupt:  # Ctrl-C saves what was adapted (the weights are); graphs half-made are not kept
        for graph in graphs:
            graph.unlink(missing_ok=True)
        print(f"interrupted during the ONNX export: the adapted weights are saved; `slotviewer export-onnx --model "
              f"{weights} --out {stem}` writes the graphs", file=sys.stderr)
    return written


def adapt_engine(engine: Engine, image: np.ndarray, steps: int, seed: int | None = None,
                 settings: AdaptSettings | None = None) -> Engine:
    """`slotviewer run IMG --adapt N`: an engine whose model is a copy adapted for `steps` on augmented
    views of this one image (Slot-TTA). Needs the torch backend (ONNX graphs cannot be trained)."""
    from slotviewer.engine.torch_backend import TorchBackend

    backend = engine.backend
    if not isinstance(backend, TorchBackend):
        raise SlotviewerError("--adapt needs the torch backend (--backend torch)")
    base = settings or AdaptSettings()
    settings = dataclasses.replace(base, steps=steps, seed=base.seed if seed is None else seed)
    images = model_input(image, engine.config.resolution)[0][None].astype(np.float32)
    adapted = copy.copy(backend)
    adapted.model = Adapter(backend.model, images, settings).run(progress=False)
    adapted.model_name = f"{backend.model_name}+adapt{steps}"
    return Engine(adapted)

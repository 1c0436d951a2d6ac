"""Encoder → Slot Attention → broadcast decoder → alpha composite: the whole model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from slotviewer.model.config import ModelConfig
from slotviewer.model.networks import Decoder, Encoder, composite
from slotviewer.model.slot_attention import SlotAttention


@dataclass
class AutoencoderOutput:
    """One forward pass: final outputs plus the per-iteration history the viewer animates."""

    reconstruction: Tensor  # [B, 3, H, W]
    rgb: Tensor  # [B, K, 3, H, W]
    alpha_logits: Tensor  # [B, K, H, W]
    slots: Tensor  # [B, K, D]
    attention: Tensor  # [T, B, K, N]
    slot_history: Tensor  # [T+1, B, K, D]

    @property
    def alpha(self) -> Tensor:
        return self.alpha_logits.float().softmax(dim=1)

    def posterior_logits(self, x: Tensor, tolerance: float, dead_zone: float) -> Tensor:
        """`[B, K, H, W]` logits of p(slot | pixel colour) given the input `x [B, 3, H, W]`: the alpha logits
        minus each slot's colour misfit |x - rgb|² / 2σ² beyond the best slot's + `dead_zone`, σ² the image's
        reconstruction error + `tolerance`² (the torch twin of `slotviewer.engine.trace.posterior`)."""
        variance = (self.reconstruction.float() - x).pow(2).mean(dim=(1, 2, 3)) + tolerance**2
        misfit = (self.rgb.float() - x[:, None]).pow(2).sum(dim=2) / (2 * variance[:, None, None, None])
        misfit = (misfit - misfit.amin(dim=1, keepdim=True) - dead_zone).clamp_min(0)
        return self.alpha_logits.float() - misfit


class SlotAutoencoder(nn.Module):
    """The slot-attention autoencoder; `forward` takes images `[B, 3, H, W]` in [0, 1]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.slot_attention = SlotAttention(
            cfg.num_slots, cfg.slot_dim, cfg.iters, cfg.mlp_hidden, init=cfg.slot_init, implicit=cfg.implicit,
            query_noise=cfg.query_noise,
        )
        self.decoder = Decoder(cfg)

    def decode(self, slots: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Slots `[B, K, D]` → (reconstruction, rgb, alpha logits); used alone for slot surgery."""
        rgb, alpha_logits = self.decoder(slots)
        return composite(rgb, alpha_logits), rgb, alpha_logits

    def forward(
        self,
        image: Tensor,
        num_slots: int | None = None,
        iters: int | None = None,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> AutoencoderOutput:
        features, keys = self.encoder(image)
        slots, attention, history = self.slot_attention(
            features, num_slots=num_slots, iters=iters, noise=noise, generator=generator, keys=keys
        )
        reconstruction, rgb, alpha_logits = self.decode(slots)
        return AutoencoderOutput(reconstruction, rgb, alpha_logits, slots, attention, history)


def draw_noise(batch: int, draws: int, num_slots: int, dim: int, learned: bool,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
    """Standard-normal initial-slot noise `[B, draws, K, D]`. The first draw is the one a single-draw forward
    with the same generator makes, so the best of N never does worse than one draw; for learned queries it
    is zero: the queries themselves (what the model was trained from) are always among the candidates."""
    first = torch.randn(batch, num_slots, dim, generator=generator, device=device)
    rest = torch.randn(batch, draws - 1, num_slots, dim, generator=generator, device=device)
    noise = torch.cat([first.unsqueeze(1), rest], dim=1)
    if learned:
        noise[:, 0] = 0
    return noise


@torch.no_grad()
def best_of_draws(model: SlotAutoencoder, image: Tensor, draws: int, iters: int | None = None,
                  generator: torch.Generator | None = None) -> AutoencoderOutput:
    """Run `draws` initial slot sets per image and keep, per image, the one whose reconstruction is closest
    to the image (the engine's numpy twin is `Engine.run(draws=…)`). One draw at a time, so memory stays
    that of a single forward whatever `draws` is."""
    sa = model.slot_attention
    noise = draw_noise(image.shape[0], draws, sa.num_slots, sa.dim, sa.init == "learned", generator, image.device)
    best, best_error = None, None
    for d in range(draws):
        out = model(image, iters=iters, noise=noise[:, d])
        error = (out.reconstruction.float() - image).pow(2).mean(dim=(1, 2, 3))
        if best is None:
            best, best_error = out, error
            continue
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best = AutoencoderOutput(**{f.name: _where(better, getattr(out, f.name), getattr(best, f.name),
                                                   BATCH_DIM.get(f.name, 0)) for f in dataclasses.fields(best)})
    return best


BATCH_DIM = {"attention": 1, "slot_history": 1}  # AutoencoderOutput's per-iteration fields: [T, B, …]


def _where(better: Tensor, new: Tensor, old: Tensor, dim: int) -> Tensor:
    """Per image (along `dim`), `new` where `better`, else `old`."""
    shape = [1] * new.dim()
    shape[dim] = -1
    return torch.where(better.view(shape), new, old)

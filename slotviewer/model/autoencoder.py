"""Encoder → Slot Attention → broadcast decoder → alpha composite: the whole model."""

from __future__ import annotations

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


class SlotAutoencoder(nn.Module):
    """The slot-attention autoencoder; `forward` takes images `[B, 3, H, W]` in [0, 1]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.slot_attention = SlotAttention(
            cfg.num_slots, cfg.slot_dim, cfg.iters, cfg.mlp_hidden, init=cfg.slot_init, implicit=cfg.implicit
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

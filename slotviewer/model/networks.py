"""The CNN encoder and the spatial-broadcast decoder around Slot Attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from slotviewer.model.config import ModelConfig


def position_grid(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """`[1, 4, H, W]` grid of (x, y, 1-x, 1-y) in [0, 1]: the paper's soft position features."""
    ys = torch.linspace(0.0, 1.0, height, device=device)
    xs = torch.linspace(0.0, 1.0, width, device=device)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y, 1 - x, 1 - y]).unsqueeze(0)


class SoftPositionEmbed(nn.Module):
    """Adds a learned linear map of the position grid, so convolutions know *where* they are."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(4, channels, 1)
        self.register_buffer("grid", position_grid(height, width), persistent=False)

    def forward(self, x: Tensor, scale: float = 1.0) -> Tensor:
        return x + scale * self.proj(self.grid)


class Encoder(nn.Module):
    """Image `[B, 3, H, W]` in [0, 1] → features `[B, h*w, D]`, LayerNorm + MLP as in the paper.

    It returns two feature maps: the values' (position embedding at full weight) and the keys'
    (position at `key_position_scale`); they are the same tensor when the scale is 1.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, pad = 3, cfg.kernel // 2
        for i, c_out in enumerate(cfg.encoder_channels):
            stride = 2 if 0 < i <= cfg.encoder_downsample else 1
            layers += [nn.Conv2d(c_in, c_out, cfg.kernel, stride=stride, padding=pad), nn.ReLU(inplace=True)]
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.pos = SoftPositionEmbed(c_in, cfg.feature_size, cfg.feature_size)
        self.key_position_scale = cfg.key_position_scale
        self.norm = nn.LayerNorm(c_in)
        self.mlp = nn.Sequential(
            nn.Linear(c_in, cfg.slot_dim), nn.ReLU(inplace=True), nn.Linear(cfg.slot_dim, cfg.slot_dim)
        )

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """(features, key features), both `[B, h*w, D]`.

        The position embedding is added to the features as tokens `[B, h*w, C]` rather than as a map: the
        same sums, but the backward pass then reduces the embedding's gradient over a contiguous tensor
        (over the transposed map it was a strided reduction, ~4 ms of a training step, twice)."""
        tokens = self.cnn(image * 2 - 1).flatten(2).transpose(1, 2)
        position = self.pos.proj(self.pos.grid).flatten(2).transpose(1, 2)  # [1, h*w, C]
        features = self.mlp(self.norm(tokens + position))
        if self.key_position_scale == 1.0:
            return features, features
        return features, self.mlp(self.norm(tokens + self.key_position_scale * position))


class ResidualBlock(nn.Module):
    """A residual conv block after the decoder's last upsampling: room to sharpen the edges that the
    transposed convolutions leave soft. Its second convolution starts at zero, so a fresh block
    starts as the identity and does not scramble what the layers before it learned."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class Decoder(nn.Module):
    """Slots `[B, K, D]` → per-slot RGB `[B, K, 3, H, W]` and alpha logits `[B, K, H, W]`.

    Each slot is broadcast on a small grid, given positions, upsampled by transposed convolutions
    and optionally refined by residual blocks; the output is cropped to the model's resolution, or
    bilinearly upsampled to it when the convolutions stop short (cheap high resolution for flat-coloured
    scenes).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.grid, self.resolution = cfg.decoder_grid, cfg.resolution
        c, k = cfg.decoder_channels, cfg.kernel
        self.pos = SoftPositionEmbed(cfg.slot_dim, cfg.decoder_grid, cfg.decoder_grid)
        layers: list[nn.Module] = [nn.Conv2d(cfg.slot_dim, c, k, padding=k // 2), nn.ReLU(inplace=True)]
        for i in range(cfg.decoder_upsample):
            c_out = cfg.decoder_final_channels if i == cfg.decoder_upsample - 1 else c
            up = nn.ConvTranspose2d(c, c_out, k, stride=2, padding=k // 2, output_padding=1)
            layers += [up, nn.ReLU(inplace=True)]
            c = c_out
        layers += [ResidualBlock(c, k) for _ in range(cfg.decoder_output_blocks)]
        layers.append(nn.Conv2d(c, 4, 3, padding=1))
        self.cnn = nn.Sequential(*layers)
        size = cfg.decoder_grid * 2**cfg.decoder_upsample  # each transposed convolution doubles the grid
        self.register_buffer("upsample", bilinear_matrix(size, cfg.resolution) if size < cfg.resolution
                             else torch.empty(0), persistent=False)  # not a weight: derived from the config

    def first_layer(self, slots: Tensor) -> Tensor:
        """The first convolution on the broadcast grid, `conv(slot + pos)`, computed without convolving.

        The input is one vector per slot plus a slot-independent position field, and a convolution is
        linear: `conv(s + P)[p] = b + conv(P)[p] + Σ_taps [p + tap inside] · W_tap s`. So each slot needs
        only its kernel taps applied to one vector, `conv(P)` is shared by all slots, and the zero padding
        becomes a 0/1 mask per tap. Same weights, same result (to float rounding); on the shapes decoder
        (16×16 grid, 64 channels) it replaces the costliest convolution of a training step.
        """
        conv: nn.Conv2d = self.cnn[0]  # type: ignore[assignment]
        g = self.grid
        out_c, in_c, kh, kw = conv.weight.shape
        taps = conv.weight.permute(2, 3, 0, 1).reshape(kh * kw, out_c, in_c)
        per_tap = torch.einsum("toc,nc->nto", taps.to(slots.dtype), slots)  # [N, taps, out]
        inside = F.pad(torch.ones(1, 1, g, g, device=slots.device, dtype=per_tap.dtype),
                       (kw // 2, kw // 2, kh // 2, kh // 2))
        masks = torch.stack([inside[0, 0, i : i + g, j : j + g] for i in range(kh) for j in range(kw)])
        field = F.conv2d(self.pos.proj(self.pos.grid), conv.weight, conv.bias, padding=conv.padding)
        return torch.einsum("nto,thw->nohw", per_tap, masks.to(per_tap.dtype)) + field.to(per_tap.dtype)

    def forward(self, slots: Tensor) -> tuple[Tensor, Tensor]:
        b, k, d = slots.shape
        out = self.cnn[1:](self.first_layer(slots.reshape(b * k, d)))
        if out.shape[-1] < self.resolution:
            up = self.upsample if self.upsample.shape[-1:] == out.shape[-1:] else bilinear_matrix(
                out.shape[-1], self.resolution, out.device)  # an even kernel's grid is not a power of 2 times
            up = up.to(out.dtype)
            out = up @ out @ up.T  # = bilinear interpolation (align_corners=False), ~5× faster to train through
        if out.shape[-1] > self.resolution:  # (a crop or slice that keeps everything still costs a zero-filled
            out = out[:, :, : self.resolution, : self.resolution]  # copy of the whole output when training)
        rgb, alpha_logits = out.reshape(b, k, 4, self.resolution, self.resolution).split((3, 1), dim=2)
        return rgb, alpha_logits.squeeze(2)


def bilinear_matrix(size_in: int, size_out: int, device: torch.device | None = None,
                    dtype: torch.dtype = torch.float32) -> Tensor:
    """`[size_out, size_in]` weights of 1-D linear interpolation as `F.interpolate(mode="bilinear",
    align_corners=False)` computes it (source positions below 0 clamped to 0, the last index repeated).

    Upsampling the decoder's output as `U @ x @ Uᵀ` gives the same numbers, but two small matrix products
    and their backward run several times faster on CPUs than the interpolation kernel's backward, which was
    a twentieth of a shapes training step.
    """
    src = ((torch.arange(size_out, dtype=torch.float64) + 0.5) * (size_in / size_out) - 0.5).clamp(min=0)
    low = src.floor().long().clamp(max=size_in - 1)
    high = (low + 1).clamp(max=size_in - 1)
    frac = src - low
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    weights.index_put_((rows, low), 1 - frac, accumulate=True)
    weights.index_put_((rows, high), frac, accumulate=True)
    return weights.to(device=device, dtype=dtype)


def composite(rgb: Tensor, alpha_logits: Tensor, enabled: Tensor | None = None) -> Tensor:
    """Alpha-composite per-slot RGB `[B, K, 3, H, W]`; alpha is a softmax over the (enabled) slots."""
    logits = alpha_logits.float()
    if enabled is not None:
        logits = logits.masked_fill(~enabled.view(1, -1, 1, 1), float("-inf"))
    alpha = logits.softmax(dim=1)
    return (alpha.unsqueeze(2) * rgb.float()).sum(dim=1)


def mse(prediction: Tensor, target: Tensor) -> Tensor:
    """The training loss, always in fp32."""
    return F.mse_loss(prediction.float(), target.float())

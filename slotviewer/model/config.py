"""The model's size and shape, saved as JSON next to its weights so a file always says what it holds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

MAX_DRAWS = 64  # initial slot sets compared per image at inference


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a `SlotAutoencoder` (no training settings).

    The encoder downsamples by `2**encoder_downsample`; the decoder broadcasts each slot on a
    `decoder_grid`² grid and doubles it `decoder_upsample` times, then crops (or bilinearly
    upsamples) to `resolution`.
    That small-grid-then-upsample decoder (as in the paper's CLEVR model) is what makes CPU
    training affordable.
    """

    resolution: int = 64
    num_slots: int = 6
    iters: int = 3
    slot_dim: int = 64
    mlp_hidden: int = 128
    slot_init: str = "gaussian"  # "gaussian" (paper) or "learned" (BO-QSA queries)
    implicit: bool = False  # BO-QSA straight-through gradient on the last iteration
    encoder_channels: tuple[int, ...] = (32, 32, 32, 32)
    encoder_downsample: int = 1
    decoder_channels: int = 32
    decoder_grid: int = 8
    decoder_output_blocks: int = 0  # residual conv blocks after the last upsampling: sharper edges
    decoder_upsample: int = 3
    decoder_final_channels: int = 16
    kernel: int = 5
    # weight of the position embedding in the features Slot Attention's *keys* see (values always see it
    # at 1): below 1, grouping leans on colour more than on place, so spare slots cut objects up less
    key_position_scale: float = 1.0
    # inference: run `draws` initial slot sets side by side and keep the one that reconstructs the image
    # best. Slot Attention is a local search: a draw can settle with an object split or two merged, and
    # such a draw redraws the image worse, so the reconstruction error (no labels) picks a better one
    draws: int = 1
    # learned queries (BO-QSA) are one fixed start; draws after the first add this much normal noise to
    # them, so there is something to choose from (0 = every draw is the queries themselves)
    query_noise: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_channels", tuple(self.encoder_channels))
        if self.decoder_grid * 2**self.decoder_upsample * 4 < self.resolution:
            raise ValueError("decoder_grid * 2**decoder_upsample must be at least a quarter of the resolution")
        if self.encoder_downsample >= len(self.encoder_channels):
            raise ValueError("encoder_downsample must be smaller than the number of encoder layers")
        if not 0.0 <= self.key_position_scale <= 1.0:
            raise ValueError(f"key_position_scale must be in [0, 1], not {self.key_position_scale}")
        if not 1 <= self.draws <= MAX_DRAWS:
            raise ValueError(f"draws must be 1..{MAX_DRAWS}, not {self.draws}")
        if self.query_noise < 0:
            raise ValueError(f"query_noise must be ≥ 0, not {self.query_noise}")
        if self.slot_init not in ("gaussian", "learned"):
            raise ValueError(f"slot_init must be 'gaussian' or 'learned', not {self.slot_init!r}")

    @property
    def feature_size(self) -> int:
        """Side of the encoder's feature map, i.e. of the attention maps."""
        size = self.resolution
        for _ in range(self.encoder_downsample):
            size = (size + 1) // 2
        return size

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["encoder_channels"] = list(self.encoder_channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from JSON; unknown keys are an error so a typo never passes silently."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)


PRESETS: dict[str, ModelConfig] = {
    # 3×3 kernels and a small broadcast grid: ~4× cheaper than the paper's decoder on CPU
    "tetrominoes": ModelConfig(
        resolution=35, num_slots=4, decoder_grid=9, decoder_upsample=2, encoder_downsample=1,
        slot_init="learned", implicit=True, kernel=3,
    ),
    # as shipped: Gaussian slots; the decoder broadcasts on 16×16 (64 channels), upsamples once to
    # 32×32, sharpens there with a residual block and upsamples bilinearly to 64×64 (flat sprites
    # lose little); keys see the position at half weight. From scratch it stays on the background:
    # start it from a trained tetrominoes model (`train --init-from`, see the README)
    "shapes": ModelConfig(
        resolution=64, num_slots=6, decoder_grid=16, decoder_upsample=1, decoder_channels=64,
        decoder_output_blocks=1, encoder_downsample=1, slot_init="gaussian", kernel=3, key_position_scale=0.5,
    ),
}


@dataclass
class ModelCard:
    """Where a model came from and how good it is: shown in the GUI, written into its JSON."""

    dataset: str = ""
    steps: int = 0
    batch: int = 0
    wall_clock_s: float = 0.0
    trained_on: str = ""
    fg_ari: dict[str, Any] = field(default_factory=dict)  # mean, std, n, …; "posterior": its own mean, std
    commit: str = ""
    notes: str = ""
    curve: list[list[float]] = field(default_factory=list)  # [minutes, FG-ARI on 256 scenes, 1 draw] during training
    reconstruction: dict[str, Any] = field(default_factory=dict)  # psnr_db, mse, n, data: how sharp it redraws
    command: str = ""  # the command line that trained it (the recipe)
    adapted_on: str = ""  # `slotviewer adapt`: the unlabelled data this copy was fitted to
    # median reconstruction MSE on the model's own data (engine/familiarity.py): the yardstick for "unlike
    # anything it was trained on"; 0 = not measured
    typical_mse: float = 0.0

"""The model's size and shape, saved as JSON next to its weights so a file always says what it holds."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

MAX_DRAWS = 64  # initial slot sets compared per image at inference
# the run parameters' limits (the engine, the GUI's widgets and the CLI's arguments take them from here; a
# model's own K and T must lie within them too)
MAX_SLOTS = 32
MAX_ITERS = 50
MAX_RESOLUTION = 1024
# whole-number fields: (smallest, largest or None)
_WHOLE = {"resolution": (4, MAX_RESOLUTION), "num_slots": (1, MAX_SLOTS), "iters": (0, MAX_ITERS),
          "slot_dim": (1, None), "mlp_hidden": (1, None), "encoder_downsample": (0, None),
          "decoder_channels": (1, None), "decoder_grid": (1, None), "decoder_output_blocks": (0, None),
          "decoder_upsample": (0, None), "decoder_final_channels": (1, None), "kernel": (1, None),
          "draws": (1, MAX_DRAWS)}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        """Every field checked, so a hand-edited JSON is refused at load, naming the field, instead of failing
        later on each input (blamed on the input) or deep in torch."""
        for name, (low, high) in _WHOLE.items():
            value = getattr(self, name)
            if not _whole(value) or value < low or (high is not None and value > high):
                raise ValueError(f"{name} must be a whole number {low}..{high if high is not None else ''}, "
                                 f"not {value!r}")
        if not isinstance(self.encoder_channels, (list, tuple)) or not self.encoder_channels or not all(
                _whole(c) and c >= 1 for c in self.encoder_channels):
            raise ValueError(f"encoder_channels must be a list of whole numbers ≥ 1, not {self.encoder_channels!r}")
        for name in ("key_position_scale", "query_noise"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name} must be a number, not {value!r}")
        if not isinstance(self.implicit, bool):
            raise ValueError(f"implicit must be true or false, not {self.implicit!r}")
        object.__setattr__(self, "encoder_channels", tuple(self.encoder_channels))
        if self.decoder_grid * 2**self.decoder_upsample * 4 < self.resolution:
            raise ValueError("decoder_grid * 2**decoder_upsample must be at least a quarter of the resolution")
        if self.encoder_downsample >= len(self.encoder_channels):
            raise ValueError("encoder_downsample must be smaller than the number of encoder layers")
        if not 0.0 <= self.key_position_scale <= 1.0:
            raise ValueError(f"key_position_scale must be in [0, 1], not {self.key_position_scale}")
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

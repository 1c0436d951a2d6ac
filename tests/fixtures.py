"""The test model whose pictures have content, and the assertions picture tests start with.

An untrained decoder paints every slot a near-black, near-uniform layer, so a test comparing two
pictures compares black with black and passes whatever the code did. `colourful_model` keeps the
random encoder and Slot Attention (so attention and slots still depend on the image and the seed)
but *constructs* the decoder's weights, so that every slot decodes to

- a saturated colour that is a function of the slot vector: `clip(0.5 + g·(p_c·s − m_c), 0, 1)` per
  channel, so different slots (and the same slot at different iterations) get different colours;
- an alpha logit `−L·(|x − τx(s)| + |y − τy(s)|)`: each slot owns the pixels nearest to a point
  `τ(s)` on the image, so the masks form a partition with one clear region per slot.

The gains are calibrated on the slots the model actually produces, so the colours and the points
spread over their whole range. Constructed weights take milliseconds and are deterministic: no
training and no cache are needed, and the torch and ONNX paths share them (ONNX is exported from
the saved weights).

Every relation the decoder has to represent is piecewise linear, so it is exact in a ReLU network:
`|z| = relu(z) + relu(−z)`, `clip(z, 0, 1) = relu(z) − relu(z − 1)`; the transposed convolutions
are set to per-channel nearest (colours) or bilinear (distances) upsampling.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from slotviewer.data import generate
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.config import ModelConfig

POSITION_GAIN = 100.0  # the decoder's position embedding writes A·x into slot dimension 0 (A·y into 1)
MASK_SHARPNESS = 12.0  # L: alpha logit per unit of L1 distance on the [0, 1]² image
ATTENTION_SHARPNESS = 4.0
POINT_SPREAD = 0.2
COLOUR_SPREAD = 0.35  # queries scaled up so attention maps have clear regions, not a uniform 1/K


def _calibration_slots(model: SlotAutoencoder, cfg: ModelConfig) -> np.ndarray:
    """Slots `[T+1, B, K, D]` on a few scenes and noise draws: what the decoder will see."""
    images = torch.from_numpy(generate("tetrominoes", 32, seed=123)[0]).permute(0, 3, 1, 2).float() / 255
    if cfg.resolution != images.shape[-1]:
        images = torch.nn.functional.interpolate(images, size=(cfg.resolution, cfg.resolution), mode="bilinear")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        out = model(images, generator=generator)
    return out.slot_history.numpy()


def _directions(history: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five random directions in slot space (dims 2.. only: 0 and 1 carry the position), each scaled so
    the final slots' projections have unit spread: (weights `[5, D]`, mean projection `[5]`)."""
    final = history[-1].reshape(-1, history.shape[-1]).astype(np.float64)
    directions = np.random.default_rng(seed).standard_normal((5, history.shape[-1]))
    directions[:, :2] = 0
    projections = final @ directions.T
    directions = directions / (projections.std(axis=0) + 1e-8)[:, None]
    return directions, (final @ directions.T).mean(axis=0)


def _upsampling_kernel(nearest: bool) -> torch.Tensor:
    """3×3 ConvTranspose2d (stride 2, padding 1, output padding 1) taps that copy a channel:
    output 2i takes tap 1 of input i; output 2i+1 takes tap 2 of input i and tap 0 of input i+1."""
    taps = torch.tensor([0.0, 1.0, 1.0]) if nearest else torch.tensor([0.5, 1.0, 0.5])
    return taps[:, None] * taps[None, :]


def colourful_model(cfg: ModelConfig, seed: int = 0) -> SlotAutoencoder:
    """A `SlotAutoencoder` for `cfg` whose slots decode to distinct saturated colours and masks.

    Needs at least 10 decoder channels (4 for the distances, 6 for the clipped colours) and a
    position embedding on a slot size of at least 4 (dimensions 0 and 1 carry x and y).
    """
    if min(cfg.decoder_channels, cfg.decoder_final_channels) < 10 or cfg.slot_dim < 4:
        raise ValueError("colourful_model needs decoder channels >= 10 and slot_dim >= 4")
    torch.manual_seed(seed)
    model = SlotAutoencoder(cfg).eval()
    sa = model.slot_attention
    with torch.no_grad():
        sa.to_q.weight.mul_(ATTENTION_SHARPNESS)
        sa.to_q.bias.mul_(ATTENTION_SHARPNESS)
        directions, mean = _directions(_calibration_slots(model, cfg), seed)
        # the final slots spread τ by ±POINT_SPREAD and colours by ±COLOUR_SPREAD (one standard deviation)
        gains = np.array([POINT_SPREAD, POINT_SPREAD, COLOUR_SPREAD, COLOUR_SPREAD, COLOUR_SPREAD])
        weight = directions * gains[:, None]  # [5, D]
        offset = 0.5 - gains * mean  # centred on the typical final slot

        decoder = model.decoder
        decoder.pos.proj.weight.zero_()
        decoder.pos.proj.bias.zero_()
        decoder.pos.proj.weight[0, 0] = POSITION_GAIN  # x
        decoder.pos.proj.weight[1, 1] = POSITION_GAIN  # y

        layers = list(decoder.cnn)
        convs = [m for m in layers if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
        first, ups, last = convs[0], convs[1:-1], convs[-1]
        for conv in convs:
            conv.weight.zero_()
            conv.bias.zero_()
        c = first.kernel_size[0] // 2
        w, b = first.weight[:, :, c, c], first.bias
        tau = torch.from_numpy(weight[:2]).float()
        for axis in (0, 1):  # channels 2·axis: relu(pos − τ), 2·axis+1: relu(τ − pos)
            w[2 * axis, axis] = 1 / POSITION_GAIN
            w[2 * axis] -= tau[axis]
            b[2 * axis] = -float(offset[axis])
            w[2 * axis + 1] = -w[2 * axis]
            b[2 * axis + 1] = float(offset[axis])
        for colour in range(3):  # channels 4+2c: relu(z), 5+2c: relu(z − 1)
            z_w, z_b = torch.from_numpy(weight[2 + colour]).float(), float(offset[2 + colour])
            w[4 + 2 * colour], b[4 + 2 * colour] = z_w, z_b
            w[5 + 2 * colour], b[5 + 2 * colour] = z_w, z_b - 1.0
        for up in ups:
            for channel in range(10):
                up.weight[channel, channel] = _upsampling_kernel(nearest=channel >= 4)
        c = last.kernel_size[0] // 2
        for colour in range(3):
            last.weight[colour, 4 + 2 * colour, c, c] = 1.0
            last.weight[colour, 5 + 2 * colour, c, c] = -1.0
        last.weight[3, :4, c, c] = -MASK_SHARPNESS
    return model


def colourful_config(base: ModelConfig) -> ModelConfig:
    """`base` with a decoder wide enough for `colourful_model`."""
    return dataclasses.replace(base, decoder_channels=max(base.decoder_channels, 12),
                               decoder_final_channels=max(base.decoder_final_channels, 12))


# ---- caching built test models across sessions -------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def model_cache_key() -> str:
    """A hash of everything that shapes the test model's files: the model and export code, these fixtures,
    and the torch/onnx versions. Any change to them builds the model anew."""
    import onnx

    digest = hashlib.sha256(f"{torch.__version__} {onnx.__version__}".encode())
    sources = sorted((ROOT / "slotviewer" / "model").glob("*.py")) + sorted(
        (ROOT / "slotviewer" / "engine").glob("onnx_*.py")) + [ROOT / "tests" / "fixtures.py",
                                                               ROOT / "tests" / "conftest.py"]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def cached_build(cache_dir: Path, key: str, name: str, build: Callable[[Path], None]) -> Path:
    """`cache_dir/key/name`, built by `build(stem)` the first time. The files are built in a temporary
    folder and renamed into place in one step, so concurrent sessions never see half a model (the
    loser of a race just discards its copy)."""
    final = cache_dir / key
    if not (final / ".complete").exists():
        work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{key}.", suffix=".tmp"))
        try:
            build(work / name)
            (work / ".complete").write_text("ok")
            try:
                os.rename(work, final)
            except OSError:  # another session finished first, or a broken leftover: keep a complete one
                if not (final / ".complete").exists():
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in cache_dir.iterdir():  # models of older code are never used again
            if old.name != key and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
    return final / name


# ---- assertions that picture tests start with -------------------------------------------------------------


def assert_not_flat(image: np.ndarray, min_std: float = 0.05, what: str = "picture") -> None:
    """A picture with content: not one value everywhere, and not (near-)black.

    Works for float pictures in [0, 1] and uint8 (scaled). Call it first in every test that compares
    pictures, so a comparison of two black or two uniform images can never pass.
    """
    a = np.asarray(image, dtype=np.float64)
    if np.asarray(image).dtype == np.uint8:
        a = a / 255.0
    assert a.size > 0, f"{what} is empty"
    assert np.isfinite(a).all(), f"{what} has NaN or inf"
    assert a.std() >= min_std, f"{what} is flat (std {a.std():.4f} < {min_std})"
    assert a.max() >= 0.3, f"{what} is (near) black (max {a.max():.3f})"


def assert_distinct(pictures: np.ndarray, min_difference: float = 0.05, what: str = "slot pictures") -> None:
    """Every pair of pictures along axis 0 differs by at least `min_difference` (mean absolute)."""
    a = np.asarray(pictures, dtype=np.float64)
    if np.asarray(pictures).dtype == np.uint8:
        a = a / 255.0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            difference = np.abs(a[i] - a[j]).mean()
            assert difference >= min_difference, f"{what} {i} and {j} are alike (mean |Δ| {difference:.4f})"


def legacy_step_model(tiny_model: Path, folder: Path) -> Path:
    """A copy of the tiny model's ONNX graphs whose step graph has no `attention_bias` input, as exported
    by slotviewer before video's mask prior (features, key features, slots → attention, new slots)."""
    import torch
    from torch import nn

    from slotviewer.engine.onnx_export import _export
    from slotviewer.model.weights import load_model

    class OldStep(nn.Module):
        def __init__(self, model: SlotAutoencoder) -> None:
            super().__init__()
            self.model = model

        def forward(self, features: torch.Tensor, key_features: torch.Tensor,
                    slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            sa = self.model.slot_attention
            new_slots, attention = sa.step(slots, sa.norm_input(features), sa.norm_input(key_features))
            return attention, new_slots

    for suffix in (".onnx", ".decoder.onnx", ".encoder.onnx"):
        shutil.copy(str(tiny_model) + suffix, str(folder / "old") + suffix)
    loaded = load_model(str(tiny_model) + ".safetensors")
    cfg, batch = loaded.config, torch.export.Dim("batch", min=1, max=64)
    n, d, k = cfg.feature_size**2, cfg.slot_dim, cfg.num_slots
    with torch.no_grad():
        _export(OldStep(loaded.model.eval()), (torch.randn(2, n, d), torch.randn(2, n, d), torch.randn(2, k, d)),
                ["features", "key_features", "slots"], ["attention", "new_slots"],
                {"features": {0: batch}, "key_features": {0: batch}, "slots": {0: batch}},
                folder / "old.step.onnx", {})
    return folder / "old.onnx"

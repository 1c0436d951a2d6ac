"""Training precision: fp32, bf16 autocast, or `auto`, which times both on this machine and keeps the faster.

Why a timing probe rather than a CPU flag: oneDNN's bf16 kernels took a whole `shapes` training step 2.1×
faster than fp32 on a 2-core AMD EPYC with AVX512-BF16, and 0.87× as fast on a 2-core Xeon that reports the
same instruction set (no AMX). Only running both tells which one this machine has. Per step bf16 redraws a little
worse than fp32 and segments about as well, per minute it is ahead (README, "Speed"), so time decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slotviewer.bench.timing import interleaved

if TYPE_CHECKING:  # torch is imported where it is used: the CLI reads PRECISIONS without it
    import torch

PRECISIONS = ("auto", "fp32", "bf16")
# bf16 is kept only when clearly faster: within the probe's noise fp32 is the safer, exactly repeatable choice
BF16_MIN_GAIN = 1.15


@dataclass(frozen=True)
class PrecisionChoice:
    """What a run trains in, and why (for the log line and the model card)."""

    precision: str  # "fp32" or "bf16"
    reason: str

    def describe(self) -> str:
        return f"{self.precision} ({self.reason})"


def faster(fp32_seconds: float, bf16_seconds: float) -> str:
    """The precision to train in, given what a step takes in each: bf16 only when ≥ `BF16_MIN_GAIN` faster."""
    return "bf16" if fp32_seconds >= BF16_MIN_GAIN * bf16_seconds else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast: convolutions and linear layers in bf16 (AVX512-BF16/AMX on CPUs, tensor cores on GPUs);
    the model's softmaxes, the composite and the loss cast to fp32 themselves."""
    import torch

    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def bf16_supported(device: torch.device) -> bool:
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def choose_precision(asked: str, device: torch.device, step: Callable[[str], object],
                     repeats: int = 3) -> PrecisionChoice:
    """`asked` as it is, or for `auto` the faster of fp32 and bf16 by `step(precision)` (one forward and
    backward of a real batch, no optimiser step), timed alternately after one untimed round of each."""
    if asked not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {asked!r}")
    if asked != "auto":
        return PrecisionChoice(asked, "asked for")
    if not bf16_supported(device):
        return PrecisionChoice("fp32", "auto: no bf16 kernels on this device")

    def timed(precision: str) -> Callable[[], None]:
        def run() -> None:
            step(precision)
            if device.type == "cuda":  # kernels run asynchronously: time the work, not its launch
                import torch

                torch.cuda.synchronize()
        return run

    seconds = interleaved({p: timed(p) for p in ("fp32", "bf16")}, repeats=repeats, warmup=1)
    measured = f"auto: a step took {seconds['bf16'] * 1e3:.0f} ms in bf16, {seconds['fp32'] * 1e3:.0f} ms in fp32"
    return PrecisionChoice(faster(seconds["fp32"], seconds["bf16"]), measured)

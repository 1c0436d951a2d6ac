"""Training throughput, fp32 against bf16 autocast and channels-last, timed side by side.

Each variant is a `Trainer` on the same architecture and the same batch; their optimiser steps run
round-robin (`interleaved`), so load from other processes hits them alike. The numbers are img/s of
whole training steps (forward, backward, clipping, Adam), without data generation.
"""

from __future__ import annotations

import tempfile
from typing import Any

import torch

from slotviewer.bench.timing import interleaved
from slotviewer.model.config import PRESETS
from slotviewer.precision import BF16_MIN_GAIN, bf16_supported, faster

VARIANTS: dict[str, tuple[str, bool]] = {
    "fp32": ("fp32", False),
    "fp32_channels_last": ("fp32", True),
    "bf16": ("bf16", False),
    "bf16_channels_last": ("bf16", True),
}


def bench_train(preset: str = "shapes", batch: int = 32, repeats: int = 5, device: str = "cpu") -> dict[str, Any]:
    from slotviewer.train import Trainer, TrainSettings

    dataset = "tetrominoes" if preset == "tetrominoes" else "shapes"
    trainers = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (precision, channels_last) in VARIANTS.items():
            settings = TrainSettings(dataset=dataset, out=f"{tmp}/{name}", batch=batch, warmup=1, eval_samples=1,
                                     config=PRESETS[preset].to_dict(), precision=precision,
                                     channels_last=channels_last, device=device)
            trainers[name] = Trainer(settings)
    images = trainers["fp32"].batches(0)
    on_gpu = trainers["fp32"].device.type == "cuda"

    def step(trainer: Trainer) -> None:
        trainer.train_step(images)
        if on_gpu:  # kernels run asynchronously: time the work, not its launch
            torch.cuda.synchronize()

    times = interleaved({name: (lambda t=t: step(t)) for name, t in trainers.items()}, repeats=repeats, warmup=1)
    img_s = {name: batch / seconds for name, seconds in times.items()}
    return {
        "preset": preset, "batch": batch, "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if on_gpu else "cpu",
        "bf16_supported": bf16_supported(trainers["fp32"].device),
        "step_ms": {name: seconds * 1e3 for name, seconds in times.items()},
        "img_s": img_s,
        "speedup_over_fp32": {name: value / img_s["fp32"] for name, value in img_s.items()},
        # what `train --precision auto` would pick from these numbers (it times its own first batch)
        "auto_picks": faster(times["fp32"], times["bf16"]),
    }


def print_train(r: dict[str, Any]) -> None:
    print(f"training step on {r['device']}, {r['preset']} preset, batch {r['batch']}, {r['threads']} thread(s), "
          f"bf16 units: {'yes' if r['bf16_supported'] else 'no'}")
    for name in r["img_s"]:
        print(f"  {name:<20} {r['step_ms'][name]:8.1f} ms/step {r['img_s'][name]:7.1f} img/s "
              f"({r['speedup_over_fp32'][name]:.2f}× fp32)")
    print(f"  train --precision auto would pick {r['auto_picks']} here (bf16 needs ≥ {BF16_MIN_GAIN:.2f}× fp32)")

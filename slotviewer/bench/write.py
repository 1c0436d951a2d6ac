"""How long `slotviewer run` takes to write one image's outputs (PNGs, npz, trace.json) at photo sizes.

Writing, not the model, was the slow part for large inputs, so it has its own numbers: a 512² photo
(target ≤ 0.3 s) and a 6000×6000 one (target ≤ 5 s), with wall-clock and CPU time (CPU time shows the
work even when other processes share the machine).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from slotviewer.engine import Engine
from slotviewer.export import write_trace

SIZES = (512, 6000)
TARGETS_S = {512: 0.3, 6000: 5.0}


def photo_like(side: int, seed: int = 0) -> np.ndarray:
    """A stand-in photo: smooth colour regions with grain (what a camera gives), any size, no files needed."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize((side, side), Image.BICUBIC)
    small = small.filter(ImageFilter.GaussianBlur(side / 200))
    grain = rng.normal(0, 6, (side, side, 1)).astype(np.float32)
    return (np.asarray(small, np.float32) + grain).clip(0, 255).astype(np.uint8)


def bench_write(model: str, repeats: int = 5, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    engine = Engine.load(model, "auto", "cpu")
    results: dict[str, Any] = {"model": model, "backend": engine.description}
    folder = Path(tempfile.mkdtemp(prefix="slotviewer-bench-write-"))
    try:
        for side in sizes:
            trace = engine.run(photo_like(side), seed=0)
            walls, cpus = [], []
            for i in range(repeats if side <= 1024 else 1):
                start, cpu = time.perf_counter(), time.process_time()
                out = write_trace(trace, folder / f"{side}_{i}")
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
                size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
                shutil.rmtree(out)
            results[f"{side}x{side}"] = {"write_s": float(np.median(walls)), "cpu_s": float(np.median(cpus)),
                                         "output_mb": size_mb, "target_s": TARGETS_S.get(side),
                                         "forward_ms": trace.timings_ms.get("total")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def print_write(r: dict[str, Any]) -> None:
    print(f"writing one image's outputs ({r['backend']}):")
    for key, v in r.items():
        if isinstance(v, dict):
            target = f" (target ≤ {v['target_s']:g} s)" if v["target_s"] else ""
            print(f"  {key:<10} write {v['write_s']:6.2f} s{target}, CPU {v['cpu_s']:6.2f} s, "
                  f"{v['output_mb']:6.1f} MB written; the model's run took {v['forward_ms']:.0f} ms")

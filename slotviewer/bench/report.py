"""`slotviewer bench`: torch vs ONNX Runtime, decode-only, re-composite, k-means and Slot Attention,
all timed side by side in one process (interleaved), printed with the ratios that matter."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from slotviewer.bench.timing import interleaved
from slotviewer.data import generate
from slotviewer.engine import Engine
from slotviewer.engine.engine import slot_noise
from slotviewer.engine.preprocess import model_input
from slotviewer.errors import SlotviewerError
from slotviewer.model.config import ModelConfig


def bench_inputs(cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scenes every engine bench runs: 8 images of the model's kind `[8, H, W, 3]`, them as a model
    batch `[8, 3, R, R]`, and 8 fixed initial slot draws, so backends and devices see the same work."""
    dataset = "tetrominoes" if cfg.resolution == 35 else "shapes"
    images = generate(dataset, 8, seed=123)[0]
    batch8 = np.stack([model_input(im, cfg.resolution)[0] for im in images])
    return images, batch8, slot_noise(0, 8, cfg.num_slots, cfg.slot_dim)


def bench_engine(model: str, repeats: int) -> dict[str, Any]:
    torch_engine = Engine.load(model, "torch", "cpu")
    onnx_engine = Engine.load(model, "onnx", "cpu")
    cfg = torch_engine.config
    images, batch8, noise8 = bench_inputs(cfg)
    batch1, noise1 = batch8[:1], noise8[:1]
    t = cfg.iters
    tb, ob = torch_engine.backend, onnx_engine.backend
    trace = torch_engine.run(images[0], seed=0)
    onnx_trace = onnx_engine.run(images[0], seed=0)
    slots = trace.slots[-1]
    enabled = np.ones(trace.num_slots, bool)
    enabled[0] = False
    jobs = {
        "torch_b1": lambda: tb.forward(batch1, noise1, t),
        "onnx_b1": lambda: ob.forward(batch1, noise1, t),
        "torch_b8": lambda: tb.forward(batch8, noise8, t),
        "onnx_b8": lambda: ob.forward(batch8, noise8, t),
        "torch_decode": lambda: torch_engine.decode(slots),
        "onnx_decode": lambda: onnx_engine.decode(slots),
        "recomposite": lambda: trace.composite(enabled),
        "soft_kmeans": lambda: torch_engine.run(images[0], seed=0, method="soft-kmeans"),
        "engine_run_onnx": lambda: onnx_engine.run(images[0], seed=0, draws=1),
    }
    if cfg.draws > 1:  # what a user's run costs: the model's best of N initial draws (README, "Best of N draws")
        jobs[f"engine_run_onnx_best_of_{cfg.draws}"] = lambda: onnx_engine.run(images[0], seed=0)
    times = interleaved(jobs, repeats)
    ms = {k: v * 1e3 for k, v in times.items()}
    return {
        "model": model, "torch_device": tb.device, "onnx_providers": ob.providers,
        "latency_ms": ms,
        "throughput_img_s": {"torch_b8": 8000 / ms["torch_b8"], "onnx_b8": 8000 / ms["onnx_b8"]},
        "ratios": {
            "onnx_speedup_b1": ms["torch_b1"] / ms["onnx_b1"],
            "onnx_speedup_b8": ms["torch_b8"] / ms["onnx_b8"],
            "recomposite_over_forward": ms["recomposite"] / ms["onnx_b1"],
            "decode_over_forward_onnx": ms["onnx_decode"] / ms["onnx_b1"],
            "decode_over_forward_torch": ms["torch_decode"] / ms["torch_b1"],
        },
        "parity_max_abs": {
            "attention": float(np.abs(trace.attention - onnx_trace.attention).max()),
            "composite": float(np.abs(trace.composite() - onnx_trace.composite()).max()),
        },
    }


def _print_engine(r: dict[str, Any]) -> None:
    print(f"model {r['model']} · torch {r['torch_device']} · ORT {', '.join(r['onnx_providers'])}")
    for name, value in r["latency_ms"].items():
        print(f"  {name:<18} {value:9.3f} ms")
    for name, value in r["throughput_img_s"].items():
        print(f"  throughput {name:<8} {value:9.1f} img/s")
    for name, value in r["ratios"].items():
        print(f"  {name:<28} {value:8.3f}")
    print(f"  parity max|Δ| attention {r['parity_max_abs']['attention']:.2e}, "
          f"composite {r['parity_max_abs']['composite']:.2e}")


def run_bench(model: str, as_json: bool = False, repeats: int = 20, only: str | None = None,
              device: str = "cpu") -> int:
    """The parts asked for, printed (or as JSON); 1 when `device` is not the CPU and nothing can run there.

    On a GPU the engine is benched on both backends against the CPU (`bench.device`) and training speed
    when asked; the CPU-only parts (Slot Attention vs lucidrains, writing, the window) are not repeated there.
    """
    on_cpu = device == "cpu"
    if not on_cpu and only not in (None, "engine", "train"):
        raise SlotviewerError(f"--only {only} measures the CPU; on {device} choose engine or train")
    results: dict[str, Any] = {}
    status = 0
    if only in (None, "engine") and on_cpu:
        results["engine"] = bench_engine(model, repeats)
        if not as_json:
            _print_engine(results["engine"])
    elif only in (None, "engine"):
        from slotviewer.bench.device import bench_device, print_device

        results["engine"] = r = bench_device(model, device, repeats)
        if not as_json:
            print_device(r)
        status = 0 if r["backends"] else 1
    if only in (None, "slot-attention") and on_cpu:
        from slotviewer.bench.slot_attention import bench_slot_attention

        results["slot_attention"] = r = bench_slot_attention(repeats=repeats)
        if not as_json:
            if "error" in r:
                print(f"slot attention vs lucidrains: {r['error']}")
            else:
                print(f"SlotAttention {r['shape']}: lucidrains {r['lucidrains_ms']:.2f} ms, slotviewer "
                      f"{r['slotviewer_ms']:.2f} ms → {r['speedup']:.2f}× (max|Δ| {r['max_abs_diff']:.1e})")
    if only in (None, "write") and on_cpu:
        from slotviewer.bench.write import bench_write, print_write

        results["write"] = bench_write(model)
        if not as_json:
            print_write(results["write"])
    if only == "train":  # minutes of CPU: only when asked
        from slotviewer.bench.train import bench_train, print_train

        results["train"] = r = bench_train(repeats=max(3, repeats // 4), device=device)
        if not as_json:
            print_train(r)
    if only == "gui":
        from slotviewer.gui.bench import bench_gui

        results["gui"] = r = bench_gui(model)
        if not as_json:
            print("GUI (median, including Qt repaint): " + ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    if as_json:
        print(json.dumps(results, indent=2))
    return status

"""`slotviewer bench --device cuda`: both backends on a GPU, timed, and checked against the CPU.

The one command to run when a GPU machine is at hand. A backend that cannot use the device (a CPU-only
torch, an onnxruntime without the CUDA provider, or one that silently falls back to the CPU) is reported
with the reason, never timed as if it were on the GPU. Parity is measured against the same backend on the
CPU with the same input and the same initial slots, so a wrong kernel or a precision surprise on the device
shows as a number, not as a plausible-looking picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from slotviewer.bench.report import bench_inputs
from slotviewer.bench.timing import interleaved
from slotviewer.engine import Engine
from slotviewer.engine.backend import ForwardResult
from slotviewer.engine.trace import softmax
from slotviewer.errors import SlotviewerError

BACKENDS = ("torch", "onnx")


def load_on(model: str, device: str) -> tuple[dict[str, Engine], dict[str, str]]:
    """Each backend's engine on `device`, and for those that cannot run there, why."""
    engines, errors = {}, {}
    for backend in BACKENDS:
        try:
            engines[backend] = Engine.load(model, backend, device)
        except SlotviewerError as exc:
            errors[backend] = str(exc)
    return engines, errors


def bench_device(model: str, device: str, repeats: int = 20) -> dict[str, Any]:
    """Latency (batch 1 and 8, the model's best of N draws) and max |Δ| against the CPU, per backend."""
    engines, errors = load_on(model, device)
    result: dict[str, Any] = {"model": model, "device": device, "errors": errors, "backends": {}}
    if not engines:
        return result
    cfg = next(iter(engines.values())).config
    images, batch8, noise8 = bench_inputs(cfg)
    for backend, engine in engines.items():
        b = engine.backend
        on_device = b.forward(batch8, noise8, cfg.iters)
        on_cpu = Engine.load(model, backend, "cpu").backend.forward(batch8, noise8, cfg.iters)
        times = interleaved({
            "b1": lambda b=b: b.forward(batch8[:1], noise8[:1], cfg.iters),
            "b8": lambda b=b: b.forward(batch8, noise8, cfg.iters),
            "run": lambda e=engine: e.run(images[0], seed=0),
        }, repeats)
        result["backends"][backend] = {
            "runs_on": engine.description,
            "latency_ms": {"batch_1": times["b1"] * 1e3, "batch_8": times["b8"] * 1e3,
                           f"run_best_of_{cfg.draws}": times["run"] * 1e3},
            "throughput_img_s": 8 / times["b8"],
            "max_abs_vs_cpu": {
                "attention": float(np.abs(on_device.attention - on_cpu.attention).max()),
                "reconstruction": float(np.abs(_reconstruction(on_device) - _reconstruction(on_cpu)).max()),
            },
        }
    return result


def _reconstruction(result: ForwardResult) -> np.ndarray:
    """Σ_k softmax_k(alpha) · rgb_k for the whole batch: `[B, 3, R, R]`."""
    return (softmax(result.alpha_logits, axis=1)[:, :, None] * result.rgb).sum(axis=1)


def print_device(r: dict[str, Any]) -> None:
    print(f"model {r['model']} on {r['device']}")
    for backend, error in r["errors"].items():
        print(f"  {backend}: cannot run there: {error}")
    for b in r["backends"].values():
        ms = ", ".join(f"{name} {value:.2f} ms" for name, value in b["latency_ms"].items())
        parity = b["max_abs_vs_cpu"]
        print(f"  {b['runs_on']}: {ms}; {b['throughput_img_s']:.0f} img/s at batch 8; max|Δ| against the CPU: "
              f"attention {parity['attention']:.1e}, reconstruction {parity['reconstruction']:.1e}")

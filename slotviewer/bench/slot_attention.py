"""Our `SlotAttention` against lucidrains' reference (PyPI `slot-attention`), same weights, same noise."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch

from slotviewer.bench.timing import interleaved
from slotviewer.model.slot_attention import SlotAttention


def load_reference() -> ModuleType | None:
    """Import `slot_attention/slot_attention.py` by file: the package `__init__` pulls optional extras."""
    spec = importlib.util.find_spec("slot_attention")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "slot_attention.py"
    file_spec = importlib.util.spec_from_file_location("_lucidrains_slot_attention", path)
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


def copy_weights_from_reference(reference: torch.nn.Module, ours: SlotAttention) -> None:
    """Give `ours` exactly the reference's parameters (the names differ only for the pre-MLP norm)."""
    state = {k.replace("norm_pre_ff", "norm_mlp"): v for k, v in reference.state_dict().items()}
    ours.load_state_dict(state)


def bench_slot_attention(batch: int = 16, n: int = 4096, dim: int = 64, k: int = 7, iters: int = 3,
                         repeats: int = 20) -> dict:
    """Inference latency of both modules at one shape, timed alternately; plus their max |Δ| output."""
    module = load_reference()
    if module is None:
        return {"error": "lucidrains slot-attention is not installed (pip install slot-attention)"}
    torch.manual_seed(0)
    reference = module.SlotAttention(num_slots=k, dim=dim, iters=iters).eval()
    ours = SlotAttention(k, dim, iters).eval()
    copy_weights_from_reference(reference, ours)
    inputs = torch.randn(batch, n, dim)

    def run_reference() -> torch.Tensor:
        torch.manual_seed(1)
        return reference(inputs)

    def run_ours() -> torch.Tensor:
        torch.manual_seed(1)
        return ours(inputs, noise=torch.randn(batch, k, dim))[0]

    with torch.inference_mode():
        max_diff = float((run_reference() - run_ours()).abs().max())
        times = interleaved({"lucidrains": run_reference, "slotviewer": run_ours}, repeats)
    return {
        "shape": {"B": batch, "N": n, "D": dim, "K": k, "T": iters},
        "lucidrains_ms": times["lucidrains"] * 1e3,
        "slotviewer_ms": times["slotviewer"] * 1e3,
        "speedup": times["lucidrains"] / times["slotviewer"],
        "max_abs_diff": max_diff,
    }

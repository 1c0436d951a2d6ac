"""Carry-over (SAVi): `Engine.run(..., init_slots=...)` starts Slot Attention from given slots."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError


def test_starting_from_a_runs_initial_slots_repeats_that_run(engine: Engine, scene: np.ndarray) -> None:
    fresh = engine.run(scene, seed=3, iters=3)
    carried = engine.run(scene, init_slots=fresh.slots[0], iters=3)
    assert np.abs(carried.attention - fresh.attention).max() < 1e-5
    assert np.abs(carried.slots - fresh.slots).max() < 1e-4
    assert np.abs(carried.composite() - fresh.composite()).max() < 1e-5
    assert carried.provenance["init"] == "carried" and carried.provenance["T"] == 3


def test_carried_slots_are_used_not_redrawn(engine: Engine, scene: np.ndarray) -> None:
    start = engine.run(scene, seed=1).slots[-1]
    trace = engine.run(scene, init_slots=start, iters=1)
    assert trace.slots.shape == (2, *start.shape) and np.array_equal(trace.slots[0], start)
    zero_iterations = engine.run(scene, init_slots=start, iters=0)
    assert zero_iterations.iterations == 0 and np.array_equal(zero_iterations.slots[-1], start)


def test_torch_and_onnx_agree_on_carry_over(torch_engine: Engine, onnx_engine: Engine, scene: np.ndarray) -> None:
    start = torch_engine.run(scene, seed=2).slots[-1]
    a = torch_engine.run(scene, init_slots=start, iters=2)
    b = onnx_engine.run(scene, init_slots=start, iters=2)
    assert np.abs(a.attention - b.attention).max() < 1e-4
    assert np.abs(a.alpha_logits - b.alpha_logits).max() < 1e-3


def test_onnx_without_encoder_graph_falls_back_to_the_full_graph(tiny_model: Path, tmp_path: Path,
                                                                   onnx_engine: Engine, scene: np.ndarray) -> None:
    for suffix in (".onnx", ".decoder.onnx", ".step.onnx"):
        shutil.copy(str(tiny_model) + suffix, str(tmp_path / "old") + suffix)
    old = Engine.load(tmp_path / "old.onnx", "onnx", "cpu")
    assert old.backend.encoder is None
    start = onnx_engine.run(scene, seed=4).slots[-1]
    a, b = old.run(scene, init_slots=start, iters=2), onnx_engine.run(scene, init_slots=start, iters=2)
    assert np.abs(a.attention - b.attention).max() < 1e-5


def test_bad_initial_slots_are_one_clear_error(engine: Engine, scene: np.ndarray) -> None:
    d = engine.config.slot_dim
    for bad in (np.zeros((3, 5)), np.zeros((3,)), np.zeros((0, d)), np.zeros((33, d))):
        with pytest.raises(SlotviewerError, match=rf"initial slots must have shape \[K, {d}\] with K in 1..32"):
            engine.run(scene, init_slots=bad)
    assert engine.run(scene, init_slots=np.zeros((32, d)), iters=1).num_slots == 32
    for iters in (-1, 51):
        with pytest.raises(SlotviewerError, match=rf"iterations must be 0\.\.50, got {iters}"):
            engine.run(scene, init_slots=np.zeros((2, d)), iters=iters)


def test_a_carried_run_reports_like_a_fresh_one(engine: Engine, scene: np.ndarray) -> None:
    fresh = engine.run(scene, seed=3)
    carried = engine.run(scene, init_slots=fresh.slots[-1], iters=2)
    p = carried.provenance
    assert (p["K"], p["T"], p["seed"], p["method"], p["init"]) == (fresh.num_slots, 2, None, "slot-attention",
                                                                   "carried")
    assert p["model"] == fresh.provenance["model"] and p["backend"] == fresh.provenance["backend"]
    assert p["familiarity"]["reconstruction_mse"] > 0 and set(p["familiarity"]) == set(fresh.provenance["familiarity"])
    t = carried.timings_ms
    assert set(t) == {"preprocess", "forward", "total"} and t["total"] >= t["forward"] > 0


def test_onnx_carry_over_needs_no_torch(tiny_model: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
        "import numpy as np\n"
        "from slotviewer.engine import Engine\n"
        f"e = Engine.load({str(tiny_model) + '.onnx'!r}, 'onnx', 'cpu')\n"
        "image = np.zeros((20, 30, 3), np.uint8)\n"
        "t = e.run(image, seed=0)\n"
        "print(e.run(image, init_slots=t.slots[-1], iters=2).slots.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("(3,")


def test_torch_and_onnx_agree_on_an_attention_bias(torch_engine: Engine, onnx_engine: Engine,
                                                   scene: np.ndarray) -> None:
    start = torch_engine.run(scene, seed=2)
    f = torch_engine.config.feature_size
    bias = np.log(np.random.default_rng(0).uniform(0.01, 1, (start.num_slots, f, f))).astype(np.float32)
    a = torch_engine.run(scene, init_slots=start.slots[-1], iters=2, attention_bias=bias)
    b = onnx_engine.run(scene, init_slots=start.slots[-1], iters=2, attention_bias=bias)
    plain = onnx_engine.run(scene, init_slots=start.slots[-1], iters=2)
    assert np.abs(a.attention - b.attention).max() < 1e-4
    assert np.abs(a.alpha_logits - b.alpha_logits).max() < 1e-3
    assert np.abs(b.attention - plain.attention).max() > 1e-3  # the bias took effect


def test_a_misshapen_attention_bias_is_one_clear_error(engine: Engine, scene: np.ndarray) -> None:
    start = engine.run(scene, seed=1).slots[-1]
    f = engine.config.feature_size
    with pytest.raises(SlotviewerError, match=rf"attention bias must have shape \[K, {f}, {f}\]"):
        engine.run(scene, init_slots=start, iters=1, attention_bias=np.zeros((len(start) + 1, f, f)))
    with pytest.raises(SlotviewerError, match="an attention bias needs init_slots"):
        engine.run(scene, attention_bias=np.zeros((len(start), f, f)))

"""The benchmark runs end to end (its timings are printed, never asserted); its parity numbers are checked."""

import json
from pathlib import Path

import pytest

from slotviewer.bench.report import bench_engine
from slotviewer.bench.slot_attention import bench_slot_attention
from slotviewer.cli import main


def test_engine_bench_reports_ratios_and_parity(tiny_model: Path) -> None:
    result = bench_engine(str(tiny_model), repeats=1)
    ms, ratios = result["latency_ms"], result["ratios"]
    assert all(value > 0 for value in ms.values())
    # each ratio is the quotient of the latencies it names, each throughput is 8 images over its latency
    assert ratios["onnx_speedup_b1"] == pytest.approx(ms["torch_b1"] / ms["onnx_b1"])
    assert ratios["onnx_speedup_b8"] == pytest.approx(ms["torch_b8"] / ms["onnx_b8"])
    assert ratios["recomposite_over_forward"] == pytest.approx(ms["recomposite"] / ms["onnx_b1"])
    assert ratios["decode_over_forward_onnx"] == pytest.approx(ms["onnx_decode"] / ms["onnx_b1"])
    assert ratios["decode_over_forward_torch"] == pytest.approx(ms["torch_decode"] / ms["torch_b1"])
    assert result["throughput_img_s"]["onnx_b8"] == pytest.approx(8000 / ms["onnx_b8"])
    assert result["parity_max_abs"]["attention"] <= 1e-4 and result["parity_max_abs"]["composite"] <= 1e-4
    assert result["onnx_providers"] == ["CPUExecutionProvider"]
    assert not any(name.startswith("engine_run_onnx_best_of") for name in ms), "one draw: nothing more to time"


def test_engine_bench_times_a_run_with_the_models_draws() -> None:
    ms = bench_engine("tetrominoes", repeats=1)["latency_ms"]  # shipped: best of 8
    assert ms["engine_run_onnx_best_of_8"] > 0 and ms["engine_run_onnx"] > 0


def test_slot_attention_bench_compares_identical_outputs() -> None:
    result = bench_slot_attention(batch=2, n=64, repeats=1)
    assert result["max_abs_diff"] < 1e-5
    assert result["speedup"] == pytest.approx(result["lucidrains_ms"] / result["slotviewer_ms"])
    assert result["shape"] == {"B": 2, "N": 64, "D": 64, "K": 7, "T": 3}


def test_bench_cli_json(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--model", str(tiny_model), "--only", "engine", "--repeats", "1", "--json"]) == 0
    engine = json.loads(capsys.readouterr().out)["engine"]
    assert engine["model"] == str(tiny_model) and engine["onnx_providers"] == ["CPUExecutionProvider"]
    assert engine["parity_max_abs"]["composite"] <= 1e-4
    assert engine["ratios"]["onnx_speedup_b1"] == pytest.approx(engine["latency_ms"]["torch_b1"]
                                                              / engine["latency_ms"]["onnx_b1"])

"""The benchmark runs end to end (its timings are printed, never asserted); its parity numbers are checked."""

import json
from pathlib import Path

import pytest

from slotviewer.bench.report import bench_engine
from slotviewer.bench.slot_attention import bench_slot_attention
from slotviewer.cli import main


def test_engine_bench_reports_ratios_and_parity(tiny_model: Path) -> None:
    result = bench_engine(str(tiny_model), repeats=1)
    assert set(result["ratios"]) >= {"onnx_speedup_b1", "onnx_speedup_b8", "recomposite_over_forward"}
    assert result["parity_max_abs"]["attention"] <= 1e-4 and result["parity_max_abs"]["composite"] <= 1e-4
    assert result["onnx_providers"] == ["CPUExecutionProvider"]


def test_slot_attention_bench_compares_identical_outputs() -> None:
    result = bench_slot_attention(batch=2, n=64, repeats=1)
    assert result["max_abs_diff"] < 1e-5 and result["speedup"] > 0


def test_bench_cli_json(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--model", str(tiny_model), "--only", "engine", "--repeats", "1", "--json"]) == 0
    assert "latency_ms" in json.loads(capsys.readouterr().out)["engine"]

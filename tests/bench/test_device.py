"""`bench --device`: each backend on the device, checked against the CPU; a device nothing can use is an error."""

import json
from pathlib import Path

import pytest
import torch

from slotviewer.bench.device import bench_device, load_on
from slotviewer.bench.video import video_engine
from slotviewer.cli import main
from slotviewer.errors import SlotviewerError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without a GPU")


def test_device_bench_times_both_backends_and_compares_them_with_the_cpu(tiny_model: Path) -> None:
    result = bench_device(str(tiny_model), "cpu", repeats=1)
    assert result["errors"] == {} and set(result["backends"]) == {"torch", "onnx"}
    onnx = result["backends"]["onnx"]
    assert onnx["runs_on"].endswith("ONNX Runtime · CPUExecutionProvider")
    assert all(ms > 0 for ms in onnx["latency_ms"].values())
    assert onnx["throughput_img_s"] == pytest.approx(8000 / onnx["latency_ms"]["batch_8"])
    for backend in result["backends"].values():  # the same backend on the same CPU twice: identical
        assert backend["max_abs_vs_cpu"] == {"attention": 0.0, "reconstruction": 0.0}


@no_gpu
def test_backends_that_cannot_use_the_gpu_say_why(tiny_model: Path) -> None:
    engines, errors = load_on(str(tiny_model), "cuda")
    assert engines == {} and set(errors) == {"torch", "onnx"}
    assert "cannot use a GPU" in errors["torch"] and "no CUDA provider" in errors["onnx"]
    with pytest.raises(SlotviewerError, match="no backend runs on cuda: torch: .*; onnx: "):
        video_engine(str(tiny_model), "cuda")


@no_gpu
def test_bench_on_a_missing_gpu_fails_with_the_reasons(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--model", str(tiny_model), "--device", "cuda", "--repeats", "1", "--json"]) == 1
    engine = json.loads(capsys.readouterr().out)["engine"]
    assert engine["backends"] == {} and set(engine["errors"]) == {"torch", "onnx"}
    assert main(["bench", "--model", str(tiny_model), "--device", "cuda", "--only", "train", "--repeats", "1"]) == 1
    assert "device 'cuda' requested" in capsys.readouterr().err


def test_cpu_only_parts_are_refused_on_a_device(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--model", str(tiny_model), "--device", "cuda", "--only", "write"]) == 1
    assert capsys.readouterr().err.strip() == ("slotviewer: error: --only write measures the CPU; on cuda choose "
                                               "engine or train")

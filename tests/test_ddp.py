"""Two CPU processes under torchrun (gloo) train the tiny model with DistributedDataParallel."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from slotviewer.model.weights import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # an ONNX export or two processes: seconds, not milliseconds
def test_two_processes_keep_identical_weights_and_rank0_alone_writes(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy(), err_msg=key)
    written = load_model(tmp_path / "m")  # rank 0's model file after the resumed run
    assert written.card.steps == 4 and "2 processes (DDP)" in written.card.notes
    for key, value in written.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), a[key].numpy(), err_msg=key)
    assert (tmp_path / "rank0.batch").read_bytes() != (tmp_path / "rank1.batch").read_bytes(), "ranks draw own data"
    precisions = [(tmp_path / f"rank{rank}.precision").read_text() for rank in (0, 1)]
    assert precisions == ["fp32", "fp32"], "every rank trains in rank 0's precision, whatever its own probe found"
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".precision")
    assert names == ["m.json", "m.safetensors", "m.train.json", "m.train.safetensors",
                     "rank0.batch", "rank0.safetensors", "rank1.batch", "rank1.safetensors"]
    # a log (not a terminal) gets progress lines: one each for the run and its resumption, rank 0's alone
    assert result.stderr.count("train m: 2/2 step") == 1 and result.stderr.count("train m: 4/4 step") == 1

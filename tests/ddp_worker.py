"""Run by tests/test_ddp.py under torchrun: a few DDP steps of the tiny model, a resume, then each rank
writes its own weights so the test can check they agree."""

import dataclasses
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

import slotviewer.train
from slotviewer.precision import PrecisionChoice
from slotviewer.train import Trainer, TrainSettings
from tests.test_train import TINY_TETROMINOES


def main(out: Path) -> None:
    torch.set_num_threads(1)
    # the ranks' own timing probes disagree here (rank 1 "finds" bf16 faster): all must train in rank 0's pick
    pick = "bf16" if int(os.environ["RANK"]) == 1 else "fp32"
    slotviewer.train.choose_precision = lambda *args: PrecisionChoice(pick, "auto: this rank's probe")
    base = TrainSettings(dataset="tetrominoes", out=str(out / "m"), steps=2, batch=2, warmup=1, eval_samples=4,
                         config=TINY_TETROMINOES.to_dict(), threads=1, precision="auto")
    first = Trainer(base)
    (out / f"rank{dist.get_rank()}.precision").write_text(first.precision.precision)
    first.run(final_eval=4)
    trainer = Trainer(dataclasses.replace(base, steps=4), resume=True)
    assert trainer.step == 2, trainer.step
    trainer.run(final_eval=0)
    rank = dist.get_rank()
    save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.batch").write_bytes(trainer.batches(0).tobytes())
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

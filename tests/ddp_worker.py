"""Run by tests/test_ddp.py under torchrun: a few DDP steps of the tiny model, a resume, then each rank
writes its own weights so the test can check they agree."""

import dataclasses
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from slotviewer.train import Trainer, TrainSettings
from tests.test_train import TINY_TETROMINOES


def main(out: Path) -> None:
    torch.set_num_threads(1)
    base = TrainSettings(dataset="tetrominoes", out=str(out / "m"), steps=2, batch=2, warmup=1, eval_samples=4,
                         config=TINY_TETROMINOES.to_dict(), threads=1)
    Trainer(base).run(final_eval=4)
    trainer = Trainer(dataclasses.replace(base, steps=4), resume=True)
    assert trainer.step == 2, trainer.step
    trainer.run(final_eval=0)
    rank = dist.get_rank()
    save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.batch").write_bytes(trainer.batches(0).tobytes())
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Training runs from the outside: Ctrl-C saves what was trained, the curve CSV holds the validation scores,
warm starts carry weights across slot initialisations."""

import csv
import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from slotviewer.data import load_scenes
from slotviewer.errors import ModelFileError
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.weights import load_model, save_model
from slotviewer.train import EVAL_SEED, Trainer, evaluate
from tests.test_train import TINY_TETROMINOES, settings


def interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Ctrl-C arrives when the run is about to take step `step` (after `step` completed steps)."""
    original = Trainer.train_step

    def train_step(self: Trainer, images: np.ndarray) -> torch.Tensor:
        if self.step == step:
            raise KeyboardInterrupt
        return original(self, images)

    monkeypatch.setattr(Trainer, "train_step", train_step)


def test_ctrl_c_saves_the_model_and_checkpoint_of_the_steps_done(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_at(monkeypatch, 2)
    path = Trainer(settings(tmp_path / "cut", 6)).run(final_eval=16)
    monkeypatch.undo()
    cut = load_model(path)
    assert cut.card.steps == 2 and cut.card.fg_ari == {}, "interrupted: no final evaluation"
    assert json.loads((tmp_path / "cut.train.json").read_text())["step"] == 2
    # the saved weights are exactly those of an uninterrupted 2-step run
    Trainer(settings(tmp_path / "two", 2)).run(final_eval=0)
    two = load_model(tmp_path / "two").model.state_dict()
    for key, value in cut.model.state_dict().items():
        assert torch.equal(value, two[key]), key
    # and the run resumes from there to the same weights as 6 steps in one go
    Trainer(settings(tmp_path / "cut", 6), resume=True).run(final_eval=0)
    Trainer(settings(tmp_path / "six", 6)).run(final_eval=0)
    a, b = load_model(tmp_path / "cut").model.state_dict(), load_model(tmp_path / "six").model.state_dict()
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-6, err_msg=key)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files"


def test_sigterm_is_handled_like_ctrl_c() -> None:
    from slotviewer.cli import _interrupt_on_term

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        assert _interrupt_on_term() == {signal.SIGINT: before[0], signal.SIGTERM: before[1]}
        for signum in (signal.SIGTERM, signal.SIGINT):
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signum)
                time.sleep(2)  # Python runs the handler at once; the sleep only bounds a failure
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def test_curve_csv_holds_the_validation_scores(tmp_path: Path) -> None:
    run = dataclasses.replace(settings(tmp_path / "m", 6), log_every=3, eval_minutes=0.0)
    trainer = Trainer(run)
    trainer.run(final_eval=0)
    with open(tmp_path / "m.curve.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert list(rows[0]) == ["minutes", "step", "loss", "fg_ari"]
    assert all(np.isfinite(float(r["loss"])) and float(r["loss"]) > 0 for r in rows)
    # the last row is the final model's FG-ARI on the validation scenes (an independent evaluation)
    images, masks = load_scenes("tetrominoes", run.eval_samples, 35, EVAL_SEED)
    expected = float(np.nanmean(evaluate(load_model(tmp_path / "m").model, images, masks)))
    assert float(rows[-1]["fg_ari"]) == pytest.approx(expected, abs=6e-5)
    card = load_model(tmp_path / "m").card
    assert [row[1] for row in card.curve] == [float(r["fg_ari"]) for r in rows]
    assert [row[0] for row in card.curve] == [float(r["minutes"]) for r in rows]
    # a resumed run appends to the same file, without a second header
    Trainer(dataclasses.replace(run, steps=9), resume=True).run(final_eval=0)
    lines = (tmp_path / "m.curve.csv").read_text().splitlines()
    assert lines[0] == "minutes,step,loss,fg_ari" and len(lines) == 4 and lines[-1].split(",")[1] == "9"


def save_tiny(path: Path, slot_init: str, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = SlotAutoencoder(dataclasses.replace(TINY_TETROMINOES, slot_init=slot_init,
                                                implicit=slot_init == "learned"))
    save_model(model, path)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_warm_start_from_learned_queries_to_gaussian_slots(tmp_path: Path) -> None:
    source = save_tiny(tmp_path / "learned", "learned", seed=1)
    trainer = Trainer(dataclasses.replace(settings(tmp_path / "m", 1), init_from=str(tmp_path / "learned")))
    own = trainer.model.state_dict()
    queries = source["slot_attention.slots_init"][0]  # [K, D]
    torch.testing.assert_close(own["slot_attention.slots_mu"].view(-1), queries.mean(0))
    torch.testing.assert_close(own["slot_attention.slots_logsigma"].view(-1), queries.std(0).clamp_min(1e-3).log())
    for key, value in own.items():
        if not key.startswith("slot_attention.slots_"):
            assert torch.equal(value, source[key]), key


def test_warm_start_from_gaussian_to_learned_keeps_fresh_queries(tmp_path: Path) -> None:
    source = save_tiny(tmp_path / "gauss", "gaussian", seed=2)
    config = dataclasses.replace(TINY_TETROMINOES, slot_init="learned", implicit=True).to_dict()
    trainer = Trainer(dataclasses.replace(settings(tmp_path / "m", 1), config=config))
    fresh = trainer.model.slot_attention.slots_init.detach().clone()
    skipped = trainer.warm_start(str(tmp_path / "gauss"))
    assert skipped == ["slot_attention.slots_init"]
    own = trainer.model.state_dict()
    assert torch.equal(own["slot_attention.slots_init"], fresh)
    for key, value in own.items():
        if key != "slot_attention.slots_init":
            assert torch.equal(value, source[key]), key


def test_warm_start_from_a_checkpoint_and_from_junk(tmp_path: Path) -> None:
    source = save_tiny(tmp_path / "base", "gaussian", seed=3)
    tensors = {f"model.{k}": v.contiguous() for k, v in source.items()}
    tensors["optim.0.exp_avg"] = torch.zeros(3)
    save_file(tensors, str(tmp_path / "base.train.safetensors"))
    trainer = Trainer(settings(tmp_path / "m", 1))
    assert trainer.warm_start(str(tmp_path / "base.train.safetensors")) == []
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, source[key]), key
    assert set(load_file(str(tmp_path / "base.train.safetensors"))) == set(tensors)
    (tmp_path / "junk.safetensors").write_bytes(b"not tensors" * 10)
    with pytest.raises(ModelFileError, match="junk.*cannot warm-start"):
        trainer.warm_start(str(tmp_path / "junk.safetensors"))


def test_train_command_restores_the_signal_handlers(tmp_path: Path) -> None:
    """`main(["train", …])` inside a longer-lived process (tests, scripts) leaves SIGTERM as it found it."""
    from slotviewer.cli import main

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["train", "--dataset", "tetrominoes", "--out", str(tmp_path / "m"), "--steps", "1", "--batch", "2",
                 "--threads", "1", "--final-eval", "0", "--warmup", "1"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def scripted_scores(monkeypatch: pytest.MonkeyPatch, scores: dict[int, float]) -> None:
    """The validation FG-ARI the trainer sees at each step (0.1 where not given), so which weights score
    best is chosen by the test rather than by a tiny model's noise."""
    import slotviewer.train as train

    def evaluate(model: SlotAutoencoder, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.array([scores.get(trainer_step[0], 0.1)])

    trainer_step = [0]
    original = Trainer._validate

    def validate(self: Trainer) -> str:
        trainer_step[0] = self.step
        return original(self)

    monkeypatch.setattr(train, "evaluate", evaluate)
    monkeypatch.setattr(Trainer, "_validate", validate)


def test_keep_best_writes_the_best_validating_weights_and_resume_remembers_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = dataclasses.replace(settings(tmp_path / "m", 6), log_every=1, eval_minutes=0.0, keep_best=True)
    scripted_scores(monkeypatch, {3: 0.9, 6: 0.5})
    Trainer(run).run(final_eval=0)
    Trainer(dataclasses.replace(settings(tmp_path / "at3", 3))).run(final_eval=0)  # the same run, stopped at 3
    written, at3 = load_model(tmp_path / "m"), load_model(tmp_path / "at3")
    for key, value in at3.model.state_dict().items():
        np.testing.assert_allclose(written.model.state_dict()[key].numpy(), value.numpy(), atol=1e-6, err_msg=key)
    assert "weights of step 3, the best validation FG-ARI of the run (0.900" in written.card.notes
    # the checkpoint goes on from the last step, and remembers which weights were best
    meta = json.loads((tmp_path / "m.train.json").read_text())
    assert meta["step"] == 6 and meta["best"] == [3, 0.9]
    last = load_file(str(tmp_path / "m.train.safetensors"))
    assert any(not torch.equal(last[f"model.{k}"], v) for k, v in at3.model.state_dict().items())
    # a resumed run that never beats 0.9 still writes step 3's weights; one that does writes its own
    Trainer(dataclasses.replace(run, steps=8), resume=True).run(final_eval=0)
    assert "weights of step 3," in load_model(tmp_path / "m").card.notes
    scripted_scores(monkeypatch, {10: 0.95})
    Trainer(dataclasses.replace(run, steps=10), resume=True).run(final_eval=0)
    assert "weights of the last step (the best validation FG-ARI of the run)" in load_model(tmp_path / "m").card.notes
    assert json.loads((tmp_path / "m.train.json").read_text())["best"] == [10, 0.95]


def test_without_keep_best_the_last_weights_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_scores(monkeypatch, {3: 0.9, 6: 0.5})
    Trainer(dataclasses.replace(settings(tmp_path / "m", 6), log_every=1, eval_minutes=0.0)).run(final_eval=0)
    last = load_file(str(tmp_path / "m.train.safetensors"))
    for key, value in load_model(tmp_path / "m").model.state_dict().items():
        assert torch.equal(last[f"model.{key}"], value), key
    assert not (tmp_path / "m.best.safetensors").exists() and "weights of" not in load_model(tmp_path / "m").card.notes


def test_an_interrupted_train_command_saves_and_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`train … && next step` must not go on after a Ctrl-C: the run is saved but not the one asked for."""
    from slotviewer.cli import main

    interrupt_at(monkeypatch, 2)
    assert main(["train", "--dataset", "tetrominoes", "--out", str(tmp_path / "m"), "--steps", "5", "--batch", "2",
                 "--threads", "1", "--final-eval", "0", "--warmup", "1"]) == 130
    assert "stopped at step 2 of 5: add --resume to continue" in capsys.readouterr().err
    assert json.loads((tmp_path / "m.train.json").read_text())["step"] == 2 and (tmp_path / "m.safetensors").exists()


def test_a_best_file_the_checkpoint_does_not_know_is_not_trusted(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed after writing new best weights but before its checkpoint said so resumes from an older
    record: the file's weights are not the recorded step's, so they must not be written under its name."""
    run = dataclasses.replace(settings(tmp_path / "m", 4), log_every=1, eval_minutes=0.0, keep_best=True)
    scripted_scores(monkeypatch, {2: 0.9})
    Trainer(run).run(final_eval=0)
    meta_path = tmp_path / "m.train.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"best": [1, 0.95]}))  # as if the checkpoint were from before step 2
    scripted_scores(monkeypatch, {})
    Trainer(dataclasses.replace(run, steps=6), resume=True).run(final_eval=0)
    assert json.loads(meta_path.read_text())["best"][0] == 5  # the resumed run's own first evaluation

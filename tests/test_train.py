import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slotviewer.data import generate
from slotviewer.errors import SlotviewerError
from slotviewer.model.weights import load_model
from slotviewer.train import EVAL_SEED, Trainer, TrainSettings, evaluate, learning_rate, mask_consistency_loss
from tests.model.test_autoencoder import TINY

TINY_TETROMINOES = dataclasses.replace(TINY, resolution=35, decoder_grid=9, decoder_upsample=2)


def settings(out: Path, steps: int) -> TrainSettings:
    return TrainSettings(dataset="tetrominoes", out=str(out), steps=steps, batch=4, warmup=2, half_life=4,
                         eval_samples=8,
                         config=TINY_TETROMINOES.to_dict(), threads=1)


def test_run_writes_model_card_and_checkpoint(tmp_path: Path) -> None:
    path = Trainer(settings(tmp_path / "m", 5)).run(final_eval=16)
    loaded = load_model(path)
    assert loaded.config == TINY_TETROMINOES
    assert loaded.card.steps == 5 and loaded.card.dataset == "tetrominoes"
    assert loaded.card.fg_ari["n"] == 16
    # the card's score is the saved model's own, on fresh scenes (not the validation set, not a constant)
    images, masks = generate("tetrominoes", 16, EVAL_SEED + 1)
    own = float(np.nanmean(evaluate(loaded.model, images, masks)))
    assert loaded.card.fg_ari["mean"] == pytest.approx(own, abs=1e-4)
    assert json.loads((tmp_path / "m.train.json").read_text())["step"] == 5


def test_the_card_is_scored_with_the_models_own_draws(tmp_path: Path) -> None:
    config = dataclasses.replace(TINY_TETROMINOES, draws=3).to_dict()
    path = Trainer(dataclasses.replace(settings(tmp_path / "m", 3), config=config)).run(final_eval=16)
    card = load_model(path).card
    assert card.fg_ari["draws"] == card.reconstruction["draws"] == 3 and card.fg_ari["iters"] == 3
    images, masks = generate("tetrominoes", 16, EVAL_SEED + 1)
    best = float(np.nanmean(evaluate(load_model(path).model, images, masks, draws=3)))
    assert card.fg_ari["mean"] == pytest.approx(best, abs=1e-4)


def test_resume_continues_exactly(tmp_path: Path) -> None:
    """5 steps + resume to 8 gives the same weights as 8 steps in one go (data and state are restored)."""
    Trainer(settings(tmp_path / "a", 5)).run(final_eval=0)
    Trainer(settings(tmp_path / "a", 8), resume=True).run(final_eval=0)
    Trainer(settings(tmp_path / "b", 8)).run(final_eval=0)
    a, b = load_model(tmp_path / "a").model.state_dict(), load_model(tmp_path / "b").model.state_dict()
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-6, err_msg=key)


def test_wrong_resolution_is_a_clear_error(tmp_path: Path) -> None:
    bad = settings(tmp_path / "m", 1)
    bad.config = TINY.to_dict()
    with pytest.raises(SlotviewerError, match="35×35 but the model expects 16"):
        Trainer(bad)


def test_learning_rate_warms_up_then_decays() -> None:
    s = TrainSettings(dataset="shapes", out="x", steps=300, lr=1e-3, warmup=100)
    lrs = [learning_rate(s, step) for step in (0, 50, 99, 200, 299)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-3)
    assert lrs[2] > lrs[3] > lrs[4] == pytest.approx(1e-3 * 0.5 ** (199 / 100))


def test_frozen_parts_stay_fixed_while_the_rest_trains(tmp_path: Path) -> None:
    """A curriculum: fit a new decoder to a trained encoder and Slot Attention without moving them."""
    Trainer(settings(tmp_path / "base", 2)).run(final_eval=0)
    frozen = dataclasses.replace(settings(tmp_path / "m", 3), init_from=str(tmp_path / "base"),
                                 freeze=("encoder", "slot_attention"))
    Trainer(frozen).run(final_eval=0)
    before, after = load_model(tmp_path / "base").model.state_dict(), load_model(tmp_path / "m").model.state_dict()
    for key in before:
        same = np.array_equal(before[key].numpy(), after[key].numpy())
        assert same == key.startswith(("encoder", "slot_attention")), key


def test_freezing_an_unknown_part_names_the_parts(tmp_path: Path) -> None:
    bad = dataclasses.replace(settings(tmp_path / "m", 1), freeze=("encodr",))
    with pytest.raises(SlotviewerError, match="encodr.*decoder, encoder, slot_attention"):
        Trainer(bad)
    everything = dataclasses.replace(settings(tmp_path / "m", 1), freeze=("encoder", "slot_attention", "decoder"))
    with pytest.raises(SlotviewerError, match="that is every part, nothing is left to train"):
        Trainer(everything)


def test_mask_consistency_pulls_the_masks_towards_the_attention() -> None:
    attention = torch.softmax(torch.randn(2, 3, 16), dim=1)  # [B, K, N] on a 4×4 feature grid
    matching = attention.view(2, 3, 4, 4).repeat_interleave(2, 2).repeat_interleave(2, 3)  # same masks at 8×8
    shuffled = matching[:, [1, 2, 0]]
    assert mask_consistency_loss(matching, attention) < mask_consistency_loss(shuffled, attention)
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    source = attention.clone().requires_grad_()
    mask_consistency_loss(logits.softmax(1), source).backward()
    assert logits.grad.abs().sum() > 0 and source.grad is None  # the attention is the target, held fixed


def test_mask_consistency_changes_what_training_learns(tmp_path: Path) -> None:
    """Same seed, data and steps: only the added loss term can make the two runs' weights differ."""
    plain = load_model(Trainer(settings(tmp_path / "plain", 3)).run(final_eval=0))
    run = dataclasses.replace(settings(tmp_path / "mc", 3), mask_consistency=0.1)
    with_mc = load_model(Trainer(run).run(final_eval=0))
    assert with_mc.card.steps == 3 and "mask consistency 0.1" in with_mc.card.notes
    a, b = plain.model.state_dict(), with_mc.model.state_dict()
    assert any(not torch.equal(a[key], b[key]) for key in a)


def test_bf16_autocast_runs_convolutions_in_bf16_and_keeps_the_loss_fp32(tmp_path: Path) -> None:
    trainer = Trainer(dataclasses.replace(settings(tmp_path / "bf", 3), precision="bf16"))
    seen: list[torch.dtype] = []
    trainer.model.encoder.cnn[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    loss = trainer.train_step(trainer.batches(0))
    assert seen == [torch.bfloat16] and loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(v.dtype == torch.float32 for v in trainer.model.state_dict().values()), "master weights stay fp32"
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_unknown_precision_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SlotviewerError, match="precision must be one of auto, fp32, bf16"):
        Trainer(dataclasses.replace(settings(tmp_path / "m", 1), precision="fp8"))


def test_channels_last_trains_the_same_weights_and_is_the_cpu_default(tmp_path: Path) -> None:
    nchw = Trainer(dataclasses.replace(settings(tmp_path / "a", 3), channels_last=False))
    plain = load_model(nchw.run(final_eval=0)).model.state_dict()
    default = Trainer(settings(tmp_path / "b", 3))
    assert default.channels_last and default.model.encoder.cnn[0].weight.is_contiguous(
        memory_format=torch.channels_last) and not nchw.channels_last
    nhwc = load_model(default.run(final_eval=0))
    for key, value in nhwc.model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), plain[key].numpy(), atol=1e-5, err_msg=key)


def test_card_carries_curve_psnr_and_command(tmp_path: Path) -> None:
    """The loss is read back every `log_every` steps; each read may evaluate (eval_minutes=0), so the
    curve gets a row per read, and the card copies it along with PSNR and the recipe."""
    run = dataclasses.replace(settings(tmp_path / "m", 6), log_every=3, eval_minutes=0.0,
                              command="slotviewer train --dataset tetrominoes")
    card = load_model(Trainer(run).run(final_eval=8)).card
    assert len(card.curve) == 2 and all(len(row) == 2 and -1 <= row[1] <= 1 for row in card.curve)  # ARI may be < 0
    assert card.reconstruction["n"] == 8 and 0 < card.reconstruction["psnr_db"] < 60
    assert card.command == "slotviewer train --dataset tetrominoes"
    rows = (tmp_path / "m.curve.csv").read_text().splitlines()
    assert rows[0] == "minutes,step,loss,fg_ari" and [r.split(",")[1] for r in rows[1:]] == ["3", "6"]


def test_validation_data_may_differ_from_training_data(tmp_path: Path) -> None:
    from slotviewer.data.export import write_dataset

    write_dataset("tetrominoes", 5, tmp_path / "val", seed=9)
    trainer = Trainer(dataclasses.replace(settings(tmp_path / "m", 1), val=str(tmp_path / "val")))
    assert len(trainer.val[0]) == 5
    card = load_model(trainer.run(final_eval=100)).card
    assert card.fg_ari["data"] == str(tmp_path / "val") and card.fg_ari["n"] == 5 and "held_out" not in card.fg_ari
    # a folder scored on itself: it trained on those images, and the card says so
    own = Trainer(dataclasses.replace(settings(tmp_path / "f", 1), dataset=str(tmp_path / "val")))
    card = load_model(own.run(final_eval=100)).card
    assert card.fg_ari["held_out"] is False and "training images" in card.fg_ari["note"]
    assert card.reconstruction["held_out"] is False


def test_output_folder_is_created_before_the_first_curve_row(tmp_path: Path) -> None:
    run = dataclasses.replace(settings(tmp_path / "new" / "deeper" / "m", 2), log_every=1, eval_minutes=0.0)
    load_model(Trainer(run).run(final_eval=0))
    assert (tmp_path / "new" / "deeper" / "m.curve.csv").exists()


CLIP_CONFIG = dataclasses.replace(TINY, resolution=64, decoder_grid=8, decoder_upsample=3)


def clip_settings(out: Path, steps: int, **changes: object) -> TrainSettings:
    clip = {"dataset": "moving-shapes", "clip_frames": 3, "batch": 2, "config": CLIP_CONFIG.to_dict()}
    return dataclasses.replace(settings(out, steps), **(clip | changes))


def test_training_on_clips_with_carry_over(tmp_path: Path) -> None:
    trainer = Trainer(clip_settings(tmp_path / "clips", 3, iters_per_frame=2))
    clips = trainer.batches(0)
    assert clips.shape == (2, 3, 64, 64, 3), "batches of 3-frame clips"
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    path = trainer.run(final_eval=8)
    loaded = load_model(path)
    assert any(not torch.equal(before[k], v) for k, v in loaded.model.state_dict().items()), "weights trained"
    assert "clips of 3 frames with carry-over, 2 iteration(s) per carried frame" in loaded.card.notes
    assert loaded.card.fg_ari["data"] == "shapes", "validated on the clips' still scenes"


@pytest.mark.parametrize(("changes", "message"), [
    ({"clip_frames": 0}, "give --clip-frames"),
    ({"clip_frames": 1}, "give --clip-frames"),
    ({"dataset": "shapes"}, "needs a clip generator"),
    ({"mask_consistency": 0.01}, "cannot be combined"),
    ({"iters_per_frame": 0}, "must be ≥ 1"),
])
def test_clip_settings_that_cannot_work_are_refused_up_front(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(SlotviewerError, match=message):
        Trainer(clip_settings(tmp_path / "bad", 1, **changes))


def test_a_resumed_run_drops_curve_rows_logged_after_its_checkpoint(tmp_path: Path) -> None:
    """A run killed after its last checkpoint logged rows the resumed run logs again: the curve must not
    go back in time."""
    Trainer(settings(tmp_path / "m", 4)).run(final_eval=0)
    curve = tmp_path / "m.curve.csv"
    curve.write_text("minutes,step,loss,fg_ari\r\n0.10,2,0.05,0.1\r\n0.20,4,0.04,0.2\r\n0.30,6,0.03,0.3\r\n")
    Trainer(settings(tmp_path / "m", 8), resume=True)
    assert curve.read_text().splitlines() == ["minutes,step,loss,fg_ari", "0.10,2,0.05,0.1", "0.20,4,0.04,0.2"]
    Trainer(settings(tmp_path / "fresh", 8))  # a fresh start keeps no rows of an earlier run
    (tmp_path / "fresh.curve.csv").write_text("minutes,step,loss,fg_ari\r\n0.10,2,0.05,0.1\r\n")
    Trainer(settings(tmp_path / "fresh", 8))
    assert (tmp_path / "fresh.curve.csv").read_text().splitlines() == ["minutes,step,loss,fg_ari"]


def test_ctrl_c_during_the_final_scoring_still_writes_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("slotviewer.train.held_out_scores", interrupted)
    path = Trainer(settings(tmp_path / "m", 3)).run(final_eval=16)
    assert path.exists() and load_model(path).card.steps == 3 and not load_model(path).card.fg_ari
    assert "interrupted during the final scoring: writing the model without it" in capsys.readouterr().err


def test_an_interrupt_during_the_optimiser_step_lands_after_it() -> None:
    """SIGINT inside the block is held until the block is done, then raised: the step is whole."""
    import os
    import signal

    from slotviewer.train import interrupts_deferred

    done = []
    before = signal.getsignal(signal.SIGINT)  # (ignored in a nohup'ed CI run, Python's default otherwise)
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the rest of the step ran")
    assert done == ["the rest of the step ran"]
    assert signal.getsignal(signal.SIGINT) is before, "the handler is back"


def test_auto_precision_is_timed_once_and_kept_by_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` picks by a probe at the start; the checkpoint keeps the pick, so a resume under other load
    does not switch the run to the other precision half-way."""
    import slotviewer.train as train

    asked: list[str] = []

    def pick_bf16(asked_for, device, step):
        asked.append(asked_for)
        return train.PrecisionChoice("bf16", "auto: probe")

    monkeypatch.setattr(train, "choose_precision", pick_bf16)
    run = dataclasses.replace(settings(tmp_path / "m", 2), precision="auto")
    first = Trainer(run)
    assert first.precision.precision == "bf16" and asked == ["auto"]
    first.run(final_eval=0)
    assert json.loads((tmp_path / "m.train.json").read_text())["precision"] == "bf16"
    assert "bf16 (auto: probe)" in load_model(tmp_path / "m").card.notes
    resumed = Trainer(dataclasses.replace(run, steps=3), resume=True)
    assert resumed.precision.precision == "bf16" and asked == ["auto"], "the resume did not probe again"


def test_the_precision_probe_leaves_weights_optimiser_and_gradients_alone(tmp_path: Path) -> None:
    trainer = Trainer(settings(tmp_path / "m", 2))
    trainer.train_step(trainer.batches(0))  # Adam has moments to disturb
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    moments = [s["exp_avg"].clone() for s in trainer.optim.state.values()]
    seen: list[torch.dtype] = []
    trainer.model.encoder.cnn[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    for p in ("fp32", "bf16"):
        trainer._probe_step(p)
    assert seen == [torch.float32, torch.bfloat16], "each probe ran in its own precision"
    assert all(torch.equal(weights[k], v) for k, v in trainer.model.state_dict().items())
    assert all(torch.equal(a, s["exp_avg"]) for a, s in zip(moments, trainer.optim.state.values(), strict=True))
    assert all(p.grad is None for p in trainer.model.parameters())


def test_the_running_loss_continues_across_a_resume(tmp_path: Path) -> None:
    """The curve's `loss` is a running mean: a resumed run carries it on instead of restarting it from its
    first steps (which made the first point after every resume a jump)."""
    straight = Trainer(dataclasses.replace(settings(tmp_path / "a", 6), log_every=2))
    straight.run(final_eval=0)
    Trainer(dataclasses.replace(settings(tmp_path / "b", 3), log_every=2)).run(final_eval=0)
    resumed = Trainer(dataclasses.replace(settings(tmp_path / "b", 6), log_every=2), resume=True)
    resumed.run(final_eval=0)
    assert resumed.loss_avg == pytest.approx(straight.loss_avg, rel=1e-5)


def test_the_card_says_where_and_in_which_precision_it_was_trained(tmp_path: Path) -> None:
    card = load_model(Trainer(dataclasses.replace(settings(tmp_path / "m", 1), precision="bf16")).run(0)).card
    assert card.trained_on == "cpu, 1 thread(s), bf16"

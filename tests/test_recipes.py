import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from slotviewer import recipes
from slotviewer.cli import main
from slotviewer.data import generate
from slotviewer.errors import SlotviewerError
from slotviewer.model.config import ModelConfig
from slotviewer.model.weights import load_model
from slotviewer.recipes import Phase, Recipe, get_recipe, phase_stem, run_recipe, with_seed, with_steps
from slotviewer.train import EVAL_SEED, Trainer, TrainSettings, evaluate
from tests.test_train import TINY_TETROMINOES

ROOT = Path(__file__).resolve().parents[1]
COMMON = {"dataset": "tetrominoes", "batch": 4, "eval_samples": 8, "half_life": 4}
LARGER = TINY_TETROMINOES.to_dict() | {"decoder_channels": 24}


def tiny_recipe(steps: tuple[int, int] = (4, 3)) -> Recipe:
    """Two phases like the shapes recipe's: a first architecture, then a new decoder on the frozen rest."""
    return Recipe(
        name="tiny", warm_start="",
        phases=(Phase("base", TINY_TETROMINOES.to_dict(), COMMON | {"steps": steps[0], "lr": 1e-3, "warmup": 2}),
                Phase("decoder", LARGER, COMMON | {"steps": steps[1], "lr": 1e-3, "warmup": 1, "seed": 1,
                                                   "freeze": ("encoder", "slot_attention")})),
        final={"iters": 2, "draws": 2}, final_note="test values", eval_scenes=8,
    )


def weights(stem: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in load_model(stem).model.state_dict().items()}


def test_a_recipe_trains_every_phase_and_writes_one_model(tmp_path: Path) -> None:
    path = run_recipe(tiny_recipe(), tmp_path / "m", threads=1, command="slotviewer recipe tiny")
    loaded = load_model(path)
    assert loaded.config == ModelConfig.from_dict(LARGER | {"iters": 2, "draws": 2})
    card = loaded.card
    assert card.steps == 7 and card.command == "slotviewer recipe tiny"
    assert "base: 4 steps" in card.notes and "frozen encoder+slot_attention" in card.notes
    assert "decoder_channels=" in card.notes and "test values" in card.notes
    # the final phase's weights, scored at the final settings on held-out scenes
    last = weights(phase_stem(tmp_path / "m", 1, tiny_recipe().phases[1]))
    for key, value in weights(tmp_path / "m").items():
        np.testing.assert_array_equal(value, last[key], err_msg=key)
    images, masks = generate("tetrominoes", 8, EVAL_SEED + 1)
    assert card.fg_ari["mean"] == pytest.approx(float(np.nanmean(evaluate(loaded.model, images, masks, draws=2))),
                                                abs=1e-4)
    assert card.fg_ari["draws"] == 2 and card.reconstruction["psnr_db"] > 0 and card.typical_mse > 0
    assert (tmp_path / "m.onnx").exists() and (tmp_path / "m.step.onnx").exists()


def test_the_second_phase_starts_from_the_first_and_keeps_frozen_parts(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    run_recipe(recipe, tmp_path / "m", threads=1, eval_scenes=0)
    first = weights(phase_stem(tmp_path / "m", 0, recipe.phases[0]))
    second = weights(phase_stem(tmp_path / "m", 1, recipe.phases[1]))
    encoder = [k for k in first if k.startswith(("encoder", "slot_attention"))]
    assert encoder and all(np.array_equal(first[k], second[k]) for k in encoder)
    decoder = [k for k in second if k.startswith("decoder")]
    assert any(first.get(k) is None or first[k].shape != second[k].shape for k in decoder)


def test_an_interrupted_recipe_continues_to_the_same_weights(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    straight = run_recipe(tiny_recipe(), tmp_path / "a", threads=1, eval_scenes=0)
    original = Trainer.train_step
    interrupted = []

    def stop_once(self: Trainer, images: np.ndarray):  # Ctrl-C during the first phase's third step
        if self.step == 2 and not interrupted:
            interrupted.append(self.step)
            raise KeyboardInterrupt
        return original(self, images)

    monkeypatch.setattr(Trainer, "train_step", stop_once)
    assert run_recipe(tiny_recipe(), tmp_path / "b", threads=1, eval_scenes=0) is None
    first = phase_stem(tmp_path / "b", 0, tiny_recipe().phases[0])
    assert json.loads(first.with_name(first.name + ".train.json").read_text())["step"] == 2
    assert not phase_stem(tmp_path / "b", 1, tiny_recipe().phases[1]).with_suffix(".safetensors").exists()
    assert not (tmp_path / "b.safetensors").exists()
    resumed = run_recipe(tiny_recipe(), tmp_path / "b", threads=1, eval_scenes=0)
    a, b = weights(straight.with_suffix("")), weights(resumed.with_suffix(""))
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


def test_finished_phases_are_not_trained_again(tmp_path: Path, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run_recipe(tiny_recipe(), tmp_path / "m", threads=1, eval_scenes=0)
    before = weights(tmp_path / "m")
    capsys.readouterr()
    scored = []
    monkeypatch.setattr(recipes, "finish_recipe", lambda *args: scored.append(args))
    assert run_recipe(tiny_recipe(), tmp_path / "m", threads=1, eval_scenes=0) == tmp_path / "m.safetensors"
    out = capsys.readouterr().out
    assert "starting" not in out and "resuming" not in out and "finished already" in out
    assert scored == [], "a finished recipe is not scored and exported again"
    monkeypatch.undo()
    for key, value in weights(tmp_path / "m").items():
        np.testing.assert_array_equal(value, before[key])
    # a longer second phase continues that phase only, from its checkpoint
    run_recipe(tiny_recipe((4, 5)), tmp_path / "m", threads=1, eval_scenes=0)
    out = capsys.readouterr().out
    assert "decoder: resuming at step 3 (5 steps)" in out and "base" not in out
    assert load_model(tmp_path / "m").card.steps == 9


def test_the_shapes_recipe_ends_in_the_shipped_architecture() -> None:
    recipe = get_recipe("shapes")
    for phase in recipe.phases:
        ModelConfig.from_dict(phase.config)  # every phase's architecture is valid
    final = ModelConfig.from_dict(recipe.phases[-1].config | recipe.final)
    shipped = json.loads((ROOT / "models" / "shapes.json").read_text())["config"]
    assert final == ModelConfig.from_dict(shipped)
    assert recipe.phases[0].config["decoder_grid"] == 8  # the small decoder first, as the shipped model was
    assert not recipe.keep_best  # its runs that handed on best-validating weights scored lower (README)
    assert sum(int(p.settings["steps"]) for p in with_steps(recipe, 0.001).phases) < 100


def test_the_tetrominoes_recipe_is_the_shipped_run_and_its_inference_settings() -> None:
    recipe = get_recipe("tetrominoes")
    assert recipe.warm_start == "" and [p.name for p in recipe.phases] == ["train", "anneal"]
    final = ModelConfig.from_dict(recipe.phases[-1].config | recipe.final)
    shipped = json.loads((ROOT / "models" / "tetrominoes.json").read_text())
    assert final == ModelConfig.from_dict(shipped["config"])
    settings = recipe.phases[0].settings
    assert (settings["lr"], settings["warmup"], settings["batch"]) == (8e-4, 1_000, shipped["card"]["batch"])
    assert settings["steps"] >= shipped["card"]["steps"]  # the shipped run stopped at 31,912 of its schedule
    assert settings["half_life"] == 36_000 // 3  # that schedule's, not the shorter run's
    anneal = recipe.phases[1].settings
    assert anneal["lr"] < settings["lr"] * 0.5 ** (settings["steps"] / settings["half_life"]) * 1.01  # no lr jump


def test_another_seed_moves_every_phase_s_seed_and_nothing_else() -> None:
    recipe = get_recipe("shapes")
    moved = with_seed(recipe, 10)
    for before, after in zip(recipe.phases, moved.phases, strict=True):
        assert after.settings["seed"] == before.settings["seed"] + 10
        assert {k: v for k, v in after.settings.items() if k != "seed"} == {
            k: v for k, v in before.settings.items() if k != "seed"}
    assert with_seed(recipe, 0) == recipe


def test_a_recipe_on_another_seed_trains_other_weights_into_its_own_checkpoints(tmp_path: Path) -> None:
    """`recipe --seed N` into the same --out as seed 0 is refused (its checkpoints hold other seeds), and
    into its own --out it trains different weights."""
    run_recipe(tiny_recipe(), tmp_path / "a", threads=1, eval_scenes=0)
    with pytest.raises(SlotviewerError, match="seed"):
        run_recipe(with_seed(tiny_recipe((5, 3)), 1), tmp_path / "a", threads=1, eval_scenes=0)
    run_recipe(with_seed(tiny_recipe(), 1), tmp_path / "b", threads=1, eval_scenes=0)
    first, other = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert any(not np.array_equal(first[key], other[key]) for key in first)
    assert main(["recipe", "tetrominoes", "--out", str(tmp_path / "c"), "--scale", "0.0001", "--seed", "3",
                 "--eval-scenes", "0", "--threads", "1"]) == 0
    assert json.loads((tmp_path / "c-1-train.train.json").read_text())["settings"]["seed"] == 3
    assert json.loads((tmp_path / "c-2-anneal.train.json").read_text())["settings"]["seed"] == 8


def test_a_trial_scales_the_lr_half_life_with_the_steps() -> None:
    """A phase's half-life is part of its schedule: unscaled, a trial's lr would hardly decay at all."""
    half = with_steps(get_recipe("shapes"), 0.5)
    long = half.phases[1].settings
    assert (long["steps"], long["warmup"], long["half_life"]) == (18_000, 150, 12_000)
    assert "half_life" not in half.phases[0].settings  # a phase without one keeps the default (steps // 3)


def test_unknown_recipe_and_bad_scale_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SlotviewerError, match="no recipe 'nope'.*shapes, tetrominoes"):
        get_recipe("nope")
    assert main(["recipe", "nope", "--out", str(tmp_path / "x")]) != 0
    for option, value in (("--scale", "0"), ("--seed", "-1")):  # argument errors, one line as for every command
        with pytest.raises(SystemExit):
            main(["recipe", "shapes", "--out", str(tmp_path / "x"), option, value])
    err = capsys.readouterr().err
    assert "no recipe 'nope'" in err and "argument --scale: must be a number above 0, got 0" in err
    assert "--seed: must be 0.." in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_recipe_steps_scale_for_a_trial_run() -> None:
    scaled = with_steps(tiny_recipe((400, 1)), 0.01)
    assert [p.settings["steps"] for p in scaled.phases] == [4, 1]
    assert dataclasses.replace(scaled, phases=tiny_recipe().phases) == tiny_recipe()


def test_a_later_phase_built_on_a_shorter_earlier_one_is_refused(tmp_path: Path) -> None:
    """A trial run (`--scale`) into the same `--out`, then the real one: phase 2 must not quietly keep
    building on the trial's phase 1."""
    run_recipe(tiny_recipe((3, 2)), tmp_path / "m", threads=1, eval_scenes=0)
    before = weights(phase_stem(tmp_path / "m", 0, tiny_recipe().phases[0]))
    with pytest.raises(SlotviewerError, match=r"m-2-decoder: it was trained from a shorter base phase.*delete"):
        run_recipe(tiny_recipe((5, 2)), tmp_path / "m", threads=1, eval_scenes=0)
    after = weights(phase_stem(tmp_path / "m", 0, tiny_recipe().phases[0]))
    assert all(np.array_equal(before[k], after[k]) for k in before), "refused before any training"


def test_a_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    run_recipe(tiny_recipe(), tmp_path / "m", threads=1, eval_scenes=0)
    other = tiny_recipe()
    first = dataclasses.replace(other.phases[0], settings=other.phases[0].settings | {"lr": 5e-4})
    with pytest.raises(SlotviewerError, match=r"m-1-base: its checkpoint was trained with lr=0.001, the recipe says"):
        run_recipe(dataclasses.replace(other, phases=(first, other.phases[1])), tmp_path / "m", eval_scenes=0)
    wide = dataclasses.replace(other.phases[1], config=LARGER | {"decoder_channels": 16})
    with pytest.raises(SlotviewerError, match="another architecture"):
        run_recipe(dataclasses.replace(other, phases=(other.phases[0], wide)), tmp_path / "m", eval_scenes=0)


def test_an_output_stem_with_a_dot_finds_its_finished_phases(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_recipe(tiny_recipe(), tmp_path / "m.v2", threads=1, eval_scenes=0)
    capsys.readouterr()
    run_recipe(tiny_recipe(), tmp_path / "m.v2", threads=1, eval_scenes=0)
    out = capsys.readouterr().out
    assert "starting" not in out and "resuming" not in out and "m.v2.safetensors" in out
    assert (tmp_path / "m.v2.safetensors").exists() and (tmp_path / "m.v2-2-decoder.safetensors").exists()


def test_the_card_joins_the_phases_curves_on_one_time_axis(tmp_path: Path) -> None:
    from slotviewer.recipes import _joined_curve

    stems = [tmp_path / "m-1-a", tmp_path / "m-2-b"]
    for stem, rows in ((stems[0], "3.00,100,0.02,0.5\r\n9.50,300,0.01,0.6\r\n"), (stems[1], "1.50,40,0.01,0.7\r\n")):
        stem.with_name(stem.name + ".curve.csv").write_text("minutes,step,loss,fg_ari\r\n" + rows)
    assert _joined_curve(stems, [10.0, 2.0]) == [[3.0, 0.5], [9.5, 0.6], [11.5, 0.7]]  # phase 2 starts at 10 min



def test_each_phase_hands_on_its_best_validating_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_train_runs import scripted_scores

    often = {"eval_minutes": 0.0, "log_every": 2}  # validate every 2 steps
    base, decoder = tiny_recipe((6, 3)).phases
    phases = tuple(dataclasses.replace(phase, settings=phase.settings | often) for phase in (base, decoder))
    recipe = dataclasses.replace(tiny_recipe(), phases=phases)
    scripted_scores(monkeypatch, {2: 0.9})  # the base phase's best is its step 2 of 6
    run_recipe(recipe, tmp_path / "m", threads=1, eval_scenes=0)
    same_to_step_2 = TrainSettings(**(base.settings | {"steps": 2}), out=str(tmp_path / "at2"),
                                   config=dict(base.config), threads=1)
    Trainer(same_to_step_2).run(final_eval=0)
    at2 = weights(tmp_path / "at2")
    handed = weights(phase_stem(tmp_path / "m", 0, base))
    assert all(np.allclose(handed[k], at2[k], atol=1e-6) for k in at2)
    second = weights(phase_stem(tmp_path / "m", 1, decoder))
    frozen = [k for k in at2 if k.startswith(("encoder", "slot_attention"))]
    assert frozen and all(np.allclose(second[k], at2[k], atol=1e-6) for k in frozen)
    assert "weights handed on: base step 2 (validation FG-ARI 0.900)" in load_model(tmp_path / "m").card.notes


def test_the_recipe_command_trains_in_fp32_unless_told() -> None:
    """Its result was made in fp32; its bf16 runs segmented far worse, so `auto` is not its default."""
    from slotviewer.cli import build_parser

    assert build_parser().parse_args(["recipe", "shapes", "--out", "r"]).precision == "fp32"
    assert build_parser().parse_args(["train", "--dataset", "shapes", "--out", "t"]).precision == "auto"


def test_the_card_names_a_phase_s_other_data_and_its_half_life() -> None:
    shapes = get_recipe("shapes")
    warm_up = Phase("tetrominoes", TINY_TETROMINOES.to_dict(),
                    COMMON | {"dataset": "tetrominoes", "steps": 9_300, "lr": 8e-4, "half_life": 12_000})
    first = recipes._describe(warm_up, shapes.phases[-1])
    assert first.startswith("on tetrominoes, 9,300 steps") and "halving every 12,000" in first
    assert "on " not in recipes._describe(shapes.phases[1], shapes.phases[-1])  # the last phase's data


def test_a_trial_of_a_phase_without_a_warm_up_warms_up_for_one_step() -> None:
    """Not for the default 1,000 steps, which would outlast a trial's whole phase."""
    bare = Recipe(name="bare", warm_start="", phases=(Phase("base", TINY_TETROMINOES.to_dict(),
                                                            {"dataset": "tetrominoes", "steps": 400, "lr": 1e-3}),))
    assert with_steps(bare, 0.01).phases[0].settings == {"dataset": "tetrominoes", "steps": 4, "lr": 1e-3, "warmup": 1}

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from slotviewer.cli import main
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.weights import load_model, save_model
from tests.test_train import TINY_TETROMINOES


def test_data_generate_writes_folder_layout(tmp_path: Path) -> None:
    assert main(["data", "generate", "tetrominoes", "--n", "5", "--out", str(tmp_path / "d")]) == 0
    images = sorted((tmp_path / "d" / "images").glob("*.png"))
    masks = sorted((tmp_path / "d" / "masks").glob("*.png"))
    assert [p.name for p in images] == [p.name for p in masks] == [f"00000{i}.png" for i in range(5)]
    mask = np.asarray(Image.open(masks[0]))
    assert mask.shape == (35, 35) and set(np.unique(mask)) == {0, 1, 2, 3}


def test_eval_on_a_folder_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The printed numbers are the model's own scores on those files (an untrained model's ARI may be
    negative: the weights are seeded and the score is checked against an independent evaluation)."""
    from slotviewer.data import FolderDataset
    from slotviewer.train import evaluate_scenes

    main(["data", "generate", "tetrominoes", "--n", "6", "--out", str(tmp_path / "d")])
    torch.manual_seed(3)
    save_model(SlotAutoencoder(TINY_TETROMINOES), tmp_path / "m")
    capsys.readouterr()
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "d"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    folder = FolderDataset(str(tmp_path / "d"), 35)
    scores, errors = evaluate_scenes(load_model(tmp_path / "m").model, folder.images, folder.masks)
    assert result["n"] == 6 and -1 <= result["fg_ari_mean"] <= 1
    assert result["fg_ari_mean"] == pytest.approx(float(np.nanmean(scores["alpha"])), abs=1e-9)
    assert result["fg_ari_posterior_mean"] == pytest.approx(float(np.nanmean(scores["posterior"])), abs=1e-9)
    assert result["mse"] == pytest.approx(float(errors.mean()), rel=1e-6)
    assert result["draws"] == 1  # the model's own setting
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "d"), "--json", "--draws", "3"]) == 0
    best = json.loads(capsys.readouterr().out)
    scores, errors = evaluate_scenes(load_model(tmp_path / "m").model, folder.images, folder.masks, draws=3)
    assert best["draws"] == 3 and best["mse"] == pytest.approx(float(errors.mean()), rel=1e-6)
    assert best["mse"] < result["mse"]  # the best of three redraws the scenes better than one draw


def test_errors_are_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(tmp_path / "missing"), "--data", "tetrominoes", "--n", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.safetensors: model weights not found" in err
    (tmp_path / "empty" / "images").mkdir(parents=True)
    save_model(SlotAutoencoder(TINY_TETROMINOES), tmp_path / "m")
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "empty")]) == 1
    assert "no .png images found" in capsys.readouterr().err


def test_what_names_no_model_or_data_and_bad_run_options_are_one_line_each(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "scene.png"
    Image.fromarray(np.zeros((35, 35, 3), np.uint8)).save(image)
    run = ["run", str(image), "--backend", "onnx", "--out"]
    onnx_alone = tmp_path / "alone.onnx"
    onnx_alone.write_bytes(tiny_model.with_suffix(".onnx").read_bytes())
    notes = tmp_path / "notes.json"  # a JSON file with no model beside it
    notes.write_text('{"a": 1}')
    for args, said in (([*run, str(tmp_path / "o"), "--model", "nope"],
                        "nope: no such model (shipped: shapes, tetrominoes; or give a model's path)"),
                       ([*run, str(tmp_path / "o"), "--model", str(image)], f"{image}: not a model (give a model's"),
                       (["run", str(image), "--out", str(tmp_path / "o"), "--model", str(notes)],  # auto backend
                        f"{notes}: no model beside it (neither notes.safetensors nor notes.onnx)"),
                       ([*run, str(tmp_path / "o"), "--model", str(tmp_path / "gone.onnx")],
                        f"{tmp_path / 'gone.onnx'}: no such file"),
                       ([*run, str(image), "--model", str(tiny_model.with_suffix(".onnx"))],
                        f"{image}: exists and is not a folder (--out names the folder the results go into)"),
                       (["eval", "--model", str(tiny_model), "--data", "nosuch", "--n", "2"],
                        "nosuch: no such generator, folder or file (generators: tetrominoes, shapes,"),
                       (["eval", "--model", str(image), "--data", "shapes", "--n", "2"],  # as `run` says it
                        f"{image}: not a model (give a model's"),
                       (["eval", "--model", str(onnx_alone), "--data", "shapes", "--n", "2"],
                        f"{onnx_alone}: this needs the model's torch weights, and alone.safetensors is not beside")):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"slotviewer: error: {said}"), err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as exit_:
        main([*run, str(tmp_path / "o"), "--seed", "-5"])
    assert exit_.value.code == 2 and "argument --seed: must be 0..2147483647, got -5" in capsys.readouterr().err


def test_an_out_folder_that_cannot_be_made_is_one_line_naming_it_before_any_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "a.jpg"
    afile.write_bytes(b"")  # also a broken input: the --out error must come first, and alone
    assert main(["run", str(afile), "--out", str(afile / "sub")]) == 1
    err = capsys.readouterr().err
    assert err == f"slotviewer: error: {afile / 'sub'}: cannot create this folder ({afile} is a file)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]  # no trial folder left behind


@pytest.mark.parametrize("args, said", [
    (["gui", "--camera", "-1"], "argument --camera: must be 0 or more, got -1"),
    (["gui", "--camera", "0", "--sequence", "."], "argument --sequence: not allowed with argument --camera"),
    (["gui", "--sequence", "README.md"], "argument --sequence: README.md is not a folder (a video opens as"),
    (["gui", "--sequence", "nowhere"], "argument --sequence: no such folder: nowhere"),
    (["gui", "--screenshot", "x.txt"], "x.txt: a screenshot is written as .png, .jpg, .jpeg, .bmp"),
    (["recipe", "shapes", "--out", "x", "--threads", "-2"], "argument --threads: must be 0 or more, got -2"),
    (["recipe", "shapes", "--out", "x", "--eval-scenes", "-1"], "argument --eval-scenes: must be 0 or more"),
    (["train", "--dataset", "shapes", "--out", "x", "--warmup", "-1"], "argument --warmup: must be 0 or more"),
    (["run", "x.png", "--out", "o", "--adapt", "-3"], "argument --adapt: must be 0 or more, got -3"),
    (["run", "x.png", "--out", "o", "--iters", "51"], "argument --iters: must be 0..50, got 51"),
    (["eval", "--model", "shapes", "--data", "shapes", "--iters", "999"], "argument --iters: must be 1..50"),
    (["bench", "--video", "--video-frames", "-5"], "argument --video-frames: must be 0 or more"),
    (["run", "x.png", "--out", "o", "--slots", "300"], "argument --slots: must be 1..32, got 300"),
    (["train", "--dataset", "shapes", "--out", "x", "--key-position-scale", "2"],
     "argument --key-position-scale: must be 0..1, got 2"),
    (["train", "--dataset", "shapes", "--out", "x", "--key-position-scale", "nan"], "must be 0..1, got nan"),
    (["train", "--dataset", "shapes", "--out", "x", "--lr", "-1"], "argument --lr: must be a number above 0"),
    (["train", "--dataset", "shapes", "--out", "x", "--mask-consistency", "-1"],
     "argument --mask-consistency: must be 0 or more, got -1"),
    (["recipe", "shapes", "--out", "x", "--scale", "0"], "argument --scale: must be a number above 0"),
])
def test_out_of_range_numbers_are_refused_before_any_work(
        args: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and said in err
    assert err.count("\n") == 1 and "usage:" not in err, "one line, as every other error (--help has the usage)"
    assert err.endswith(f"(see slotviewer {args[0]} --help)\n")


def test_train_never_overwrites_a_run_and_resume_refuses_options_it_would_ignore(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t"
    base = ["train", "--dataset", "tetrominoes", "--preset", "tetrominoes", "--out", str(out), "--batch", "2",
            "--threads", "1", "--final-eval", "0"]
    assert main([*base, "--steps", "2"]) == 0
    record = (tmp_path / "t.train.json").read_text()
    assert main([*base, "--steps", "4"]) == 1  # a new run into the same --out
    assert f"{out}.train.safetensors: a training run is there already: --resume continues it" in capsys.readouterr().err
    assert (tmp_path / "t.train.json").read_text() == record
    resume = ["train", "--dataset", "tetrominoes", "--out", str(out), "--resume", "--batch", "2", "--threads", "1",
              "--final-eval", "0", "--steps", "3"]
    assert main([*resume, "--slots", "9", "--init-from", "shapes"]) == 1
    err = capsys.readouterr().err
    assert "--resume continues the checkpoint's model as it was made; --init-from, --slots cannot change it" in err
    assert main(resume) == 0 and load_model(out).card.steps == 3


def test_data_generate_writes_a_whole_folder_or_nothing_and_never_into_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from slotviewer.data import export

    assert main(["data", "generate", "shapes", "--n", "3", "--out", str(tmp_path / "d")]) == 0
    assert main(["data", "generate", "shapes", "--n", "2", "--seed", "7", "--out", str(tmp_path / "d")]) == 1
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert len(list((tmp_path / "d" / "images").iterdir())) == 3
    written: list[int] = []
    real = export.png_bytes

    def interrupted_later(array):  # noqa: ANN001, ANN202
        written.append(1)
        if len(written) > 3:  # Ctrl-C after two scenes
            raise KeyboardInterrupt
        return real(array)

    monkeypatch.setattr(export, "png_bytes", interrupted_later)
    assert main(["data", "generate", "shapes", "--n", "5", "--out", str(tmp_path / "e")]) == 130
    assert "slotviewer data: interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"], "no half-written folder"
    monkeypatch.setattr(export, "png_bytes", real)
    (tmp_path / "d" / "masks" / "000002.png").unlink()  # a folder with a mask missing: that is the message
    assert main(["eval", "--model", "shapes", "--data", str(tmp_path / "d"), "--n", "3"]) == 1
    err = capsys.readouterr().err
    assert "mask missing" in err and "does not fit" not in err
    assert main(["train", "--dataset", "shapse", "--out", str(tmp_path / "m"), "--steps", "1"]) == 1  # a typo
    assert capsys.readouterr().err.startswith("slotviewer: error: shapse: no such generator, folder or file")
    for args in (["data", "generate", "shapes", "--n", "2", "--seed", "-1", "--out", str(tmp_path / "f")],
                 ["eval", "--model", "shapes", "--data", "shapes", "--n", "2", "--iters", "0"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2
    assert not (tmp_path / "f").exists()


def test_train_on_a_folder(tmp_path: Path) -> None:
    main(["data", "generate", "tetrominoes", "--n", "8", "--out", str(tmp_path / "d")])
    code = main(["train", "--dataset", str(tmp_path / "d"), "--preset", "tetrominoes", "--out", str(tmp_path / "m"),
                 "--steps", "2", "--batch", "2", "--threads", "1", "--key-position-scale", "0.25"])
    assert code == 0 and (tmp_path / "m.safetensors").exists() and (tmp_path / "m.json").exists()
    assert load_model(tmp_path / "m").config.key_position_scale == 0.25


def test_mismatched_model_and_data_is_one_line_naming_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", "shapes", "--data", "tetrominoes", "--n", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "model shapes (64×64 RGB) does not fit data tetrominoes" in err and "35×35" in err


def test_run_an_onnx_path_without_naming_the_backend(tiny_model: Path, tmp_path: Path) -> None:
    Image.new("RGB", (20, 30), (200, 10, 10)).save(tmp_path / "a.png")
    assert main(["run", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                 "--model", f"{tiny_model}.onnx", "--seed", "0"]) == 0
    assert json.loads((tmp_path / "o" / "a" / "trace.json").read_text())["backend"] == "onnx"


def test_gui_with_a_path_and_a_live_source_refuses_both(capsys: pytest.CaptureFixture[str]) -> None:
    for live in (["--camera", "0"], ["--sequence", "."]):
        assert main(["gui", "clip.mp4", *live, "--screenshot", "s.png"]) == 1
        err = capsys.readouterr().err
        assert err == f"slotviewer: error: clip.mp4: give one source, this path or {live[0]} (both would play one " \
                      "of them)\n", err


def test_gui_options_that_would_be_dropped_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for args, said in ((["--overlay", "alpha", "--hide", "1"], "--hide, --overlay only work with --screenshot"),
                       (["--size", "800x600"], "--size only works with --screenshot"),
                       (["--b", "b.png", "--compare", "kmeans", "--screenshot", "s.png"],
                        "--compare shows image A clustered as B; it cannot go with --b")):
        assert main(["gui", "a.png", *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"slotviewer: error: {said}") and err.count("\n") == 1, err


def test_gui_without_a_display_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["gui"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no display to open the app on" in err and "slotviewer run" in err


def test_train_times_its_precision_by_default_and_says_which_it_took(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--dataset", "tetrominoes", "--preset", "tetrominoes", "--batch", "2", "--threads", "1",
            "--final-eval", "0", "--steps", "1"]
    assert main([*base, "--out", str(tmp_path / "auto")]) == 0
    assert re.search(r"precision: (fp32|bf16) \(auto: (a step took \d+ ms in bf16, \d+ ms in fp32|no bf16 kernels)",
                     capsys.readouterr().out)
    assert main([*base, "--out", str(tmp_path / "fp32"), "--precision", "fp32"]) == 0
    assert "precision: fp32 (asked for)" in capsys.readouterr().out


def test_bench_on_weights_without_graphs_says_both_are_needed(tiny_model: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model.with_suffix(suffix), tmp_path / f"weights{suffix}")
    assert main(["bench", "--only", "engine", "--model", str(tmp_path / "weights")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ONNX graph not found (export it: slotviewer export-onnx" in err, err
    assert "--backend" not in err and err.endswith("so it needs the model's weights and its ONNX graphs\n"), err


def test_commands_that_write_a_model_refuse_a_folder_or_an_unwritable_out_before_any_work(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--out am/` once wrote am.safetensors beside the folder; an unwritable one failed after the training."""
    afile = tmp_path / "afile"
    afile.write_text("")
    image = tmp_path / "scene.png"
    Image.fromarray(np.zeros((35, 35, 3), np.uint8)).save(image)
    commands = {"train": ["train", "--dataset", "tetrominoes", "--steps", "1", "--batch", "2", "--final-eval", "0"],
                "adapt": ["adapt", "--model", str(tiny_model), "--data", str(image), "--steps", "1"],
                "export-onnx": ["export-onnx", "--model", str(tiny_model)],
                "recipe": ["recipe", "tetrominoes", "--scale", "0.001", "--eval-scenes", "4"]}
    for name, args in commands.items():
        folder = tmp_path / name
        folder.mkdir()
        assert main([*args, "--out", f"{folder}/"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"slotviewer: error: --out '{folder}/' names a folder, not a file stem") and \
            err.count("\n") == 1, err
        assert main([*args, "--out", str(afile / "m")]) == 1
        err = capsys.readouterr().err
        assert err == f"slotviewer: error: {afile / 'm'}: cannot create this folder ({afile} is a file)\n", err
        assert not any(folder.iterdir()) and not list(tmp_path.glob(f"{name}.*")), "nothing written, nor beside it"
    assert main(["data", "generate", "shapes", "--n", "2", "--out", str(afile / "d")]) == 1
    assert f"{afile / 'd'}: cannot create this folder" in capsys.readouterr().err


def test_eval_shows_progress_in_a_log_and_none_when_told(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Scoring 1,000 scenes takes minutes: off a terminal its progress comes as log lines (the last at the end)."""
    assert main(["eval", "--model", str(tiny_model), "--data", "tetrominoes", "--n", "3", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 3
    assert captured.err.splitlines()[-1].startswith("slotviewer eval tiny: 3/3 scene (100%)")
    assert main(["eval", "--model", str(tiny_model), "--data", "tetrominoes", "--n", "3", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_under_torchrun_only_rank_0_says_what_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import slotviewer.train
    from slotviewer.train import World

    class Ran:  # a finished run on rank `rank` of two, without the training
        rank = 0

        def __init__(self, settings, resume: bool = False) -> None:  # noqa: ANN001
            self.step, self.world = settings.steps, World(rank=self.rank, size=2)

        def run(self, final_eval: int) -> Path:
            return tmp_path / "m.safetensors"

    monkeypatch.setattr(slotviewer.train, "Trainer", Ran)
    for rank, says in ((1, ""), (0, f"wrote {tmp_path / 'm.safetensors'} and {tmp_path / 'm.json'}\n")):
        Ran.rank = rank
        assert main(["train", "--dataset", "tetrominoes", "--steps", "2", "--out", str(tmp_path / "m")]) == 0
        assert capsys.readouterr().out == says

"""`slotviewer run` end to end on the tiny test model."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slotviewer.cli import main
from slotviewer.headless import OutputNames


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (35, 35, 3), dtype=np.uint8)).save(folder / "scene.png")
    Image.fromarray(rng.integers(0, 256, (90, 400, 3), dtype=np.uint8)).save(folder / "wide.jpg")
    Image.fromarray(rng.integers(0, 65535, (1, 1), dtype=np.uint16)).save(folder / "dot.png")
    return folder


def run(*args: str) -> int:
    return main(["run", *args])


def test_outputs_exist_at_input_resolution_and_agree(tiny_model: Path, inputs: Path, tmp_path: Path) -> None:
    out, by_alpha = tmp_path / "out", tmp_path / "by-alpha"
    assert run(str(inputs), "--out", str(out), "--model", str(tiny_model), "--seed", "5", "--gif") == 0
    assert run(str(inputs), "--out", str(by_alpha), "--model", str(tiny_model), "--seed", "5", "--labels-by",
               "alpha") == 0
    for stem, size in (("scene", (35, 35)), ("wide", (90, 400)), ("dot", (1, 1))):
        folder = out / stem
        labels = np.asarray(Image.open(folder / "labels.png"))
        masks = np.stack([np.asarray(Image.open(p)) for p in sorted((folder / "masks").glob("slot_*.png"))])
        slots = [Image.open(p) for p in sorted((folder / "slots").glob("slot_*.png"))]
        assert labels.shape == size and masks.shape == (3, *size)
        # labels.png and masks/ are written by different code at input resolution; that they agree is a check on
        # the writer (the values against an independent engine run are in test_headless_pictures.py)
        alpha_labels = np.asarray(Image.open(by_alpha / stem / "labels.png"))
        top_two = np.sort(masks.astype(int), axis=0)[-2:]
        clear = top_two[1] - top_two[0] > 1  # labels.png takes the argmax before the masks are rounded to 8 bits
        assert clear.mean() > 0.5 and np.array_equal(alpha_labels[clear], masks.argmax(0)[clear]), \
            "labels.png by alpha and masks/ disagree"
        assert np.array_equal(np.asarray(Image.open(by_alpha / stem / "masks" / "slot_00.png")), masks[0])
        if stem != "dot":
            assert len(np.unique(labels)) >= 2, "the colourful test model gives more than one segment"
        assert all(s.mode == "RGBA" and s.size == size[::-1] for s in slots)
        assert Image.open(folder / "reconstruction.png").size == size[::-1]
        record = json.loads((folder / "trace.json").read_text())
        colour = Image.open(folder / "labels_color.png")
        assert colour.mode == "P" and np.array_equal(np.asarray(colour), labels), "same map, in colour"
        palette = np.array(colour.getpalette()[:9]).reshape(3, 3)
        assert np.array_equal(palette, record["slot_colours"]) and len(np.unique(palette, axis=0)) == 3
        npz = np.load(folder / "attention.npz")  # the model's own resolution (35² input, 18² features)
        assert npz["attention"].shape == (3, 3, 18, 18) and npz["attention"].dtype == np.float16
        assert npz["alpha"].shape == (3, 35, 35) and npz["rgb"].shape == (3, 35, 35, 3)
        posterior = npz["posterior"].astype(np.float32)
        assert posterior.shape == (3, 35, 35) and np.allclose(posterior.sum(0), 1, atol=3e-3)
        assert record["labels"] == "posterior"
        if stem == "scene":  # at the model's size: labels.png is the posterior's argmax (but for float16 near-ties)
            assert np.mean(labels == posterior.argmax(0)) > 0.99
        assert npz["slots"].shape == (4, 3, 16) and npz["slots"].dtype == np.float32
        assert np.allclose(npz["attention"].astype(np.float32).sum(1), 1, atol=3e-3), "a distribution over slots"
        assert record["attention_size"] == "model" and record["npz_size"] == [35, 35]
        assert Image.open(folder / "attention.gif").n_frames == 4
        assert record["seed"] == 5 and record["K"] == 3
        assert record["backend"] == "onnx", "--backend auto picks ONNX Runtime when the model has a graph"
        assert record["input"].endswith(stem + (".jpg" if stem == "wide" else ".png"))
        assert len(record["input_sha256"]) == 64 and record["input_size"] == list(size)
    assert not list(out.glob(".*")), "no temporary folders left"


def test_attention_size_input_keeps_the_old_layout(tiny_model: Path, inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(str(inputs / "wide.jpg"), "--out", str(out), "--model", str(tiny_model), "--seed", "1",
               "--attention-size", "input") == 0
    npz = np.load(out / "wide" / "attention.npz")
    assert npz["attention"].shape == (3, 3, 90, 400) and npz["alpha"].shape == (3, 90, 400)
    assert npz["rgb"].shape == (3, 90, 400, 3) and npz["attention"].dtype == np.float16
    assert json.loads((out / "wide" / "trace.json").read_text())["npz_size"] == [90, 400]


def test_run_says_where_outputs_went(tiny_model: Path, inputs: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run(str(inputs / "scene.png"), str(inputs / "dot.png"), "--out", str(out), "--model", str(tiny_model)) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines == [f"{inputs / 'scene.png'} -> {out / 'scene'}/", f"{inputs / 'dot.png'} -> {out / 'dot'}/"]
    assert "slotviewer run" not in captured.err, "no progress bar when stderr is not a terminal"
    assert run(str(inputs), "--out", str(tmp_path / "p"), "--model", str(tiny_model), "--progress") == 0
    assert "slotviewer run" in capsys.readouterr().err, "--progress forces the bar"


def test_many_inputs_get_a_summary(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(11):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(folder / f"{i:02d}.png")
    assert run(str(folder), "--out", str(tmp_path / "out"), "--model", str(tiny_model)) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote 11 result folders under {tmp_path / 'out'}/ (one per input, named after it)"]


def test_existing_outputs_need_overwrite(tiny_model: Path, inputs: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    image = str(inputs / "scene.png")
    out = tmp_path / "out"
    assert run(image, "--out", str(out), "--model", str(tiny_model), "--seed", "1") == 0
    before = (out / "scene" / "trace.json").read_text()
    assert run(image, "--out", str(out), "--model", str(tiny_model), "--seed", "2") == 1
    assert "already exists (use --overwrite" in capsys.readouterr().err
    assert (out / "scene" / "trace.json").read_text() == before
    assert run(image, "--out", str(out), "--model", str(tiny_model), "--seed", "2", "--overwrite") == 0
    assert json.loads((out / "scene" / "trace.json").read_text())["seed"] == 2


def test_bad_inputs_fail_alone_and_leave_nothing(tiny_model: Path, inputs: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "junk.png").write_bytes(b"junk" * 100)
    good = inputs / "scene.png"
    (inputs / "cut.png").write_bytes(good.read_bytes()[:200])
    Image.new("L", (3000, 3000)).save(inputs / "bomb.png")
    out = tmp_path / "out"
    code = run(str(inputs), "--out", str(out), "--model", str(tiny_model), "--max-pixels", "1000000")
    assert code == 1
    err = capsys.readouterr().err
    for name, problem in (("empty.png", "empty file"), ("junk.png", "not an image"),
                          ("cut.png", "truncated or corrupt"), ("bomb.png", "3000×3000 = 9,000,000 pixels exceeds")):
        assert f"{name}: {problem}" in err
        assert not (out / Path(name).stem).exists()
    assert err.count("slotviewer: error:") == 4
    assert (out / "scene" / "labels.png").exists() and (out / "wide" / "labels.png").exists()
    assert not list(out.glob(".*"))


def test_remove_reconverge_and_swap(tiny_model: Path, inputs: Path, tmp_path: Path) -> None:
    image, other = str(inputs / "scene.png"), str(inputs / "wide.jpg")
    base = ["--model", str(tiny_model), "--seed", "3"]
    assert run(image, "--out", str(tmp_path / "plain"), *base) == 0
    assert run(image, "--out", str(tmp_path / "removed"), *base, "--remove", "1") == 0
    mask = np.asarray(Image.open(tmp_path / "removed" / "scene" / "masks" / "slot_01.png"))
    assert mask.max() == 0
    assert run(image, "--out", str(tmp_path / "rc"), *base, "--remove", "1", "--reconverge", "2") == 0
    rc_masks = sorted((tmp_path / "rc" / "scene" / "masks").glob("*.png"))
    assert [p.name for p in rc_masks] == ["slot_00.png", "slot_01.png", "slot_02.png"], "indices are kept"
    assert np.asarray(Image.open(rc_masks[1])).max() == 0, "the removed slot stays removed after re-converge"
    assert run(image, "--out", str(tmp_path / "swap"), *base, "--swap-with", other, "--swap", "0:2") == 0
    record = json.loads((tmp_path / "swap" / "scene" / "trace.json").read_text())
    assert record["edits"] == ["transplant other image's slot 2 -> slot 0"]
    plain = np.asarray(Image.open(tmp_path / "plain" / "scene" / "slots" / "slot_01.png"))
    swapped = np.asarray(Image.open(tmp_path / "swap" / "scene" / "slots" / "slot_01.png"))
    assert np.array_equal(plain[..., :3], swapped[..., :3]), "untouched slots decode to the same colours"
    assert run(image, "--out", str(tmp_path / "none"), *base, "--remove", "0,1,2") == 1  # labels would name slot 0
    assert not (tmp_path / "none").exists()


def test_run_with_k_means_and_onnx(tiny_model: Path, inputs: Path, tmp_path: Path) -> None:
    image = str(inputs / "scene.png")
    assert run(image, "--out", str(tmp_path / "km"), "--model", str(tiny_model), "--method", "soft-kmeans") == 0
    assert json.loads((tmp_path / "km" / "scene" / "trace.json").read_text())["method"] == "soft-kmeans"
    assert run(image, "--out", str(tmp_path / "ort"), "--model", str(tiny_model.with_suffix(".onnx")),
               "--backend", "onnx") == 0
    record = json.loads((tmp_path / "ort" / "scene" / "trace.json").read_text())
    assert record["backend"] == "onnx" and record["device"] == "CPUExecutionProvider"


def test_an_output_folder_that_is_a_file_is_one_line_before_any_work(tiny_model: Path, inputs: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should go")
    code = run(str(inputs / "scene.png"), str(inputs / "wide.jpg"), "--out", str(blocker), "--model", str(tiny_model))
    err = capsys.readouterr().err
    assert code == 1 and err == f"slotviewer: error: {blocker}: exists and is not a folder (--out names the folder " \
                                "the results go into)\n"
    assert blocker.read_text() == "a file where the output folder should go"


def test_draws_option_reaches_the_engine_and_the_record(tiny_model: Path, inputs: Path, tmp_path: Path) -> None:
    image = str(inputs / "scene.png")
    assert run(image, "--out", str(tmp_path / "one"), "--model", str(tiny_model), "--seed", "3") == 0
    assert run(image, "--out", str(tmp_path / "four"), "--model", str(tiny_model), "--seed", "3", "--draws", "4") == 0
    one = json.loads((tmp_path / "one" / "scene" / "trace.json").read_text())
    four = json.loads((tmp_path / "four" / "scene" / "trace.json").read_text())
    assert (one["draws"], one["draw"], four["draws"]) == (1, 0, 4) and 0 <= four["draw"] < 4
    assert four["familiarity"]["reconstruction_mse"] <= one["familiarity"]["reconstruction_mse"] + 2e-6  # rounding


def test_output_names_never_repeat_and_never_point_at_the_output_folder_itself() -> None:
    names = OutputNames()
    assert [names(Path(p)) for p in ("a.png", "a.jpg", "a_2.png", "A.tif", "..png", "...jpg", "_.png")] == [
        "a", "a_2", "a_2_2", "A_3", "_", "__2", "__3"]


def test_an_input_named_dot_dot_png_gets_its_own_folder_and_overwrite_keeps_the_others(
        tiny_model: Path, inputs: Path, tmp_path: Path) -> None:
    first = sorted(inputs.iterdir())[0]
    odd = tmp_path / "odd"
    odd.mkdir()
    shutil.copy(first, odd / "..png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(odd / "..png"), "--model", str(tiny_model), "--out", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "_" / "labels.png").is_file()

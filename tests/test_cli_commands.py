"""CLI subcommands and argument combinations the other CLI tests do not reach: export-onnx, --swap rules."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from slotviewer.cli import main
from slotviewer.engine import Engine
from slotviewer.model.files import file_sha256
from tests.fixtures import assert_not_flat


@pytest.mark.slow  # an ONNX export or two processes: seconds, not milliseconds
def test_export_onnx_writes_graphs_that_match_the_weights(tiny_model: Path, torch_engine: Engine, scene: np.ndarray,
                                                          tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """One export (they are slow) checks the command, the dotted stem `mine.v2`, that torch's exporter keeps
    quiet, and that all four graphs agree with the weights (the test model's keys have their own features)."""
    assert main(["export-onnx", "--model", str(tiny_model), "--out", str(tmp_path / "mine.v2")]) == 0
    captured = capfd.readouterr()  # file descriptors: torch logs through handlers made before pytest's capture
    assert captured.err == "", "the exporter's warnings (e.g. 'torchvision is not installed') are not shown"
    printed = captured.out.splitlines()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(["mine.v2.onnx", "mine.v2.decoder.onnx", "mine.v2.step.onnx", "mine.v2.encoder.onnx"])
    assert sorted(line.removeprefix("wrote ") for line in printed) == sorted(str(tmp_path / n) for n in written)
    for name in written:  # each graph says which weights it came from, and has named dynamic axes
        graph = onnx.load(str(tmp_path / name))
        meta = {p.key: p.value for p in graph.metadata_props}
        assert meta["slotviewer.model_sha256"] == file_sha256(tiny_model.with_suffix(".safetensors")), name
        assert meta["slotviewer.name"] == "tiny" and json.loads(meta["slotviewer.config"])["num_slots"] == 3, name
        axes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
        assert all(dims[0] == "batch" for dims in axes.values()), (name, axes)
        assert all(axes[i][1] == "slots" for i in ("noise", "slots") if i in axes), (name, axes)
    exported = Engine.load(tmp_path / "mine.v2", "onnx", "cpu")
    assert exported.config == torch_engine.config
    a, b = torch_engine.run(scene, seed=4), exported.run(scene, seed=4)
    assert_not_flat(b.composite())
    assert np.abs(a.composite() - b.composite()).max() <= 1e-4
    assert np.abs(a.attention - b.attention).max() <= 1e-4
    a, b = torch_engine.run(scene, slots=2, seed=5), exported.run(scene, slots=2, seed=5)  # K is not fixed
    assert b.attention.shape[1] == 2 and np.abs(a.composite() - b.composite()).max() <= 1e-4
    # carried slots (a video frame): the encoder graph, two steps of the step graph, the decoder graph
    frame = np.ascontiguousarray(scene[::-1])
    carried = a.slots[-1][:2]
    c, d = torch_engine.run(frame, init_slots=carried, iters=2), exported.run(frame, init_slots=carried, iters=2)
    assert d.attention.shape[:2] == (2, 2), "two iterations of two slots"
    assert np.abs(c.attention - d.attention).max() <= 1e-4
    assert np.abs(c.slots - d.slots).max() <= 1e-4 and np.abs(c.composite() - d.composite()).max() <= 1e-4


def test_export_onnx_of_a_missing_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-onnx", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing.safetensors: model weights not found" in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def image(tmp_path: Path, scene: np.ndarray) -> Path:
    Image.fromarray(scene).save(tmp_path / "scene.png")
    return tmp_path / "scene.png"


@pytest.mark.parametrize(("args", "message"), [
    (["--swap", "0:1"], "--swap and --swap-with go together"),
    (["--swap-with", "SCENE"], "--swap and --swap-with go together"),
    (["--reconverge", "2"], "--reconverge needs --remove"),
])
def test_run_refuses_incomplete_edits_before_writing(tiny_model: Path, image: Path, tmp_path: Path, args: list[str],
                                                     message: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(image) if a == "SCENE" else a for a in args]
    out = tmp_path / "out"
    assert main(["run", str(image), "--out", str(out), "--model", str(tiny_model), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("bad", ["0-1", "a:b", "1:2:3"])
def test_swap_pairs_must_be_two_indices(tiny_model: Path, image: Path, tmp_path: Path, bad: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(image), "--out", str(tmp_path / "o"), "--model", str(tiny_model), "--swap-with",
              str(image), "--swap", bad])
    assert exit_info.value.code == 2 and "expected i:j (two slot indices)" in capsys.readouterr().err


def test_swap_index_out_of_range_names_the_image_it_belongs_to(tiny_model: Path, image: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    donor = tmp_path / "donor.png"
    donor.write_bytes(image.read_bytes())
    for swap, said in (("0:7", f"{donor}: slot 7 does not exist (--swap-with's image has slots 0..2)"),
                       ("7:0", f"{image}: slot 7 does not exist")):  # the input's slot: that input fails
        code = main(["run", str(image), "--out", str(out), "--model", str(tiny_model), "--swap-with", str(donor),
                     "--swap", swap, "--seed", "1"])
        assert code == 1 and said in capsys.readouterr().err
        assert not (out / "scene").exists()


def test_swap_records_the_donor(tiny_model: Path, image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(image), "--out", str(out), "--model", str(tiny_model), "--swap-with", str(image),
                 "--swap", "1:2", "--seed", "8", "--backend", "torch", "--draws", "3"]) == 0
    record = json.loads((out / "scene" / "trace.json").read_text())
    assert record["swap"] == [1, 2] and record["swap_with_seed"] == 8 and record["swap_with_draws"] == 3
    assert record["swap_with_sha256"] == file_sha256(image)
    assert record["edits"] == ["transplant other image's slot 2 -> slot 1"]


def test_ctrl_c_before_any_result_leaves_no_empty_out_folder(tiny_model: Path, image: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        (tmp_path / "out").mkdir(exist_ok=True)  # as a writer that had begun its temporary folder would
        raise KeyboardInterrupt

    monkeypatch.setattr("slotviewer.headless.process", interrupted)
    assert main(["run", str(image), "--out", str(tmp_path / "out"), "--model", str(tiny_model)]) == 130
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()  # a folder that was there before stays, empty or not
    assert main(["run", str(image), "--out", str(tmp_path / "kept"), "--model", str(tiny_model)]) == 130
    assert (tmp_path / "kept").is_dir()


def test_a_hand_edited_config_out_of_range_is_one_line_naming_the_json_not_the_input(
        tiny_model: Path, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stem = tmp_path / "edited"
    for suffix in (".safetensors", ".json"):
        (stem.with_suffix(suffix)).write_bytes(tiny_model.with_suffix(suffix).read_bytes())
    meta = json.loads(stem.with_suffix(".json").read_text())
    meta["config"]["resolution"] = -64
    stem.with_suffix(".json").write_text(json.dumps(meta))
    assert main(["run", str(image), "--model", str(stem), "--backend", "torch", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"slotviewer: error: {stem}.json: invalid model config (resolution must be a whole "
                                f"number 4..1024, not -64)"]
    assert not (tmp_path / "out").exists()

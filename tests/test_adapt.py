"""`slotviewer adapt` and `slotviewer run --adapt N` on the tiny test model."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from slotviewer.adapt import Adapter, AdaptSettings, adapt_engine, load_unlabelled
from slotviewer.cli import main
from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.weights import load_model
from tests.test_train import TINY_TETROMINOES


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_unlabelled_data_from_a_folder_an_image_and_a_clip(pictures: Path, tmp_path: Path) -> None:
    assert load_unlabelled(pictures, 35).shape == (3, 3, 35, 35)
    one = load_unlabelled(pictures / "0.png", 35)
    assert one.shape == (1, 3, 35, 35) and one.min() >= 0 and one.max() <= 1
    frames = [Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)) for i in range(4)]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:], duration=100)
    clip = load_unlabelled(tmp_path / "clip.gif", 35)
    assert clip.shape == (4, 3, 35, 35) and len({float(f.mean()) for f in clip}) == 4
    with pytest.raises(SlotviewerError, match="not found"):
        load_unlabelled(tmp_path / "nothing", 35)


def test_only_the_named_parts_adapt(tiny_model: Path, pictures: Path) -> None:
    base = load_model(tiny_model).model
    adapter = Adapter(base, load_unlabelled(pictures, 35), AdaptSettings(steps=3, batch=2, lr=1e-2))
    adapted = adapter.run(progress=False)
    assert adapter.step == 3 and len(adapter.errors) == 3
    before, after = base.state_dict(), adapted.state_dict()
    for key in before:
        assert torch.equal(before[key], after[key]) == (not key.startswith("decoder")), key
    with pytest.raises(SlotviewerError, match="no parameter starts with 'decodr'"):
        Adapter(base, load_unlabelled(pictures, 35), AdaptSettings(parts=("decodr",)))


def test_ctrl_c_keeps_what_was_adapted(tiny_model: Path, pictures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = Adapter(load_model(tiny_model).model, load_unlabelled(pictures, 35), AdaptSettings(steps=10, batch=2))
    step = adapter.train_step

    def interrupted() -> float:
        if adapter.step == 2:
            raise KeyboardInterrupt
        return step()

    monkeypatch.setattr(adapter, "train_step", interrupted)
    adapter.run(progress=False)
    assert adapter.step == 2


@pytest.mark.slow  # an ONNX export or two processes: seconds, not milliseconds
def test_adapt_command_writes_a_normal_model_with_onnx_and_card(tiny_model: Path, pictures: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "mine"
    assert main(["adapt", "--model", str(tiny_model), "--data", str(pictures), "--out", str(out), "--steps", "2",
                 "--batch", "2"]) == 0
    loaded = load_model(out)
    assert str(pictures) in loaded.card.adapted_on and "3 image(s)" in loaded.card.adapted_on
    assert "2 steps" in loaded.card.notes and "parts decoder" in loaded.card.notes
    onnx = Engine.load(out, "onnx", "cpu")
    image = np.asarray(Image.open(pictures / "0.png"))
    torch_trace, onnx_trace = Engine.load(out, "torch", "cpu").run(image, seed=1), onnx.run(image, seed=1)
    np.testing.assert_allclose(torch_trace.composite(), onnx_trace.composite(), atol=1e-4)


@pytest.mark.slow
def test_adapt_replaces_a_model_only_when_told_and_then_as_a_whole(tiny_model: Path, pictures: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    base = ["adapt", "--model", str(tiny_model), "--data", str(pictures), "--out", str(out), "--batch", "2"]
    assert main([*base, "--steps", "1"]) == 0 and out.with_suffix(".onnx").exists()
    first = out.with_suffix(".safetensors").read_bytes()
    assert main([*base, "--steps", "1", "--no-onnx"]) == 1
    assert "mine: a model is already there (mine.decoder.onnx, mine.encoder.onnx, mine.json" in capsys.readouterr().err
    assert out.with_suffix(".safetensors").read_bytes() == first, "nothing replaced without --overwrite"
    assert main([*base, "--steps", "2", "--no-onnx", "--overwrite", "--lr", "0.01"]) == 0
    assert not list(tmp_path.glob("mine*.onnx")), "the old graphs would have run the old weights under its name"
    assert "2 steps" in load_model(out).card.notes


@pytest.mark.parametrize("option, said", [
    (["--lr", "-1"], "argument --lr: must be a number above 0, got -1"),
    (["--lr", "nan"], "argument --lr: must be a number above 0, got nan"),
    (["--minutes", "0"], "argument --minutes: must be a number above 0, got 0"),
    (["--mask-consistency", "-0.5"], "argument --mask-consistency: must be 0 or more, got -0.5"),
    (["--view-consistency", "inf"], "argument --view-consistency: must be 0 or more, got inf"),
])
def test_adapt_refuses_values_that_would_fail_or_do_nothing(option: list[str], said: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["adapt", "--model", "shapes", "--data", "x", "--out", "y", *option])
    assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_adapt_without_parts_or_an_out_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for option, said in ((["--parts", "", "--out", "y"], "--parts '' names no part to adapt"),
                         (["--out", ""], "--out '' names no file")):
        assert main(["adapt", "--model", "shapes", "--data", "x", *option]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err


def test_run_adapt_adapts_per_image(tiny_model: Path, pictures: Path, tmp_path: Path) -> None:
    engine = Engine.load(tiny_model, "torch", "cpu")
    image = np.asarray(Image.open(pictures / "0.png"))
    adapted = adapt_engine(engine, image, 3, seed=0, settings=AdaptSettings(lr=1e-2))
    assert adapted.backend.model is not engine.backend.model
    assert not np.allclose(adapted.run(image, seed=2).composite(), engine.run(image, seed=2).composite())
    out = tmp_path / "out"
    assert main(["run", str(pictures / "0.png"), "--out", str(out), "--model", str(tiny_model), "--seed", "1",
                 "--adapt", "2"]) == 0
    assert json.loads((out / "0" / "trace.json").read_text())["model"].endswith("+adapt2")
    with pytest.raises(SlotviewerError, match="needs the torch backend"):
        adapt_engine(Engine.load(tiny_model, "onnx", "cpu"), image, 1)


def test_affinity_consistency_ignores_slot_order_and_sees_regrouping() -> None:
    from slotviewer.adapt import affinity_consistency

    alpha = torch.softmax(torch.randn(2, 4, 16, 16) * 3, dim=1)
    mirrored = alpha.flip(-1)  # what the mirror image would give with the same grouping
    assert affinity_consistency(alpha, mirrored[:, [2, 0, 3, 1]]) < 1e-10, "slot order does not matter"
    regrouped = torch.softmax(torch.randn(2, 4, 16, 16) * 3, dim=1)
    assert affinity_consistency(alpha, regrouped) > 1e-3


def test_view_consistency_changes_what_adapts(tiny_model: Path, pictures: Path) -> None:
    images = load_unlabelled(pictures, 35)
    base = load_model(tiny_model).model
    plain = Adapter(base, images, AdaptSettings(steps=2, batch=2, lr=1e-2)).run(progress=False)
    both = Adapter(base, images, AdaptSettings(steps=2, batch=2, lr=1e-2, view_consistency=1.0)).run(progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), both.state_dict().values(),
                                                     strict=True))


def test_unlabelled_frames_from_a_video_file(tmp_path: Path) -> None:
    import cv2

    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (32, 24))
    for i in range(6):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    frames = load_unlabelled(tmp_path / "clip.mp4", 35)
    assert frames.shape == (6, 3, 35, 35)
    assert np.all(np.diff([float(f.mean()) for f in frames]) > 0.1), "every frame, in order"


def test_learned_queries_adapt_from_the_queries_not_their_jittered_draws(pictures: Path) -> None:
    cfg = dataclasses.replace(TINY_TETROMINOES, slot_init="learned", implicit=True, query_noise=1.0, draws=4)
    adapter = Adapter(SlotAutoencoder(cfg), load_unlabelled(pictures, 35), AdaptSettings(steps=1, batch=2))
    seen = []
    forward = adapter.model.forward
    adapter.model.forward = lambda x, **kw: seen.append(kw["noise"]) or forward(x, **kw)  # type: ignore[method-assign]
    adapter.train_step()
    assert seen and all(torch.count_nonzero(noise) == 0 for noise in seen)


def test_error_trend_compares_the_first_and_last_steps_without_overlap() -> None:
    from slotviewer.metrics import error_trend

    assert error_trend([]) == (0.0, 0.0)
    assert error_trend([0.5]) == (0.5, 0.5)
    assert error_trend([0.4, 0.2]) == (0.4, 0.2)
    assert error_trend([6, 5, 4, 3, 2, 1]) == (5.0, 2.0)  # three and three
    assert error_trend(list(range(20, 0, -1))) == (18.0, 3.0)  # five and five


def test_ctrl_c_during_the_onnx_export_keeps_the_adapted_weights_and_no_half_graphs(
        tiny_model: Path, pictures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from slotviewer.engine import onnx_export

    def export_then_interrupt(model: Path, out: Path) -> list[Path]:
        Path(f"{out}.onnx").write_bytes(b"half")  # one graph written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "export_onnx", export_then_interrupt)
    out = tmp_path / "mine"
    assert main(["adapt", "--model", str(tiny_model), "--data", str(pictures), "--out", str(out), "--steps", "1",
                 "--batch", "2"]) == 0, "adapt saves what it adapted on Ctrl-C, as during the steps"
    captured = capsys.readouterr()
    assert sorted(p.name for p in tmp_path.glob("mine*")) == ["mine.json", "mine.safetensors"]
    assert "interrupted during the ONNX export: the adapted weights are saved" in captured.err
    assert f"wrote {out}.safetensors" in captured.out and ".onnx" not in captured.out


def test_a_run_given_minutes_alone_counts_seconds_not_a_billion_steps(
        tiny_model: Path, pictures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from slotviewer.adapt import UNTIL_TIME_UP

    settings = AdaptSettings(steps=UNTIL_TIME_UP, minutes=0.02, batch=2)  # `adapt --minutes 0.02`: 1.2 s
    adapter = Adapter(load_model(tiny_model).model, load_unlabelled(pictures, 35), settings)
    adapter.run(desc="adapt t")
    line = capsys.readouterr().err.strip().splitlines()[-1]  # a log (no terminal): the line at the end
    assert line.startswith("adapt t: 1/1 s (100%)") and f"steps {adapter.step}" in line, line

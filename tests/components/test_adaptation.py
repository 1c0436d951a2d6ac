"""Adapt to this image / folder without Qt: what adapts, the progress and stages it reports, before and after
with the same settings, cancel, failures as one line, where the adapted model goes, and the viewer's side."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from slotviewer.components.adaptation import Adaptation, AdaptOutcome, adaptation_for, before_after_pictures
from slotviewer.components.viewer import Viewer
from slotviewer.errors import SlotviewerError
from slotviewer.model.weights import load_model


class Watch:
    """An adaptation and everything it emitted, in order."""

    def __init__(self, adaptation: Adaptation) -> None:
        self.adaptation = adaptation
        self.stages: list[str] = []
        self.progress: list[tuple[int, int, float]] = []
        self.ends: list[tuple[str, object]] = []
        e = adaptation.events
        e.stage.connect(self.stages.append)
        e.progress.connect(lambda *args: self.progress.append(args))
        e.finished.connect(lambda outcome: self.ends.append(("finished", outcome)))
        e.cancelled.connect(lambda: self.ends.append(("cancelled", None)))
        e.failed.connect(lambda text: self.ends.append(("failed", text)))

    def run(self) -> tuple[str, object]:
        self.adaptation.start()
        assert self.adaptation.wait(120)
        assert len(self.ends) == 1, self.ends
        return self.ends[0]


RUN = {"seed": 5, "iters": 3, "draws": 1}


def params(model: torch.nn.Module, prefix: str) -> list[torch.Tensor]:
    return [p.detach().clone() for name, p in model.named_parameters() if name.startswith(prefix)]


def test_one_image_adapts_the_decoder_and_shows_before_and_after_with_the_same_settings(
        tiny_model: Path, scene: np.ndarray, tmp_path: Path) -> None:
    watch = Watch(Adaptation(tiny_model, "torch", "cpu", scene, RUN, steps=3, workdir=tmp_path / "out",
                             source="scene.png"))
    kind, outcome = watch.run()
    assert kind == "finished" and isinstance(outcome, AdaptOutcome)
    assert [step for step, _, _ in watch.progress] == [1, 2, 3] and {n for _, n, _ in watch.progress} == {3}
    assert all(np.isfinite(error) for *_, error in watch.progress)
    assert "adapting on 1 image" in watch.stages and watch.stages[-1] == "running the image on both models"
    assert outcome.images == 1 and outcome.steps == 3 and len(outcome.errors) == 3
    for trace in (outcome.before, outcome.after):  # both ran with the settings given, from the same initial slots
        assert trace.provenance["seed"] == 5 and trace.iterations == 3
    np.testing.assert_array_equal(outcome.before.slots[0], outcome.after.slots[0])
    assert outcome.model_stem == tmp_path / "out" / "tiny.adapted"
    original, adapted = load_model(tiny_model), load_model(outcome.model_stem)
    for part in ("encoder", "slot_attention"):  # the recipe adapts the decoder alone
        for a, b in zip(params(original.model, part), params(adapted.model, part), strict=True):
            torch.testing.assert_close(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(params(original.model, "decoder"),
                                                        params(adapted.model, "decoder"), strict=True))
    assert not np.allclose(outcome.before.rgb, outcome.after.rgb)  # the after picture is the adapted decoder's
    assert outcome.before_mse != outcome.after_mse
    card = adapted.card
    assert card.adapted_on == "scene.png (one image, unlabelled)" and "3 steps" in card.notes
    assert "reconstruction MSE 0.00000 → 0.00000" not in card.notes  # the errors were recorded


def test_a_folder_adapts_on_its_readable_images_and_names_the_others(tiny_model: Path, scene: np.ndarray,
                                                                     tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(scene, 5 * i, axis=1)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    watch = Watch(Adaptation(tiny_model, "torch", "cpu", scene, RUN, folder=folder, steps=2, workdir=tmp_path / "o"))
    kind, outcome = watch.run()
    assert kind == "finished" and outcome.images == 3
    assert len(outcome.skipped) == 1 and outcome.skipped[0].startswith("broken.png")
    assert "reading images 4 / 4" in watch.stages and "adapting on 3 images" in watch.stages
    assert load_model(outcome.model_stem).card.adapted_on == f"{folder} (3 images, unlabelled)"


def test_steps_default_by_what_it_adapts_to(tiny_model: Path, scene: np.ndarray, tmp_path: Path) -> None:
    assert Adaptation(tiny_model, "torch", "cpu", scene, RUN).steps == 30
    assert Adaptation(tiny_model, "torch", "cpu", scene, RUN, folder=tmp_path).steps == 120
    with pytest.raises(SlotviewerError, match="at least 1"):
        Adaptation(tiny_model, "torch", "cpu", scene, RUN, steps=0)


def test_cancel_stops_between_steps_and_keeps_nothing(tiny_model: Path, scene: np.ndarray, tmp_path: Path) -> None:
    adaptation = Adaptation(tiny_model, "torch", "cpu", scene, RUN, steps=100_000, workdir=tmp_path / "out")
    watch = Watch(adaptation)
    adaptation.start()
    deadline = time.monotonic() + 60
    while not watch.progress and time.monotonic() < deadline:
        adaptation.process_callbacks()
        time.sleep(0.01)
    adaptation.cancel()
    assert adaptation.wait(60) and watch.ends == [("cancelled", None)]
    assert 0 < watch.progress[-1][0] < 100_000 and adaptation.outcome is None
    assert not (tmp_path / "out").exists()
    with pytest.raises(SlotviewerError, match="nothing to save"):
        adaptation.save_as(tmp_path / "mine")


def test_a_cancel_after_the_model_was_written_removes_it(tiny_model: Path, scene: np.ndarray, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from slotviewer.model import weights

    adaptation = Adaptation(tiny_model, "torch", "cpu", scene, RUN, steps=1, workdir=tmp_path)
    save = weights.save_model

    def save_then_cancel(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        written = save(*args, **kwargs)
        assert all(path.exists() for path in written)
        adaptation.cancel()
        return written

    monkeypatch.setattr(weights, "save_model", save_then_cancel)
    assert Watch(adaptation).run() == ("cancelled", None)
    assert list(tmp_path.iterdir()) == []


def test_failures_are_one_line_and_leave_no_files(tiny_model: Path, scene: np.ndarray, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    kind, text = Watch(Adaptation(tiny_model, "torch", "cpu", scene, RUN, folder=empty)).run()
    assert kind == "failed" and text == f"{empty}: no images found"
    graphs_only = tmp_path / "graphs"
    graphs_only.mkdir()
    for path in tiny_model.parent.glob("tiny.*"):
        if path.suffix != ".safetensors":
            shutil.copy2(path, graphs_only / path.name)
    kind, text = Watch(Adaptation(graphs_only / "tiny.onnx", "onnx", "cpu", scene, RUN)).run()
    assert kind == "failed" and "needs the model's torch weights" in text and "\n" not in text


def test_save_as_copies_the_adapted_model_and_discard_removes_its_temporary_folder(
        tiny_model: Path, scene: np.ndarray, tmp_path: Path) -> None:
    adaptation = Adaptation(tiny_model, "torch", "cpu", scene, RUN, steps=1)
    kind, outcome = Watch(adaptation).run()
    assert kind == "finished" and outcome.model_stem.parent.is_dir()
    written = adaptation.save_as(tmp_path / "mine.safetensors")
    assert sorted(p.name for p in written) == ["mine.json", "mine.safetensors"]
    assert load_model(tmp_path / "mine").card.adapted_on.endswith("(one image, unlabelled)")
    adaptation.discard()
    assert not outcome.model_stem.parent.exists() and (tmp_path / "mine.safetensors").exists()


@pytest.mark.slow  # an ONNX export
def test_a_viewer_on_onnx_gets_an_adapted_model_with_graphs(tiny_model: Path, scene: np.ndarray,
                                                            tmp_path: Path) -> None:
    watch = Watch(Adaptation(tiny_model.with_suffix(".onnx"), "onnx", "cpu", scene, RUN, steps=2,
                             workdir=tmp_path))
    kind, outcome = watch.run()
    assert kind == "finished" and "exporting the adapted model to ONNX" in watch.stages
    assert outcome.before.provenance["backend"] == outcome.after.provenance["backend"] == "onnx"
    assert (tmp_path / "tiny.adapted.onnx").exists() and (tmp_path / "tiny.adapted.decoder.onnx").exists()


def test_pictures_show_both_runs_at_the_inputs_size(tiny_model: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 256, (30, 90, 3), dtype=np.uint8)
    _, outcome = Watch(Adaptation(tiny_model, "torch", "cpu", wide, RUN, steps=1, workdir=tmp_path)).run()
    pictures = before_after_pictures(outcome)
    assert sorted(pictures) == ["after reconstruction", "after segmentation", "before reconstruction",
                                "before segmentation"]
    assert {p.shape for p in pictures.values()} == {(30, 90, 3)}
    assert not np.array_equal(pictures["before segmentation"], wide)  # tinted by the slots
    small = before_after_pictures(outcome, max_side=45)
    assert {p.shape for p in small.values()} == {(15, 45, 3)}


def test_the_viewer_adapts_image_a_as_it_runs_now(viewer: Viewer, tmp_path: Path, scene: np.ndarray) -> None:
    with pytest.raises(SlotviewerError, match="open an image first"):
        adaptation_for(viewer)
    Image.fromarray(scene).save(tmp_path / "scene.png")
    viewer.open_path(tmp_path / "scene.png")
    assert viewer.runner.wait_idle()
    adaptation = adaptation_for(viewer, steps=4)
    assert (adaptation.model, adaptation.backend, adaptation.steps) == (viewer.params.model, "onnx", 4)
    assert adaptation.run_kwargs == {**viewer.run_kwargs(viewer.session.documents["A"]), "method": "slot-attention"}
    assert adaptation.run_kwargs["seed"] == 3 and adaptation.folder is None
    assert adaptation.source == str((tmp_path / "scene.png").resolve())
    np.testing.assert_array_equal(adaptation.image, viewer.session.documents["A"].image)
    assert adaptation_for(viewer, folder=True).folder == (tmp_path / "scene.png").resolve().parent
    viewer.show_image(scene, "clipboard")
    assert viewer.runner.wait_idle()
    with pytest.raises(SlotviewerError, match="clipboard: not an image file, so there is no folder"):
        adaptation_for(viewer, folder=True)
    assert adaptation_for(viewer).source == "clipboard"


def test_a_cancel_in_the_last_stage_still_wins(tiny_model: Path, scene: np.ndarray, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from slotviewer.components import adaptation as module

    adaptation = Adaptation(tiny_model, "torch", "cpu", scene, RUN, steps=1, workdir=tmp_path)
    load = module.Engine.load

    def load_then_cancel(model, *args):  # noqa: ANN001, ANN002, ANN202
        if str(model).endswith(".adapted"):  # the adapted copy, loaded to run the image on it
            adaptation.cancel()
        return load(model, *args)

    monkeypatch.setattr(module.Engine, "load", load_then_cancel)
    assert Watch(adaptation).run() == ("cancelled", None)
    assert list(tmp_path.iterdir()) == [] and adaptation.outcome is None


def test_again_is_the_same_adaptation_with_other_steps(tiny_model: Path, scene: np.ndarray, tmp_path: Path) -> None:
    first = Adaptation(tiny_model, "torch", "cpu", scene, RUN, folder=tmp_path, steps=7, source="a.png")
    again = first.again(3)
    assert again is not first and again.steps == 3 and not again.running
    assert (again.model, again.backend, again.device, again.run_kwargs, again.folder, again.source) == \
        (first.model, first.backend, first.device, first.run_kwargs, first.folder, first.source)
    assert again.image is first.image
    assert first.what == "the 0 images of " + tmp_path.name
    Image.fromarray(scene).save(tmp_path / "one.png")
    assert first.again(1).what == "the one image of " + tmp_path.name  # (listed once per adaptation)
    assert Adaptation(tiny_model, "torch", "cpu", scene, RUN, source="/x/scene.png, frame 4").what == \
        "scene.png, frame 4"


def test_a_frame_of_an_image_sequence_adapts_to_its_folder_a_video_frame_only_to_itself(
        viewer: Viewer, tmp_path: Path, scene: np.ndarray) -> None:
    from slotviewer.components.document import Document

    trace = viewer.engine.run(scene, seed=3)
    sequence = tmp_path / "sequence"
    sequence.mkdir()
    viewer.session.open("A", Document(str(sequence), scene, frame=4))
    viewer.session.documents["A"].set_run(trace)
    assert adaptation_for(viewer, folder=True).folder == sequence
    assert adaptation_for(viewer).source == f"{sequence}, frame 4"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    viewer.session.open("A", Document(str(clip), scene, frame=9))
    viewer.session.documents["A"].set_run(trace)
    with pytest.raises(SlotviewerError, match="a video's frame: Live → Learn this scene adapts to the recent frames"):
        adaptation_for(viewer, folder=True)
    assert adaptation_for(viewer).source == f"{clip}, frame 9"


def test_without_torch_the_dialog_imports_and_adapting_says_what_to_install(tiny_model: Path) -> None:
    """An ONNX-only install: the menu's dialog and this module load, and an adaptation fails in one line."""
    import subprocess
    import sys

    script = f"""
import sys
sys.modules["torch"] = None  # `import torch` raises ImportError
import numpy as np
import slotviewer.gui.qt_adapt
from slotviewer.components.adaptation import Adaptation
a = Adaptation({str(tiny_model.with_suffix('.onnx'))!r}, "onnx", "cpu", np.zeros((35, 35, 3), np.uint8), {{}}, steps=1)
said = []
a.events.failed.connect(said.append)
a.start()
a.wait(60)
print(said)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "adapting needs PyTorch, which is not installed" in result.stdout
    assert "pip install -e '.[torch]' in the slotviewer repository" in result.stdout

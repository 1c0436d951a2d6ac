"""Learn this scene beyond the happy path: what the adapter is given, the progress it reports, where the adapted
model goes, the ONNX route, a cancel that lands late, and failures as one message."""

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from slotviewer.components import live as live_module
from slotviewer.components.adaptation import ADAPTED_PREFIX
from slotviewer.components.live import LiveView
from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError
from slotviewer.io.sources import FakeCamera
from slotviewer.model.weights import load_model


class Learning:
    """A live view on `engine` with frames flowing from the fake camera, and what it emits while it learns."""

    def __init__(self, engine: Engine, frames: int, buffer: int = 4) -> None:
        self.view = LiveView(engine, buffer=buffer)
        self.states: list[tuple[str, float]] = []
        self.messages: list[str] = []
        self.view.events.learning.connect(lambda state, fraction: self.states.append((state, fraction)))
        self.view.events.message.connect(self.messages.append)
        self.view.start(FakeCamera())
        assert self.view.wait_for(lambda: len(self.view.buffer) >= frames)

    def finished(self) -> bool:
        return self.view.wait_for(lambda: bool(self.states) and self.states[-1][0] in ("done", "failed", "cancelled"),
                                  timeout=120)


@pytest.fixture
def learning(torch_engine: Engine) -> Iterator[tuple[LiveView, list]]:
    """A paused live view on the torch engine with a few buffered frames, and the learning events it emits."""
    run = Learning(torch_engine, 3)
    run.view.pause()
    assert run.view.wait_for(lambda: not run.view.busy)
    run.view.messages = run.messages
    yield run.view, run.states
    run.view.cancel_learning()  # a test that failed before its own cancel must not leave a thread training
    run.view.join_learning(30)
    run.view.stop()


def finished(view: LiveView, states: list) -> bool:
    return view.wait_for(lambda: bool(states) and states[-1][0] in ("done", "failed", "cancelled"), timeout=120)


def test_learn_this_scene_switches_to_adapted_weights_and_saves_them(torch_engine: Engine, tmp_path: Path) -> None:
    run = Learning(torch_engine, 4, buffer=8)
    view, old = run.view, run.view.engine
    view.learn(steps=3, out_dir=tmp_path / "learned")
    assert run.finished() and run.states[-1] == ("done", 1.0)
    assert view.engine is not old and view.runner.engine is view.engine
    assert view.engine.backend.model_name.endswith(".live")
    mark = view.buffer[-1].seq
    assert view.wait_for(lambda: view.buffer[-1].seq > mark)  # frames go on, on the adapted weights
    saved = view.save_model_as(tmp_path / "mine")
    assert sorted(p.name for p in saved) == ["mine.json", "mine.safetensors"]
    assert Engine.load(tmp_path / "mine", "torch", "cpu").config == old.config
    view.stop()


def test_learning_can_be_cancelled_and_keeps_the_model(learning: tuple[LiveView, list], torch_engine: Engine,
                                                       tmp_path: Path) -> None:
    view, states = learning
    view.learn(steps=10_000, out_dir=tmp_path / "learned")
    assert view.wait_for(lambda: any(state == "running" for state, _ in states), timeout=60)
    view.cancel_learning()
    assert finished(view, states) and states[-1][0] == "cancelled" and 0 < states[-1][1] < 1
    assert view.engine is torch_engine and not (tmp_path / "learned").exists()


def test_the_adapter_gets_the_buffered_frames_as_the_model_sees_them(learning: tuple[LiveView, list],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from slotviewer import adapt

    view, states = learning
    given = {}

    class Spy(adapt.Adapter):
        def __init__(self, model, images, settings) -> None:  # noqa: ANN001
            given.update(images=images, settings=settings)
            super().__init__(model, images, settings)

    monkeypatch.setattr(adapt, "Adapter", Spy)
    expected = np.stack([view.runner.model_image(item.frame.image) for item in view.buffer])
    view.learn(steps=3, out_dir=tmp_path)
    assert finished(view, states) and states[-1] == ("done", 1.0)
    assert [fraction for state, fraction in states if state == "running"] == pytest.approx([1 / 3, 2 / 3, 1.0])
    images = given["images"]
    assert images.dtype == np.float32 and images.shape == (len(expected), 3, *expected.shape[1:3])
    np.testing.assert_allclose(images, expected.transpose(0, 3, 1, 2) / 255.0, atol=1e-6)
    assert given["settings"].steps == 3
    assert view.adapted_model.parent == tmp_path


def test_without_a_folder_the_adapted_model_goes_to_a_temporary_one_with_the_card(learning: tuple[LiveView, list],
                                                                                  tiny_model: Path) -> None:
    view, states = learning
    view.learn(steps=1)
    assert finished(view, states) and states[-1][0] == "done"
    folder = view.adapted_model.parent
    try:
        assert folder.name.startswith(ADAPTED_PREFIX), "the app's quit removes such folders unless it runs them"
        card, original = load_model(view.adapted_model).card, load_model(tiny_model).card
        assert dataclasses.replace(card, adapted_on="", notes=original.notes) == original, "the card travels with it"
        assert card.adapted_on.endswith("recent frames of fake camera (unlabelled)"), card.adapted_on
        assert "by the live view's Learn this scene: 1 steps" in card.notes
    finally:
        shutil.rmtree(folder)


def test_a_cancel_that_lands_while_the_adapted_model_loads_keeps_the_old_one(learning: tuple[LiveView, list],
                                                                            tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    view, states = learning
    old, load = view.engine, Engine.load

    def load_then_cancel(*args, **kwargs) -> Engine:  # noqa: ANN002, ANN003
        engine = load(*args, **kwargs)
        view.cancel_learning()
        return engine

    monkeypatch.setattr(live_module.Engine, "load", load_then_cancel)
    (tmp_path / "tiny.live.notes").write_text("from before")
    view.learn(steps=1, out_dir=tmp_path)
    assert finished(view, states)
    assert states[-1] == ("cancelled", 1.0) and view.engine is old and view.runner.engine is old
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["tiny.live.notes"], "what the cancelled run wrote is removed, what was there stays"


def test_one_learning_run_at_a_time(learning: tuple[LiveView, list], tmp_path: Path) -> None:
    """A second run would replace the first one's cancel and thread: quitting could no longer stop the first."""
    view, states = learning
    view.learn(steps=10_000, out_dir=tmp_path)
    assert view.learning
    with pytest.raises(SlotviewerError, match="being learned already"):
        view.learn(steps=1, out_dir=tmp_path)
    view.cancel_learning()
    assert view.join_learning(60) and not view.learning
    assert finished(view, states) and states[-1][0] == "cancelled"


def test_a_cancelled_run_removes_its_temporary_folder(learning: tuple[LiveView, list], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    view, states = learning
    made = tmp_path / "slotviewer-learned-x"
    monkeypatch.setattr(live_module, "tempfile", SimpleNamespace(mkdtemp=lambda prefix: str(made.mkdir() or made)))
    view.learn(steps=10_000)
    assert view.wait_for(lambda: any(state == "running" for state, _ in states), timeout=60)
    view.cancel_learning()
    assert view.join_learning(60), "the run ends soon after the cancel"
    assert finished(view, states) and states[-1][0] == "cancelled" and not made.exists()


def test_a_model_file_gone_is_one_message(tiny_model: Path, tmp_path: Path) -> None:
    for file in tiny_model.parent.glob("tiny.*"):
        shutil.copy2(file, tmp_path / file.name)
    engine = Engine.load(tmp_path / "tiny", "torch", "cpu")
    (tmp_path / "tiny.safetensors").unlink()
    run = Learning(engine, 1, buffer=2)
    run.view.learn(steps=1, out_dir=tmp_path / "learned")
    assert run.finished()
    run.view.stop()
    assert run.states[-1] == ("failed", 0.0) and run.view.engine is engine
    failed = [m for m in run.messages if m.startswith("learning failed: ")]
    assert len(failed) == 1 and "tiny.safetensors" in failed[0] and "\n" not in failed[0]


def test_an_unexpected_error_is_its_first_line(learning: tuple[LiveView, list], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from slotviewer import adapt

    def boom(self) -> None:  # noqa: ANN001
        raise RuntimeError("out of memory\nwhile adapting")

    monkeypatch.setattr(adapt.Adapter, "train_step", boom)
    view, states = learning
    view.learn(steps=2, out_dir=tmp_path)
    assert finished(view, states) and states[-1] == ("failed", 0.0)
    assert "learning failed: RuntimeError: out of memory" in view.messages


@pytest.mark.slow  # an ONNX export
def test_learning_on_the_onnx_backend_exports_the_adapted_graphs(onnx_engine: Engine, tmp_path: Path) -> None:
    run = Learning(onnx_engine, 1, buffer=2)
    view = run.view
    view.learn(steps=1, out_dir=tmp_path)
    assert run.finished() and run.states[-1] == ("done", 1.0)
    view.stop()
    stem = view.adapted_model
    assert all(stem.with_name(stem.name + ext).is_file() for ext in (".onnx", ".decoder.onnx", ".step.onnx",
                                                                       ".encoder.onnx"))
    assert view.engine.backend.name == "onnx" and view.engine.backend.model_name == stem.name
    assert "CPU" in view.engine.backend.device


@pytest.mark.parametrize("name", ["mine.safetensors", "mine.json", "mine.onnx", "mine", "mine.v2"])
def test_save_model_as_takes_a_stem_or_any_model_file_name(learning: tuple[LiveView, list], tmp_path: Path,
                                                           name: str) -> None:
    view, states = learning
    from slotviewer.errors import SlotviewerError

    with pytest.raises(SlotviewerError, match="^nothing to save: learn this scene first$"):
        view.save_model_as(tmp_path / name)
    view.learn(steps=1, out_dir=tmp_path / "learned")
    assert finished(view, states) and states[-1][0] == "done"
    stem = "mine.v2" if name == "mine.v2" else "mine"
    saved = view.save_model_as(tmp_path / name)
    assert sorted(p.name for p in saved) == [f"{stem}.json", f"{stem}.safetensors"]

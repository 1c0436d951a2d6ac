"""Model → Adapt to this image / folder, driven as a user would: progress, before and after side by side, use the
adapted model, save it, cancel, and the messages when there is nothing to adapt to."""

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings

from slotviewer.gui.main_window import MainWindow
from slotviewer.gui.qt_adapt import PANELS, QtAdaptDialog
from slotviewer.model.files import strip_model_suffix
from slotviewer.model.weights import load_model
from tests.gui.conftest import make_window, wait_idle


def on_torch(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    """The window on the tiny model's torch weights (the ONNX route exports graphs: tests/components covers it)."""
    window.viewer.set_params(model=str(strip_model_suffix(window.viewer.params.model)), backend="torch")
    qtbot.waitUntil(lambda: window.viewer.engine.backend.name == "torch", timeout=30_000)
    wait_idle(qtbot, window)


def finish(dialog: QtAdaptDialog, qtbot, steps: int = 2) -> list[str]:  # noqa: ANN001
    ends: list[str] = []
    dialog.sigFinished.connect(ends.append)
    dialog.steps.setValue(steps)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(ends), timeout=60_000)
    return ends


def running_dialog(window: MainWindow, qtbot) -> QtAdaptDialog:  # noqa: ANN001
    """The window on torch with Adapt to this image running a long adaptation (cancel it), past its first step."""
    on_torch(window, qtbot)
    window.adapt_dialog()
    dialog = window.adapting
    dialog.steps.setValue(5000)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=60_000)
    return dialog


def test_adapt_to_this_image_shows_before_and_after_and_the_window_can_use_it(window: MainWindow, qtbot,  # noqa: ANN001
                                                                              tmp_path: Path) -> None:
    on_torch(window, qtbot)
    action = next(a for a in window.menuBar().actions() if a.text() == "&Model").menu().actions()[0]
    assert action.text() == "&Adapt to this image…"
    action.trigger()
    dialog = window.adapting
    assert dialog.isVisible() and dialog.steps.value() == 30 and not dialog.result.isVisible()
    assert not dialog.use_button.isEnabled() and not dialog.save_button.isEnabled()
    before_model = window.viewer.params.model
    assert finish(dialog, qtbot) == ["done"]
    assert dialog.progress.value() == dialog.progress.maximum() == 2
    assert dialog.result.isVisible() and "→" in dialog.summary.text() and "2 steps on 1 image" in dialog.summary.text()
    shown = {name: dialog.panels[name].rendered() for name in PANELS}
    image = window.session.documents["A"].image
    assert all(picture is not None and picture.shape == image.shape for picture in shown.values())
    assert not np.array_equal(shown["before reconstruction"], shown["after reconstruction"])
    assert window.viewer.params.model == before_model, "nothing changes before the user says so"

    dialog.use_button.click()
    stem = str(dialog.adaptation.outcome.model_stem)
    qtbot.waitUntil(lambda: window.viewer.engine.backend.model_name == "tiny.adapted", timeout=30_000)
    wait_idle(qtbot, window)
    assert window.viewer.params.model == stem and "adapted on" in window.about_model_text()
    assert window.controls.model.toolTip() == stem, "the whole temporary path, which the box cuts"
    written = dialog.save_as(tmp_path / "mine.safetensors")
    assert sorted(p.name for p in written) == ["mine.json", "mine.safetensors"]
    assert load_model(tmp_path / "mine").card.adapted_on.endswith("(one image, unlabelled)")
    dialog.close()
    assert Path(stem + ".safetensors").exists(), "the window runs it: closing the dialog keeps it"


def test_closing_the_comparison_without_using_it_removes_the_adapted_copy(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    on_torch(window, qtbot)
    window.adapt_dialog()
    dialog = window.adapting
    assert finish(dialog, qtbot, steps=1) == ["done"]
    folder = dialog.adaptation.outcome.model_stem.parent
    assert folder.is_dir()
    dialog.close()
    assert not folder.exists()


def test_adapt_to_this_folder_and_cancel(window: MainWindow, qtbot, images: list[Path]) -> None:  # noqa: ANN001
    on_torch(window, qtbot)
    window.adapt_dialog(folder=True)
    dialog = window.adapting
    assert dialog.steps.value() == 120 and images[0].parent.name in dialog.windowTitle()
    ends: list[str] = []
    dialog.sigFinished.connect(ends.append)
    dialog.steps.setValue(5000)
    dialog.start()
    assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=60_000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: bool(ends), timeout=60_000)
    assert ends == ["cancelled"] and dialog.state.text() == "cancelled: the model is unchanged"
    assert dialog.start_button.isEnabled() and not dialog.use_button.isEnabled()
    assert finish(dialog, qtbot, steps=1) == ["done"]
    assert "1 step on 3 images" in dialog.summary.text()


def test_one_adaptation_at_a_time_and_nothing_to_adapt_to(window: MainWindow, qtbot, settings: QSettings,  # noqa: ANN001
                                                          tiny_model: Path) -> None:
    on_torch(window, qtbot)
    window.adapt_dialog()
    first = window.adapting
    first.steps.setValue(5000)
    first.start()
    window.adapt_dialog(folder=True)
    assert window.adapting is first, "a running adaptation keeps its dialog"
    first.cancel()
    qtbot.waitUntil(lambda: not first.adaptation.running, timeout=60_000)
    empty = make_window(qtbot, settings, tiny_model.with_suffix(".onnx"))
    errors: list[str] = []
    empty.error = errors.append
    empty.adapt_dialog()
    assert errors == ["open an image first: adapting shows it before and after"]
    assert getattr(empty, "adapting", None) is None
    empty.close()


def test_quitting_stops_a_running_adaptation(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    dialog = running_dialog(window, qtbot)
    adaptation = dialog.adaptation
    dialog.hide()  # hidden: Qt sends a hidden dialog no close event, the window's quit must stop it anyway
    window.close()
    assert not adaptation.running, "quitting waits for the cancelled thread to end"
    assert adaptation.outcome is None


def test_the_dialog_stays_about_its_image_and_use_loads_the_backend_it_was_made_for(
        window: MainWindow, qtbot, images: list[Path]) -> None:  # noqa: ANN001
    on_torch(window, qtbot)
    window.adapt_dialog()
    dialog = window.adapting
    first_image = window.session.documents["A"].image
    assert dialog.windowTitle() == f"Adapt to {images[0].name}"
    window.viewer.open_path(images[1])  # the window moves on; the dialog is about a.png
    window.viewer.set_params(model=str(window.viewer.params.model) + ".onnx", backend="onnx")
    qtbot.waitUntil(lambda: window.viewer.engine.backend.name == "onnx", timeout=30_000)
    wait_idle(qtbot, window)
    assert finish(dialog, qtbot, steps=1) == ["done"]
    np.testing.assert_array_equal(dialog.adaptation.image, first_image)
    assert dialog.adaptation.backend == "torch"
    dialog.use_button.click()  # made on torch: the window switches back to torch to run it
    qtbot.waitUntil(lambda: window.viewer.engine.backend.model_name == "tiny.adapted", timeout=30_000)
    assert window.viewer.params.backend == "torch" and "Save model as… keeps it" in dialog.state.text()


def test_a_running_adaptation_brings_its_hidden_dialog_back(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    dialog = running_dialog(window, qtbot)
    dialog.hide()  # e.g. minimised away; still running
    window.adapt_dialog()
    assert window.adapting is dialog and dialog.isVisible()
    dialog.cancel_button.click()
    assert not dialog.cancel_button.isEnabled() and dialog.state.text() == "cancelling…"
    qtbot.waitUntil(lambda: not dialog.adaptation.running, timeout=60_000)


def test_a_wide_image_is_compared_before_above_after(window: MainWindow, qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from PIL import Image

    on_torch(window, qtbot)
    wide = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (20, 70, 3), np.uint8)).save(wide)
    window.viewer.open_path(wide)
    wait_idle(qtbot, window)
    window.adapt_dialog()
    dialog = window.adapting

    def positions() -> list[tuple[int, int]]:
        return [dialog.grid.getItemPosition(dialog.grid.indexOf(dialog.panels[name]))[:2] for name in PANELS]

    assert positions() == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert finish(dialog, qtbot, steps=1) == ["done"]
    assert positions() == [(0, 0), (1, 0), (2, 0), (3, 0)] and "before (above) and after (below)" in dialog.state.text()
    assert dialog.panels["after reconstruction"].rendered().shape == (20, 70, 3)


def test_escape_cancels_a_running_adaptation(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    from PySide6.QtCore import Qt

    dialog = running_dialog(window, qtbot)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.adaptation.running, timeout=60_000)
    assert dialog.adaptation.outcome is None, "Esc is Close: the run was cancelled, not left training unseen"


def test_quitting_removes_adapted_copies_the_window_no_longer_runs(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    on_torch(window, qtbot)
    original = window.viewer.params.model
    copies = []
    for _ in range(2):
        window.adapt_dialog()
        dialog = window.adapting
        assert finish(dialog, qtbot, steps=1) == ["done"]
        dialog.use_button.click()
        copies.append(dialog.adaptation.outcome.model_stem)
        qtbot.waitUntil(lambda stem=copies[-1]: window.viewer.params.model == str(stem), timeout=30_000)
        wait_idle(qtbot, window)
    assert copies[0] != copies[1] and all(stem.parent.is_dir() for stem in copies)
    window.close()
    assert not copies[0].parent.exists(), "used once, then replaced: removed on quit"
    assert copies[1].parent.is_dir(), "the model the window runs (and the settings remember) stays"
    assert original != str(copies[1])

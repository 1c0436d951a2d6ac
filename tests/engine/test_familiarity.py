"""Every slot-attention run measures how unlike its training data an image is (issue 10, problem 7)."""

import numpy as np
import pytest

from slotviewer.data import generate
from slotviewer.engine import Engine
from slotviewer.engine.familiarity import UNFAMILIAR_RATIO, familiarity, reconstruction_mse, typical_mse
from slotviewer.engine.preprocess import model_input
from slotviewer.model.files import MODELS_DIR


def test_the_record_compares_with_the_cards_typical_error() -> None:
    assert familiarity(0.02, 0.001) == {"reconstruction_mse": 0.02, "typical_mse": 0.001, "ratio": 20.0,
                                        "unfamiliar": True}
    assert familiarity(0.002, 0.001)["unfamiliar"] is False
    assert familiarity(0.001 * UNFAMILIAR_RATIO * 1.01, 0.001)["unfamiliar"] is True
    assert familiarity(0.5, 0.0) == {"reconstruction_mse": 0.5, "typical_mse": None, "ratio": None,
                                     "unfamiliar": False}, "no typical error on the card: nothing is claimed"


def test_reconstruction_mse_is_the_mean_squared_difference() -> None:
    x = np.zeros((3, 4, 4), np.float32)
    reconstruction = np.full((4, 4, 3), 0.5, np.float32)
    assert reconstruction_mse(x, reconstruction) == pytest.approx(0.25)


def test_shipped_model_flags_noise_but_not_its_own_scenes() -> None:
    engine = Engine.load("tetrominoes", "onnx", "cpu")
    assert engine.backend.card.typical_mse > 0
    own = engine.run(generate("tetrominoes", 1, seed=77)[0][0], seed=0).provenance["familiarity"]
    noise = np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)
    strange = engine.run(noise, seed=0).provenance["familiarity"]
    assert own["unfamiliar"] is False and strange["unfamiliar"] is True and strange["ratio"] > 20
    x, _ = model_input(noise, engine.config.resolution)
    trace = engine.run(noise, seed=0)
    assert strange["reconstruction_mse"] == pytest.approx(reconstruction_mse(x, trace.composite()), rel=1e-4)


def test_k_means_runs_claim_nothing(onnx_engine: Engine, scene: np.ndarray) -> None:
    assert "familiarity" not in onnx_engine.run(scene, method="soft-kmeans").provenance


def test_slotviewer_run_records_familiarity_in_trace_json(tmp_path) -> None:  # noqa: ANN001
    import json

    from PIL import Image

    from slotviewer.cli import main

    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (50, 70, 3), np.uint8)).save(noise)
    assert main(["run", str(noise), "--out", str(tmp_path / "out"), "--model", "tetrominoes",
                 "--backend", "onnx", "--device", "cpu", "--seed", "0"]) == 0
    record = json.loads((tmp_path / "out" / "noise" / "trace.json").read_text())["familiarity"]
    card = json.loads((MODELS_DIR / "tetrominoes.json").read_text())["card"]
    assert record["unfamiliar"] is True and record["typical_mse"] == card["typical_mse"] and record["ratio"] > 20


def test_the_record_rounds_to_six_places_and_the_ratio_to_three() -> None:
    record = familiarity(0.0012345678, 0.0004)
    assert record == {"reconstruction_mse": 0.001235, "typical_mse": 0.0004, "ratio": 3.086, "unfamiliar": False}
    assert familiarity(0.01, 0.0012345678)["typical_mse"] == 0.001235
    assert familiarity(0.625, 0.125)["ratio"] == 5.0 and not familiarity(0.625, 0.125)["unfamiliar"], \
        "five times the typical error is the limit itself, not over it"
    assert familiarity(0.626, 0.125)["unfamiliar"]


def test_the_typical_error_is_the_median_of_any_iterable() -> None:
    assert typical_mse([0.1, 0.5, 0.2]) == 0.2
    assert typical_mse(x / 10 for x in (4, 1, 3, 2)) == 0.25

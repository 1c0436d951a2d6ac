"""What `slotviewer run` writes is the trace's content, pixel for pixel: every picture is compared with an
independent run of the same model and seed (the colourful test model, so no picture is blank)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slotviewer.cli import main
from slotviewer.engine import Engine, surgery
from slotviewer.io.render import attention_overlay, display_size, resize_uint8, slot_colours, to_uint8
from slotviewer.model.files import file_sha256
from tests.fixtures import assert_distinct, assert_not_flat

SEED = 5


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory: pytest.TempPathFactory, scene: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("in") / "scene.png"
    Image.fromarray(scene).save(path)
    return path


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def close(written: np.ndarray, expected: np.ndarray, tolerance: int = 1) -> None:
    """Equal up to one grey level (float → uint8 rounding on two backends)."""
    assert written.shape == expected.shape
    assert np.abs(written.astype(np.int16) - expected.astype(np.int16)).max() <= tolerance


def run_one(model: Path, image: Path, out: Path, backend: str, *extra: str) -> Path:
    assert main(["run", str(image), "--out", str(out), "--model", str(model), "--backend", backend,
                 "--seed", str(SEED), *extra]) == 0
    return out / image.stem


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_every_picture_is_the_trace(backend: str, tiny_model: Path, scene_file: Path, scene: np.ndarray,
                                     torch_engine: Engine, onnx_engine: Engine, tmp_path: Path) -> None:
    engine = torch_engine if backend == "torch" else onnx_engine
    trace = engine.run(scene, seed=SEED)
    alpha = trace.alpha()
    folder = run_one(tiny_model, scene_file, tmp_path / "out", backend, "--gif")

    reconstruction = png(folder / "reconstruction.png")
    assert_not_flat(reconstruction.astype(np.uint8), what="reconstruction.png")
    close(reconstruction, to_uint8(trace.composite()))
    slot_pictures = np.stack([png(folder / "slots" / f"slot_{k:02d}.png") for k in range(3)])
    assert_distinct(slot_pictures[..., :3].astype(np.uint8), what="slots/*.png")
    masks = np.stack([png(folder / "masks" / f"slot_{k:02d}.png") for k in range(3)])
    for k in range(3):
        close(slot_pictures[k, ..., :3], to_uint8(trace.rgb[k]))
        close(slot_pictures[k, ..., 3], to_uint8(alpha[k]))
        close(masks[k], to_uint8(alpha[k]))
    labels = png(folder / "labels.png")
    expected = trace.labels()
    top2 = np.sort(alpha, axis=0)[-2:]
    clear = top2[1] - top2[0] > 2 / 255  # where rounding to 8-bit masks cannot flip the winner
    assert clear.mean() > 0.9 and np.array_equal(labels[clear], expected[clear])
    assert set(np.unique(labels)) == {0, 1, 2}
    colour = Image.open(folder / "labels_color.png")
    rgb = np.asarray(colour.convert("RGB"))
    np.testing.assert_array_equal(rgb, slot_colours(3)[labels])

    npz = np.load(folder / "attention.npz")
    np.testing.assert_allclose(npz["attention"].astype(np.float32).reshape(trace.attention.shape), trace.attention,
                               atol=2e-3)
    np.testing.assert_allclose(npz["slots"], trace.slots, atol=1e-5)
    np.testing.assert_allclose(npz["alpha"].astype(np.float32), alpha, atol=2e-3)
    np.testing.assert_allclose(npz["rgb"].astype(np.float32), trace.rgb, atol=2e-3)
    np.testing.assert_array_equal(npz["enabled"], [True, True, True])
    record = json.loads((folder / "trace.json").read_text())
    assert record["seed"] == SEED and record["backend"] == backend and record["edits"] == []
    assert record["model_sha256"] == trace.provenance["model_sha256"]
    assert record["input_sha256"] == file_sha256(scene_file) and record["input_size"] == [35, 35]
    assert record["K"] == 3 and record["T"] == 3 and record["method"] == "slot-attention"
    assert record["enabled"] == [True, True, True]

    # the GIF: frame 0 is the input, frame t the overlay of iteration t, in order
    gif = Image.open(folder / "attention.gif")
    h, w = display_size(35, 35)
    base = resize_uint8(scene, h, w)
    wanted = [base] + [attention_overlay(base, a, slot_colours(3)) for a in trace.attention]
    assert gif.n_frames == len(wanted) == 4
    frames = []
    for t in range(gif.n_frames):
        gif.seek(t)
        frames.append(np.asarray(gif.convert("RGB")).astype(np.float32)[20:])  # below the "t = i/T" label
    for t, frame in enumerate(frames):
        errors = [np.abs(frame - want[20:]).mean() for want in wanted]
        assert int(np.argmin(errors)) == t, f"frame {t} looks like iteration {int(np.argmin(errors))}: {errors}"


def test_removing_a_slot_changes_exactly_its_share(tiny_model: Path, scene_file: Path, scene: np.ndarray,
                                                    torch_engine: Engine, tmp_path: Path) -> None:
    plain = run_one(tiny_model, scene_file, tmp_path / "plain", "torch")
    removed = run_one(tiny_model, scene_file, tmp_path / "removed", "torch", "--remove", "1")
    trace = surgery.remove(torch_engine.run(scene, seed=SEED), [1])
    reconstruction = png(removed / "reconstruction.png")
    assert_not_flat(reconstruction.astype(np.uint8))
    close(reconstruction, to_uint8(trace.composite()))
    assert np.abs(reconstruction - png(plain / "reconstruction.png")).max() > 20, "the removed slot's colour is gone"
    assert png(removed / "masks" / "slot_01.png").max() == 0
    assert 1 not in np.unique(png(removed / "labels.png"))
    close(png(removed / "masks" / "slot_00.png"), to_uint8(trace.alpha()[0]))  # alpha renormalised over 0 and 2
    assert json.loads((removed / "trace.json").read_text())["enabled"] == [True, False, True]


def test_swap_takes_the_donors_slot(tiny_model: Path, scene_file: Path, scene: np.ndarray, torch_engine: Engine,
                                     tmp_path: Path) -> None:
    donor_image = scene[::-1, ::-1].copy()
    Image.fromarray(donor_image).save(tmp_path / "donor.png")
    plain = run_one(tiny_model, scene_file, tmp_path / "plain", "torch")
    swapped = run_one(tiny_model, scene_file, tmp_path / "swap", "torch", "--swap-with", str(tmp_path / "donor.png"),
                      "--swap", "0:2")
    donor = torch_engine.run(donor_image, seed=SEED)
    expected = surgery.transplant(torch_engine, donor, 2, torch_engine.run(scene, seed=SEED), 0)
    slot0 = png(swapped / "slots" / "slot_00.png")
    close(slot0[..., :3], to_uint8(donor.rgb[2]))  # slot 0 now decodes the donor's slot 2
    assert np.abs(slot0[..., :3] - png(plain / "slots" / "slot_00.png")[..., :3]).max() > 20
    for k in (1, 2):  # the others decode to the same colours as before
        name = f"slot_{k:02d}.png"
        close(png(swapped / "slots" / name)[..., :3], png(plain / "slots" / name)[..., :3])
    close(png(swapped / "reconstruction.png"), to_uint8(expected.composite()))
    assert not np.array_equal(png(swapped / "reconstruction.png"), png(plain / "reconstruction.png"))


def test_outputs_at_the_input_size_are_the_model_pictures_scaled(tiny_model: Path, torch_engine: Engine,
                                                                  tmp_path: Path) -> None:
    """A 70×140 input: pictures are written at 70×140 and, shrunk back, are the model-resolution pictures."""
    image = np.zeros((70, 140, 3), np.uint8)
    image[:, :70] = (230, 40, 40)
    image[20:50, 90:120] = (40, 200, 90)
    Image.fromarray(image).save(tmp_path / "wide.png")
    folder = run_one(tiny_model, tmp_path / "wide.png", tmp_path / "out", "torch")
    trace = torch_engine.run(image, seed=SEED)
    reconstruction = np.asarray(Image.open(folder / "reconstruction.png"))
    assert reconstruction.shape == (70, 140, 3)
    assert_not_flat(reconstruction)
    back = resize_uint8(reconstruction, 35, 35).astype(np.int16)
    assert np.abs(back - to_uint8(trace.composite())).mean() < 6
    for k in range(3):
        mask = resize_uint8(np.asarray(Image.open(folder / "masks" / f"slot_{k:02d}.png")), 35, 35).astype(np.int16)
        assert np.abs(mask - to_uint8(trace.alpha()[k])).mean() < 6, k

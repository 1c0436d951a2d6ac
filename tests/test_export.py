"""slotviewer/export.py: the same files with and without OpenCV (the packaged app has none), and nothing
half-written when encoding fails."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slotviewer import export
from slotviewer.engine import Engine


@pytest.fixture(scope="module")
def trace(onnx_engine: Engine):  # noqa: ANN201
    rng = np.random.default_rng(4)
    return onnx_engine.run(rng.integers(0, 256, (35, 35, 3), dtype=np.uint8), seed=2)  # the model's own size


def pixels(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))}


def test_pillow_fallback_writes_the_same_pixels(trace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    with_cv = pixels(export.write_trace(trace, tmp_path / "cv"))
    monkeypatch.setattr(export, "_opencv", lambda: None)
    without = pixels(export.write_trace(trace, tmp_path / "pil"))
    assert with_cv.keys() == without.keys() and len(with_cv) == 2 * trace.num_slots + 3
    for name, array in with_cv.items():
        assert np.array_equal(array, without[name]), name
    rgba = with_cv["slots/slot_01.png"]
    assert rgba.shape == (35, 35, 4) and np.array_equal(rgba[..., 3], with_cv["masks/slot_01.png"])


def test_scaled_maps_agree_across_writers(trace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    big = trace.replace(image=np.zeros((70, 140, 3), np.uint8))
    with_cv = pixels(export.write_trace(big, tmp_path / "cv"))
    monkeypatch.setattr(export, "_opencv", lambda: None)
    without = pixels(export.write_trace(big, tmp_path / "pil"))
    for name in ("masks/slot_00.png", "reconstruction.png", "slots/slot_00.png", "slots/slot_02.png"):
        assert with_cv[name].shape[:2] == (70, 140)
        assert np.abs(with_cv[name].astype(int) - without[name].astype(int)).max() <= 2, name


@pytest.mark.parametrize("label_by", ["posterior", "alpha"])
def test_labels_png_is_the_traces_own_labels_with_no_rounding_deciding_near_ties(trace, tmp_path: Path,  # noqa: ANN001
                                                                                 label_by: str) -> None:
    """Two slots a hair apart (spare slots sharing a background): the 8-bit maps tie, the float scores do not."""
    r = trace.resolution
    near = trace.replace(alpha_logits=np.stack([np.zeros((r, r)), np.full((r, r), 1e-3), np.full((r, r), -5.0)])
                         .astype(np.float32), enabled=(True, True, True))
    hidden = trace.replace(enabled=(True, False, True))
    for i, case in enumerate((near, hidden)):
        folder = export.write_trace(case, tmp_path / str(i), label_by=label_by)  # at the model's own size
        written = np.asarray(Image.open(folder / "labels.png"))
        assert np.array_equal(written, case.labels(by=label_by)), i
    assert (written != 1).all(), "a hidden slot labels nothing"


@pytest.mark.parametrize(("opencv", "to"), [(True, (8, 16)), (True, (128, 8)), (True, (8, 128)), (True, (64, 128)),
                                            (True, (128, 64)), (False, (8, 16))])
def test_maps_are_area_averaged_when_the_input_is_smaller(opencv: bool, to: tuple[int, int],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrinking in either direction averages (no aliasing); growing interpolates."""
    import cv2

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    if not opencv:
        monkeypatch.setattr(export, "_opencv", lambda: None)
    small = export._upscale(noise, *to)
    assert small.shape == (*to, 4)
    assert export._upscale(noise, 64, 64) is noise, "the model's own size is passed through"
    if opencv:
        shrinking = to[0] < 64 or to[1] < 64
        method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        assert np.array_equal(small, cv2.resize(noise, to[::-1], interpolation=method))
    else:
        assert small.astype(float).std() < 25, "averaged: far less spread than the noise's 74"
    grown = export._upscale(noise[:8, :8, :3], 32, 32)
    assert grown.shape == (32, 32, 3)
    if opencv:
        assert np.array_equal(grown, cv2.resize(noise[:8, :8, :3], (32, 32), interpolation=cv2.INTER_LINEAR))


def test_colour_is_not_darkened_where_alpha_is_low(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour and alpha are separate maps: scaling must not premultiply them (Pillow would)."""
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:, :2, 3] = 255
    for opencv in (True, False):
        if not opencv:
            monkeypatch.setattr(export, "_opencv", lambda: None)
        big = export._upscale(rgba, 16, 16).astype(int)
        assert np.abs(big[..., :3] - (200, 100, 50)).max() <= 1, opencv
        assert big[:, 0, 3].min() >= 250 and big[:, -1, 3].max() <= 5


def test_a_failing_encoder_leaves_nothing(trace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def broken(path: Path, labels: np.ndarray, colours: np.ndarray) -> None:
        raise OSError(f"{path}: disk full")

    monkeypatch.setattr(export, "_indexed_png", broken)
    with pytest.raises(OSError, match="disk full"):
        export.write_trace(trace, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [], "no output folder and no temporary folder"


@pytest.mark.parametrize(("size", "expected"), [((500, 300), (500, 300)), ((1024, 1024), (1024, 1024)),
                                                ((6000, 3000), (1024, 512)), ((3000, 6000), (512, 1024)),
                                                ((5000, 3), (1024, 1)), ((3, 5000), (1, 1024))])
def test_npz_size_caps_the_longer_side_and_keeps_at_least_a_pixel(size: tuple[int, int],
                                                                   expected: tuple[int, int]) -> None:
    assert export.npz_size(*size) == expected
    assert export.npz_size(*size, max_side=10_000) == size


def test_attention_gif_is_the_input_then_one_labelled_frame_per_iteration(trace) -> None:  # noqa: ANN001
    import io

    gif = Image.open(io.BytesIO(export.attention_gif(trace)))
    assert gif.n_frames == trace.iterations + 1 and gif.info["loop"] == 0 and gif.info["duration"] == 700
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")).astype(int))
    h, w = frames[0].shape[:2]
    base = np.asarray(Image.fromarray(trace.image).resize((w, h), Image.Resampling.BILINEAR)).astype(int)
    body = (slice(h // 3, None), slice(None))  # below the label
    assert np.abs(frames[0][body] - base[body]).mean() < 12, "frame 0 is the plain input"
    assert np.abs(frames[-1][body] - base[body]).mean() > 15, "later frames are tinted by the attention"
    for frame in frames:
        label = frame[4:12, 4:30]
        assert (label.min(-1) >= 240).sum() >= 5, "each frame carries its white t = i/T label"
    assert any(np.abs(a[body] - b[body]).mean() > 1 for a, b in zip(frames[1:], frames[2:], strict=False))


def test_write_trace_refusals_are_exact(trace, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(export.SlotviewerError, match=r"^attention size must be one of model, input, got 'big'$"):
        export.write_trace(trace, tmp_path / "a", attention_size="big")
    (tmp_path / "b").mkdir()
    with pytest.raises(export.OutputExistsError, match=rf"^{tmp_path / 'b'}: already exists \(use --overwrite"):
        export.write_trace(trace, tmp_path / "b")
    assert list(tmp_path.iterdir()) == [tmp_path / "b"]


def test_write_trace_makes_missing_parents_and_keeps_its_temporary_folder_beside_the_output(
        trace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import tempfile

    made: list[Path] = []
    real = tempfile.mkdtemp

    def spy(**kwargs: object) -> str:
        path = real(**kwargs)
        made.append(Path(path))
        return path

    monkeypatch.setattr("slotviewer.io.atomic.tempfile.mkdtemp", spy)
    out = export.write_trace(trace, tmp_path / "deep" / "er" / "scene")
    assert out.is_dir() and (out / "trace.json").exists()
    assert made[0].parent == out.parent and made[0].name.startswith(".scene.") and made[0].name.endswith(".tmp")
    assert not made[0].exists() and sorted(p.name for p in out.parent.iterdir()) == ["scene"]


def test_trace_json_is_readable_utf8_with_rounded_timings_and_npz_types(trace, tmp_path: Path) -> None:  # noqa: ANN001
    import json

    timed = trace.replace(timings_ms={"total": 12.3456789}, enabled=(False, *trace.enabled[1:]))
    out = export.write_trace(timed, tmp_path / "o", extra={"input": "café.png"})
    text = (out / "trace.json").read_text(encoding="utf-8")
    assert '"input": "café.png"' in text and text.startswith('{\n  "input"'), "UTF-8, indented by two"
    assert json.loads(text)["timings_ms"] == {"total": 12.346}
    arrays = np.load(out / "attention.npz")
    assert arrays["rgb"].dtype == arrays["alpha"].dtype == arrays["attention"].dtype == np.float16
    assert arrays["slots"].dtype == np.float32 and arrays["enabled"].dtype == bool
    assert arrays["enabled"].tolist() == list(timed.enabled)


def test_an_unknown_label_source_is_one_clear_line_and_writes_nothing(tmp_path: Path) -> None:
    from slotviewer.engine.trace import Trace
    from slotviewer.errors import SlotviewerError
    from slotviewer.export import write_trace

    k, r = 2, 4
    trace = Trace(image=np.zeros((r, r, 3), np.uint8), features=np.zeros((r * r, 4), np.float32),
                  attention=np.full((1, k, 2, 2), 0.5, np.float32), slots=np.zeros((2, k, 4), np.float32),
                  rgb=np.zeros((k, r, r, 3), np.float32), alpha_logits=np.zeros((k, r, r), np.float32))
    with pytest.raises(SlotviewerError, match=r"^labels by 'colour': choose from posterior, alpha$"):
        write_trace(trace, tmp_path / "out", label_by="colour")
    assert not list(tmp_path.iterdir())

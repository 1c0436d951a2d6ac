"""`slotviewer bench --only write`: per-image output writing, measured (numbers printed, never asserted)."""

from pathlib import Path

import pytest

from slotviewer.bench.write import bench_write, photo_like, print_write


def test_bench_write_reports_each_size(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_write(str(tiny_model), repeats=2, sizes=(64, 96))
    assert result["64x64"]["write_s"] > 0 and result["96x96"]["cpu_s"] >= 0
    assert result["96x96"]["output_mb"] > result["64x64"]["output_mb"] > 0
    print_write(result)
    out = capsys.readouterr().out
    assert "64x64" in out and "96x96" in out and "MB written" in out


def test_photo_like_is_a_smooth_colour_image() -> None:
    image = photo_like(200)
    assert image.shape == (200, 200, 3) and image.dtype.name == "uint8"
    assert image.std() > 20, "varied colour, not a flat picture"

"""The README's animation maker: --help must not overwrite the shipped GIF."""

from pathlib import Path

import pytest
from PIL import Image

from slotviewer import iterations_gif


def test_help_and_unknown_options_write_nothing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                                ) -> None:
    monkeypatch.setattr(iterations_gif, "frames", lambda: pytest.fail("it started making the GIF"))
    for argv in (["--help"], ["--nonsense"]):
        with pytest.raises(SystemExit):
            iterations_gif.main(argv)
    assert "usage: python -m slotviewer.iterations_gif" in capsys.readouterr().out


def test_it_writes_the_gif_and_frames_where_asked(tmp_path: Path) -> None:
    assert iterations_gif.main([str(tmp_path / "it.gif"), "--frames", str(tmp_path / "frames")]) == 0
    with Image.open(tmp_path / "it.gif") as gif:
        count = gif.n_frames
    assert count == 8 and len(list((tmp_path / "frames").glob("frame_*.png"))) == 8

"""`slotviewer gui PATH --screenshot`: a real start-up in a fresh process, here without torch installed."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image


def test_screenshot_without_torch(tiny_model: Path, images: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, NoTorch())
        from slotviewer.cli import main
        code = main(["gui", {str(images[0])!r}, "--model", {str(tiny_model.with_suffix(".onnx"))!r},
                     "--backend", "onnx", "--screenshot", {str(out)!r}, "--iteration", "1", "--hide", "0"])
        assert "torch" not in sys.modules
        sys.exit(code)
    """)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    shot = np.asarray(Image.open(out))
    assert shot.shape[0] >= 900 and shot.shape[1] >= 1500
    assert shot.std() > 10, "the window shows something"


def test_screenshot_of_a_broken_image_fails_fast_with_one_line(tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage" * 10)
    result = subprocess.run(
        [sys.executable, "-m", "slotviewer.cli", "gui", str(bad), "--model", str(tiny_model.with_suffix(".onnx")),
         "--backend", "onnx", "--screenshot", str(tmp_path / "shot.png")],
        capture_output=True, text=True, timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1
    assert "slotviewer: error: " in result.stderr and "bad.png: not an image" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "shot.png").exists()


def test_themes(qapp) -> None:  # noqa: ANN001
    from slotviewer.gui.theme import apply_theme

    apply_theme("Dark")
    assert qapp.palette().window().color().lightness() < 100
    apply_theme("Light")
    assert qapp.palette().window().color().lightness() > 150

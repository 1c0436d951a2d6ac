"""slotviewer.spec stays consistent with the package: the entry point is the console script's, every shipped
ONNX model and resource travels, and every module it ships imports without torch (the app has none)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from slotviewer import bundle

ROOT = Path(__file__).resolve().parents[1]


def run_spec() -> dict:
    """Execute slotviewer.spec with PyInstaller's classes replaced by recorders."""
    captured: dict = {}

    def analysis(scripts: list[str], **kwargs: object) -> object:
        captured.update(kwargs, scripts=scripts)
        return type("A", (), {"pure": [], "scripts": [], "binaries": [], "datas": []})()

    def exe(*args: object, **kwargs: object) -> None:
        captured["exe"] = kwargs

    names = {"SPECPATH": str(ROOT), "Analysis": analysis, "PYZ": lambda *a, **k: None, "EXE": exe,
             "COLLECT": lambda *a, **k: captured.setdefault("collect", k)}
    exec(compile((ROOT / "slotviewer.spec").read_text(), "slotviewer.spec", "exec"), names)  # noqa: S102
    return captured


def test_entry_point_is_the_console_script() -> None:
    spec = run_spec()
    (script,) = spec["scripts"]
    assert Path(script) == ROOT / "slotviewer" / "__main__.py"
    assert "from slotviewer.cli import main" in Path(script).read_text()
    scripts = re.search(r"\[project\.scripts\]\s*\nslotviewer = \"([^\"]+)\"", (ROOT / "pyproject.toml").read_text())
    assert scripts and scripts.group(1) == "slotviewer.cli:main"
    assert spec["exe"]["name"] == spec["collect"]["name"] == "slotviewer" and Path(spec["exe"]["icon"]).exists()


def test_every_shipped_model_graph_and_resource_travels() -> None:
    datas = run_spec()["datas"]
    assert all(Path(source).is_file() for source, _ in datas)
    shipped = {(str(p), "models") for p in (ROOT / "models").glob("*") if p.suffix in (".onnx", ".json")}
    assert shipped <= set(datas) and any(s.endswith("shapes.onnx") for s, _ in shipped)
    assert not any(source.endswith(".safetensors") for source, _ in datas), "torch weights stay out"
    for name in ("samples/shapes.png", "samples/tetrominoes.png", "icon.png", "slotviewer.desktop"):
        assert (str(ROOT / "resources" / name), str(Path("resources", name).parent)) in datas


def test_torch_stays_out_and_shipped_modules_import_without_it() -> None:
    spec = run_spec()
    hidden, excludes = spec["hiddenimports"], spec["excludes"]
    assert "torch" in excludes and "slotviewer.train" in excludes and "slotviewer.engine.torch_backend" in excludes
    assert not set(hidden) & set(excludes)
    assert "cv2" in excludes, "OpenCV (~150 MB) only with --with-video, to stay under 400 MB"
    for needed in ("slotviewer.cli", "slotviewer.engine.onnx_backend", "slotviewer.headless", "slotviewer.doctor",
                   "slotviewer.gui.app", "slotviewer.export"):
        assert needed in hidden
    blocker = (
        "import sys, importlib, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'onnx', 'onnxscript'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {[m for m in hidden if m != 'slotviewer.__main__']!r}:\n"
        "    importlib.import_module(m)\n"
        "print('ok')\n"
    )
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", blocker], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_module_importing_torch_is_left_out(tmp_path: Path) -> None:
    package = tmp_path / "slotviewer"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "net.py").write_text("import torch.nn as nn\n")
    (package / "uses_net.py").write_text("from slotviewer.sub.net import nn\n")
    (package / "lazy.py").write_text("def f():\n    import torch\n")
    (package / "annotated.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import torch\n")
    (package / "fallback.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
                                         "else:\n    import torch\n")
    torch_free, needs_torch = bundle.package_modules(tmp_path)
    assert sorted(needs_torch) == ["slotviewer.fallback", "slotviewer.sub.net", "slotviewer.uses_net"]
    assert "slotviewer.lazy" in torch_free, "a lazy import inside a function does not count"
    assert "slotviewer.annotated" in torch_free, "nor one for annotations only (if TYPE_CHECKING)"

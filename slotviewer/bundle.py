"""`slotviewer bundle`: build the desktop app with PyInstaller (one folder, ONNX Runtime, no torch) and
smoke-test what was built.

The spec (`slotviewer.spec`) asks this module which of slotviewer's modules to ship: every module that
does not need torch, found by reading the imports (so a new module is picked up without editing the
spec, and one that imports torch at the top is left out instead of breaking the app at start-up).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED_PACKAGES = ("torch", "torchvision", "torchaudio", "onnx", "onnxscript", "onnx_ir", "sklearn", "scipy",
                     "pytest", "tkinter", "matplotlib", "IPython", "tensorboard", "triton", "sympy", "networkx")
# OpenCV (video files and cameras; faster PNG writing) adds ~150 MB: in only with --with-video
VIDEO_PACKAGES = ("cv2",)
VIDEO_ENV = "SLOTVIEWER_BUNDLE_VIDEO"
DATA_SUFFIXES = {".onnx", ".json"}  # the shipped models as the ONNX backend reads them (no .safetensors)
SIZE_LIMIT_MB = 400


def _module_name(path: Path, package_root: Path) -> str:
    return ".".join(path.relative_to(package_root).with_suffix("").parts).removesuffix(".__init__")


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when `path` is imported: module-level statements (also inside if/try), not the
    lazy imports inside functions, nor those under `if TYPE_CHECKING:` (for annotations only, never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.If) and _is_type_checking(statement.test):
            nodes = [node for branch in statement.orelse for node in ast.walk(branch)]
        elif isinstance(statement, (ast.If, ast.Try)):
            nodes = list(ast.walk(statement))
        else:
            nodes = [statement]
        for node in nodes:
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def package_modules(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(modules that import without torch, modules that need torch) of the `slotviewer` package."""
    imports = {_module_name(p, root): _top_level_imports(p) for p in sorted((root / "slotviewer").rglob("*.py"))}

    def needs_torch(module: str, seen: frozenset[str] = frozenset()) -> bool:
        if module in seen:
            return False
        seen = seen | {module}
        parent = module.rpartition(".")[0]
        deps = imports.get(module, set()) | ({parent} if parent in imports else set())
        return any(d == "torch" or d.startswith("torch.") or (d in imports and needs_torch(d, seen)) for d in deps)

    torch_free = [m for m in imports if not needs_torch(m)]
    return torch_free, [m for m in imports if m not in torch_free]


def data_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """(source, folder in the bundle): the models' ONNX graphs and configs, and resources/ minus docs images."""
    models = [(str(p), "models") for p in sorted((root / "models").glob("*")) if p.suffix in DATA_SUFFIXES]
    resources = [(str(p), str(p.parent.relative_to(root))) for p in sorted((root / "resources").rglob("*"))
                 if p.is_file() and not p.name.startswith(("screenshot", "iterations"))]
    return models + resources


def excluded_packages(with_video: bool | None = None) -> list[str]:
    """What the spec leaves out; `with_video` None reads the environment (set by `build`)."""
    if with_video is None:
        with_video = os.environ.get(VIDEO_ENV) == "1"
    return [*EXCLUDED_PACKAGES, *(() if with_video else VIDEO_PACKAGES)]


def drop_translations(datas: list) -> list:
    """Qt's translations of its own dialogs (7 MB): the app's text is English."""
    return [entry for entry in datas if "/translations/" not in str(entry[0]).replace("\\", "/")]


@dataclass
class BundleResult:
    folder: Path
    executable: Path
    size_mb: float
    build_s: float


def folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def build(dist: Path, work: Path, with_video: bool = False) -> BundleResult:
    """Run PyInstaller on slotviewer.spec; the app lands in `dist/slotviewer/`."""
    from slotviewer.errors import SlotviewerError

    if shutil.which("pyinstaller", path=str(Path(sys.executable).parent)) is None and not _has_pyinstaller():
        raise SlotviewerError("building the app needs PyInstaller: pip install -e '.[bundle]'")
    start = time.perf_counter()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(ROOT / "slotviewer.spec")]
    done = subprocess.run(command, cwd=ROOT, env=os.environ | {VIDEO_ENV: "1" if with_video else "0"})
    if done.returncode != 0:
        raise SlotviewerError(f"PyInstaller failed (exit {done.returncode}); see its output above")
    folder = dist / "slotviewer"
    executable = folder / ("slotviewer.exe" if sys.platform == "win32" else "slotviewer")
    return BundleResult(folder, executable, folder_size_mb(folder), time.perf_counter() - start)


def _has_pyinstaller() -> bool:
    from importlib.util import find_spec

    return find_spec("PyInstaller") is not None


def smoke_test(executable: Path, out: Path) -> list[str]:
    """Run the built app as a user would; returns the failures (empty = all good)."""
    sample = executable.parent / "_internal" / "resources" / "samples" / "shapes.png"
    if not sample.exists():
        sample = next(executable.parent.rglob("samples/shapes.png"), sample)
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen", "SLOTVIEWER_CONFIG_DIR": str(out / "config"),
                        "XDG_DATA_HOME": str(out / "share")}
    checks = [
        ("--version", [str(executable), "--version"]),
        ("doctor", [str(executable), "doctor", "--backend", "onnx"]),
        ("run", [str(executable), "run", str(sample), "--out", str(out / "run"), "--seed", "0", "--overwrite"]),
        ("gui --screenshot", [str(executable), "gui", str(sample), "--screenshot", str(out / "screenshot.png")]),
        ("install-desktop", [str(executable), "install-desktop"]),
    ]
    failures = []
    for name, command in checks:
        start = time.perf_counter()
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            ok, tail = done.returncode == 0, (done.stdout + done.stderr).strip().splitlines()[-3:]
        except (OSError, subprocess.SubprocessError) as exc:
            ok, tail = False, [str(exc)]
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<18} {time.perf_counter() - start:5.1f} s  {' | '.join(tail)}")
        if not ok:
            failures.append(name)
    done = subprocess.run([str(executable), "train", "--dataset", "shapes", "--out", str(out / "m")], env=env,
                          capture_output=True, text=True, timeout=120)
    says_why = done.returncode == 1 and "needs torch" in done.stderr and "Traceback" not in done.stderr
    print(f"  {'ok  ' if says_why else 'FAIL'} train (no torch)   one line: {done.stderr.strip()[:90]}")
    if not says_why:
        failures.append("train without torch")
    expected = [out / "run" / "shapes" / "labels_color.png", out / "screenshot.png",
                out / "share" / "applications" / "slotviewer.desktop"]
    failures += [f"missing {p}" for p in expected if not p.exists()]
    return failures


def bundle(dist: Path, work: Path, test: bool = True, with_video: bool = False) -> int:
    result = build(dist, work, with_video)
    print(f"built {result.folder} in {result.build_s:.0f} s: {result.size_mb:.0f} MB "
          f"({'with OpenCV' if with_video else f'limit {SIZE_LIMIT_MB} MB'})")
    problems = []
    if result.size_mb > SIZE_LIMIT_MB and not with_video:
        problems.append(f"the app is {result.size_mb:.0f} MB, over {SIZE_LIMIT_MB} MB")
    torch_inside = [p for p in result.folder.rglob("*") if p.name in ("torch", "libtorch_cpu.so", "torch_cpu.dll")]
    if torch_inside:
        problems.append(f"torch got into the bundle: {torch_inside[0]}")
    if test:
        print("smoke test:")
        problems += smoke_test(result.executable, work / "smoke")
    for problem in problems:
        print(f"slotviewer: error: bundle: {problem}", file=sys.stderr)
    return 1 if problems else 0

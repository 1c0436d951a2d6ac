"""`slotviewer doctor`: what this install can really use, and why not when something is missing.

Every probe runs what it reports on (an ONNX Runtime session on the shipped model, a torch tensor on the
GPU, a Qt platform plugin in a child process), because a provider that is listed is not always one that
works: ONNX Runtime silently falls back to CPU, and a Qt plugin loads only when its system libraries exist.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slotviewer import __version__, paths
from slotviewer.engine.select import installed
from slotviewer.errors import install_hint

PACKAGES = ("numpy", "pillow", "onnxruntime", "onnxruntime-gpu", "torch", "PySide6-Essentials", "PySide6",
            "pyqtgraph", "opencv-python-headless", "safetensors")
QT_PROBE = "from PySide6.QtWidgets import QApplication; app = QApplication([]); print(app.platformName())"


@dataclass
class Report:
    """What doctor found: sections of (name, value) lines, and the problems with what was asked for."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, section: str, key: str, value: Any) -> None:
        self.sections.setdefault(section, {})[key] = value


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _module_version(module: str) -> str | None:
    """For a frozen app, where package metadata is not shipped: the module's own `__version__`."""
    if not installed(module):
        return None
    try:
        return str(getattr(__import__(module), "__version__", "installed"))
    except Exception as exc:  # noqa: BLE001  (a broken install is itself worth reporting)
        return f"broken ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def check_packages(report: Report) -> None:
    report.add("slotviewer", "version", __version__)
    report.add("slotviewer", "python", f"{platform.python_version()} ({sys.executable})")
    report.add("slotviewer", "platform", f"{platform.system()} {platform.release()} {platform.machine()}")
    report.add("slotviewer", "frozen app", bool(getattr(sys, "frozen", False)))
    modules = {"numpy": "numpy", "pillow": "PIL", "onnxruntime": "onnxruntime", "torch": "torch",
               "PySide6": "PySide6", "pyqtgraph": "pyqtgraph", "opencv": "cv2"}
    for name, module in modules.items():
        version = None
        for dist in PACKAGES:
            if dist.lower().startswith(name.lower()) and _version(dist):
                version = _version(dist)
                break
        if version is None and getattr(sys, "frozen", False):
            version = _module_version(module)
        report.add("packages", name, version or "not installed")
    if _version("onnxruntime") and _version("onnxruntime-gpu"):
        report.problems.append("both onnxruntime and onnxruntime-gpu are installed; they overwrite each other: "
                               "pip uninstall -y onnxruntime onnxruntime-gpu, then install one of them")


def check_onnxruntime(report: Report, want_cuda: bool) -> None:
    if not installed("onnxruntime"):
        report.add("onnx runtime", "status", f"not installed ({install_hint('cpu')}, or gpu)")
        return
    import onnxruntime as ort

    available = ort.get_available_providers()
    report.add("onnx runtime", "providers listed", ", ".join(available))
    graph = paths.models_dir() / "shapes.decoder.onnx"
    if not graph.exists():
        report.add("onnx runtime", "providers working", "not checked (no shipped model found)")
        return
    working = []
    for provider in ("CUDAExecutionProvider", "CPUExecutionProvider"):
        if provider not in available:
            continue
        try:
            session = ort.InferenceSession(str(graph), providers=[provider])
            if session.get_providers()[0] == provider:
                working.append(provider)
        except Exception as exc:  # noqa: BLE001
            report.add("onnx runtime", f"{provider} error", str(exc).splitlines()[0][:200])
    report.add("onnx runtime", "providers working", ", ".join(working) or "none")
    if want_cuda and "CUDAExecutionProvider" not in working:
        why = ("this onnxruntime has no CUDA provider (the CPU wheel): pip uninstall -y onnxruntime, then "
               f"{install_hint('gpu')}" if "CUDAExecutionProvider" not in available else
               "the CUDA provider is listed but does not load (CUDA 12 / cuDNN 9 libraries missing or no GPU "
               "driver); see the ONNX Runtime CUDA requirements")
        report.problems.append(f"CUDA asked for, ONNX Runtime cannot use it: {why}")


def check_torch(report: Report, want_cuda: bool, want_torch: bool) -> None:
    if not installed("torch"):
        report.add("torch", "status", "not installed (the ONNX backend and the app work without it; "
                                      f"training needs {install_hint('torch')})")
        if want_torch:
            report.problems.append("the torch backend was asked for, but torch is not installed: "
                                   + install_hint("torch"))
        return
    import torch

    cuda = torch.cuda.is_available()
    report.add("torch", "version", torch.__version__)
    report.add("torch", "built with CUDA", torch.version.cuda or "no (CPU-only build)")
    if cuda:
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        report.add("torch", "cuda devices", ", ".join(names))
    else:
        why = ("this is a CPU-only build of torch; install a CUDA build (see pytorch.org)" if not torch.version.cuda
               else "no NVIDIA GPU or driver visible (nvidia-smi)")
        report.add("torch", "cuda", f"not available: {why}")
        if want_cuda:
            report.problems.append(f"CUDA asked for, torch cannot use it: {why}")
    report.add("torch", "threads", torch.get_num_threads())


def _qt_plugins() -> tuple[Path | None, list[str]]:
    if not installed("PySide6"):
        return None, []
    import PySide6

    folder = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
    suffixes = {".so", ".dll", ".dylib"}
    names = sorted(p.stem.removeprefix("lib").removeprefix("q") for p in folder.glob("*") if p.suffix in suffixes)
    return folder, names


def _missing_libraries(plugin: Path) -> list[str]:
    """System libraries a Qt plugin needs and this machine lacks (Linux, via ldd)."""
    if not sys.platform.startswith("linux") or not shutil.which("ldd") or not plugin.exists():
        return []
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # ldd lists a library once per library that needs it: each name once, in order
    return list(dict.fromkeys(line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line))


def check_qt(report: Report, want_gui: bool) -> None:
    folder, plugins = _qt_plugins()
    if folder is None:
        report.add("qt", "status", f"not installed (the app needs {install_hint('gui')})")
        if want_gui:
            report.problems.append("the desktop app was asked for, but PySide6 is not installed: "
                                   + install_hint("gui"))
        return
    report.add("qt", "platform plugins", ", ".join(plugins))
    wanted = os.environ.get("QT_QPA_PLATFORM") or ("wayland" if os.environ.get("WAYLAND_DISPLAY") else
                                                   "xcb" if os.environ.get("DISPLAY") or
                                                   sys.platform.startswith("linux") else "")
    candidates = [p for p in dict.fromkeys([wanted.split(":")[0], "offscreen"]) if p]
    usable = []
    for name in candidates:
        env = os.environ | {"QT_QPA_PLATFORM": name}
        # a child process: a plugin that cannot load aborts the process that tries it
        command = [sys.executable, "doctor", "--probe-qt"] if getattr(sys, "frozen", False) else [
            sys.executable, "-c", QT_PROBE]
        try:
            run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            run = None
        ok = run is not None and run.returncode == 0
        if ok:
            usable.append(name)
        else:
            library = next(folder.glob(f"*q{name}.*"), folder / f"libq{name}.so")
            missing = _missing_libraries(library)
            reason = (f"missing system libraries: {', '.join(missing)}" if missing else
                      "no display" if name in ("xcb", "wayland") and not (os.environ.get("DISPLAY") or
                                                                         os.environ.get("WAYLAND_DISPLAY")) else
                      (run.stderr.strip().splitlines() or ["failed"])[-1][:200] if run is not None else "not probed")
            report.add("qt", f"{name} unusable", reason)
    report.add("qt", "usable", ", ".join(usable) or "none")
    if want_gui and not any(p != "offscreen" for p in usable):
        report.problems.append("the desktop app was asked for, but no Qt platform with a display works here; "
                               "install Qt's system libraries (README: Qt's system libraries) or set DISPLAY / "
                               "WAYLAND_DISPLAY; QT_QPA_PLATFORM=offscreen renders without a display")


def check_cameras(report: Report) -> None:
    devices = sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform.startswith("linux") else []
    if sys.platform.startswith("linux"):
        report.add("cameras", "devices", ", ".join(devices) or "none (/dev/video*)")
    if not installed("cv2"):
        report.add("cameras", "opencv", "not installed (video and cameras need opencv-python-headless)")
        return
    if sys.platform.startswith("linux") and not devices:
        return  # probing indices without any device only prints OpenCV warnings
    from slotviewer.io.sources import list_cameras

    found = list_cameras()
    report.add("cameras", "openable", ", ".join(f"camera {i}" for i in found) or "none")


def check_paths(report: Report) -> None:
    report.add("paths", "settings", str(paths.settings_file()))
    report.add("paths", "cache", str(paths.cache_dir()))
    models = paths.models_dir()
    shipped = sorted(p.stem for p in models.glob("*.json")) if models.exists() else []
    report.add("paths", "models", f"{models} ({', '.join(shipped) or 'none found'})")
    report.add("paths", "resources", str(paths.RESOURCES))


def diagnose(device: str = "auto", backend: str = "auto", gui: bool = False) -> Report:
    """Run every check; `device="cuda"`, `backend="torch"` or `gui=True` say what the user needs."""
    report = Report()
    check_packages(report)
    check_onnxruntime(report, want_cuda=device == "cuda" and backend != "torch")
    check_torch(report, want_cuda=device == "cuda" and backend == "torch", want_torch=backend == "torch")
    if device == "cuda" and backend == "auto":  # either backend on the GPU will do
        cuda_problems = [p for p in report.problems if p.startswith("CUDA asked for")]
        torch_cuda = "cuda devices" in report.sections.get("torch", {})
        if torch_cuda and cuda_problems:
            report.problems = [p for p in report.problems if p not in cuda_problems]
    if backend == "onnx" and not installed("onnxruntime"):
        report.problems.append("the ONNX backend was asked for, but onnxruntime is not installed: "
                               f"{install_hint('cpu')} (or gpu)")
    check_qt(report, want_gui=gui)
    check_cameras(report)
    check_paths(report)
    return report


def print_report(report: Report, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"sections": report.sections, "problems": report.problems}, indent=2, default=str))
        return
    for section, items in report.sections.items():
        print(section)
        for key, value in items.items():
            print(f"  {key:<20} {value}")
    if report.problems:
        print("problems")
        for problem in report.problems:
            print(f"  - {problem}")
    else:
        print("everything asked for is available")


def probe_qt() -> int:
    """Start a QApplication on the current QT_QPA_PLATFORM and print its name (run in a child process)."""
    exec(QT_PROBE, {})  # noqa: S102  (a fixed string, shared with the non-frozen probe)
    return 0

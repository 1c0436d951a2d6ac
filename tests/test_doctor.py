"""`slotviewer --version` and `slotviewer doctor`: what the install can use, non-zero with a hint when a
requested part is missing."""

import json
import re
from pathlib import Path

import pytest

from slotviewer import __version__, doctor, paths
from slotviewer.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"slotviewer {__version__}"
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared and declared.group(1) == __version__


def test_doctor_reports_what_really_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    sections = result["sections"]
    assert result["problems"] == []
    assert sections["slotviewer"]["version"] == __version__
    assert "CPUExecutionProvider" in sections["onnx runtime"]["providers working"]
    assert "offscreen" in sections["qt"]["usable"].split(", "), "the test session can render offscreen"
    assert sections["paths"]["settings"] == str(paths.settings_file())
    assert "shapes" in sections["paths"]["models"]


def test_missing_cuda_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert main(["doctor", "--device", "cuda", "--backend", "onnx"]) == 1
    out = capsys.readouterr().out
    assert "CUDA asked for, ONNX Runtime cannot use it: this onnxruntime has no CUDA provider" in out
    assert "pip uninstall -y onnxruntime, then pip install -e '.[gpu]' in the slotviewer repository" in out


def test_missing_torch_or_qt_fails_with_a_hint(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(doctor, "installed", lambda package: package not in ("torch", "PySide6"))
    assert main(["doctor", "--backend", "torch", "--gui"]) == 1
    out = capsys.readouterr().out
    assert "torch backend was asked for, but torch is not installed" in out
    assert "PySide6 is not installed: pip install -e '.[gui]' in the slotviewer repository" in out
    assert "pip install 'torch==2.13.0' (the CPU build" in out, "torch pinned, as the README installs it"
    assert main(["doctor"]) == 0, "nothing asked for: a report, not a failure"


def test_a_qt_platform_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    report = doctor.Report()
    doctor.check_qt(report, want_gui=True)
    reason = report.sections["qt"]["xcb unusable"]
    assert reason == "no display" or reason.startswith("missing system libraries: ")
    assert any("no Qt platform with a display works" in p for p in report.problems)


def test_settings_live_in_the_platform_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SLOTVIEWER_CONFIG_DIR", raising=False)
    monkeypatch.setattr(paths.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert paths.settings_file() == tmp_path / "xdg" / "slotviewer" / "settings.ini"
    monkeypatch.setattr(paths.sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    assert paths.config_dir() == tmp_path / "roaming" / "slotviewer"
    monkeypatch.setattr(paths.sys, "platform", "darwin")
    monkeypatch.setattr(paths, "_home", lambda: tmp_path)
    assert paths.cache_dir() == tmp_path / "Library" / "Caches" / "slotviewer"
    monkeypatch.setenv("SLOTVIEWER_CONFIG_DIR", str(tmp_path / "portable"))
    assert paths.settings_file() == tmp_path / "portable" / "settings.ini"


def test_settings_from_before_are_adopted_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLOTVIEWER_CONFIG_DIR", str(tmp_path))
    assert paths.adopt_legacy_settings() is None, "nothing to adopt"
    (tmp_path / "slotviewer.conf").write_text("[General]\ntheme=Dark\n")
    assert paths.adopt_legacy_settings() == tmp_path / "settings.ini"
    assert (tmp_path / "settings.ini").read_text() == "[General]\ntheme=Dark\n"
    (tmp_path / "slotviewer.conf").write_text("[General]\ntheme=Light\n")
    assert paths.adopt_legacy_settings() is None and "Dark" in (tmp_path / "settings.ini").read_text(), "only once"


def test_missing_libraries_are_named_once_each(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ldd lists a missing library under every library that needs it; doctor printed each of them twice."""
    import subprocess

    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    ldd = ("\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/libc.so.6\n\tlibxcb-keysyms.so.1 => not found\n"
           "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n")
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/ldd")
    monkeypatch.setattr(doctor.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=ldd, stderr=""))
    assert doctor._missing_libraries(plugin) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]

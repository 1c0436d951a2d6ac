"""The Linux desktop entry: written with this install's launcher, with the icon, and removable."""

from pathlib import Path

import pytest
from PIL import Image

from slotviewer import paths
from slotviewer.cli import main


def test_install_desktop_entry_and_uninstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["install-desktop"]) == 0
    entry = tmp_path / "applications" / "slotviewer.desktop"
    icon = tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "slotviewer.png"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Type"] == "Application" and fields["Icon"] == "slotviewer" and fields["Name"] == "slotviewer"
    launcher = fields["Exec"].split()[0]
    assert Path(launcher).is_absolute() and Path(launcher).exists(), "runs without the venv on PATH"
    assert fields["Exec"].endswith(" gui %f")
    assert Image.open(icon).size == (256, 256) and icon.read_bytes() == paths.ICON.read_bytes()
    assert main(["install-desktop", "--uninstall"]) == 0
    assert not entry.exists() and not icon.exists()

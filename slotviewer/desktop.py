"""`slotviewer install-desktop`: put the app in the Linux desktop's menu (XDG `.desktop` entry + icon).

The entry is written with the absolute path of the running `slotviewer` (a venv script or the bundled
executable), so it works without the venv on PATH.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from slotviewer import paths
from slotviewer.errors import SlotviewerError
from slotviewer.io.atomic import write_text


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher() -> str:
    """The command that starts this install's app."""
    if getattr(sys, "frozen", False):
        return shlex.quote(sys.executable)
    script = shutil.which("slotviewer", path=str(Path(sys.executable).parent))
    return shlex.quote(script) if script else f"{shlex.quote(sys.executable)} -m slotviewer"


def install_desktop_entry(uninstall: bool = False) -> list[Path]:
    """Write (or remove) `applications/slotviewer.desktop` and the 256 px icon under XDG_DATA_HOME."""
    entry = data_home() / "applications" / "slotviewer.desktop"
    icon = data_home() / "icons" / "hicolor" / "256x256" / "apps" / "slotviewer.png"
    if uninstall:
        for path in (entry, icon):
            path.unlink(missing_ok=True)
        return [entry, icon]
    if not paths.DESKTOP_FILE.exists() or not paths.ICON.exists():
        raise SlotviewerError(f"{paths.RESOURCES}: slotviewer.desktop or icon.png missing from this install")
    text = paths.DESKTOP_FILE.read_text(encoding="utf-8").replace("Exec=slotviewer ", f"Exec={launcher()} ")
    write_text(entry, text)
    icon.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.ICON, icon)
    return [entry, icon]

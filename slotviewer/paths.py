"""Where slotviewer keeps things on this platform: settings, cache, shipped models and resources.

Qt-free, so `slotviewer doctor` and the command line can say where the GUI's settings live without
starting Qt. `SLOTVIEWER_CONFIG_DIR` / `SLOTVIEWER_CACHE_DIR` override the locations (portable installs,
tests).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "slotviewer"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the repository, or the bundle's data folder
RESOURCES = PACKAGE_ROOT / "resources"
ICON = RESOURCES / "icon.png"
DESKTOP_FILE = RESOURCES / "slotviewer.desktop"


def _home() -> Path:
    return Path.home()


def config_dir() -> Path:
    """Linux: $XDG_CONFIG_HOME/slotviewer (~/.config/slotviewer); macOS: ~/Library/Application Support/
    slotviewer; Windows: %APPDATA%\\slotviewer."""
    if os.environ.get("SLOTVIEWER_CONFIG_DIR"):
        return Path(os.environ["SLOTVIEWER_CONFIG_DIR"])
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or _home() / "AppData" / "Roaming") / APP
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_CONFIG_HOME") or _home() / ".config") / APP


def cache_dir() -> Path:
    """Linux: $XDG_CACHE_HOME/slotviewer (~/.cache/slotviewer); macOS: ~/Library/Caches/slotviewer;
    Windows: %LOCALAPPDATA%\\slotviewer\\Cache."""
    if os.environ.get("SLOTVIEWER_CACHE_DIR"):
        return Path(os.environ["SLOTVIEWER_CACHE_DIR"])
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / APP / "Cache"
    if sys.platform == "darwin":
        return _home() / "Library" / "Caches" / APP
    return Path(os.environ.get("XDG_CACHE_HOME") or _home() / ".cache") / APP


def settings_file() -> Path:
    """The GUI's settings, one INI file (the same format on every platform, readable, easy to reset)."""
    return config_dir() / "settings.ini"


def adopt_legacy_settings() -> Path | None:
    """Earlier versions kept the settings in Qt's native `slotviewer.conf` on Linux (the same INI format) beside
    where `settings.ini` now lives: copy it over once, so an upgrade keeps the user's layout and choices."""
    target = settings_file()
    legacy = config_dir() / "slotviewer.conf"
    if target.exists() or not legacy.is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(legacy.read_bytes())
    return target


def models_dir() -> Path:
    """The shipped models (`NAME.json`, `.safetensors`, `.onnx`)."""
    from slotviewer.model.files import MODELS_DIR

    return MODELS_DIR

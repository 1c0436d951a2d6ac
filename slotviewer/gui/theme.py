"""Light and dark themes: Fusion follows the system's colour scheme; the user may force one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

SCHEMES = {"System": Qt.ColorScheme.Unknown, "Light": Qt.ColorScheme.Light, "Dark": Qt.ColorScheme.Dark}


def apply_theme(scheme: str = "System") -> None:
    """Use Fusion (consistent on every platform) and the requested colour scheme."""
    app = QApplication.instance()
    if app is None:
        return
    app.setStyle("Fusion")
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):  # Qt ≥ 6.8; older Qt simply follows the system
        hints.setColorScheme(SCHEMES.get(scheme, Qt.ColorScheme.Unknown))

"""Light and dark themes: Fusion with the system's colour scheme, or one the user forces."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

SCHEMES = ("System", "Light", "Dark")


def dark_palette() -> QPalette:
    """A neutral dark palette for Fusion (used where the platform provides none)."""
    p = QPalette()
    colours = {
        QPalette.ColorRole.Window: (45, 45, 48), QPalette.ColorRole.WindowText: (220, 220, 220),
        QPalette.ColorRole.Base: (30, 30, 32), QPalette.ColorRole.AlternateBase: (45, 45, 48),
        QPalette.ColorRole.ToolTipBase: (60, 60, 64), QPalette.ColorRole.ToolTipText: (230, 230, 230),
        QPalette.ColorRole.Text: (220, 220, 220), QPalette.ColorRole.Button: (53, 53, 56),
        QPalette.ColorRole.ButtonText: (220, 220, 220), QPalette.ColorRole.BrightText: (255, 80, 80),
        QPalette.ColorRole.Highlight: (64, 128, 214), QPalette.ColorRole.HighlightedText: (255, 255, 255),
        QPalette.ColorRole.Link: (100, 160, 240), QPalette.ColorRole.PlaceholderText: (140, 140, 140),
    }
    for role, rgb in colours.items():
        p.setColor(role, QColor(*rgb))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def system_is_dark() -> bool:
    app = QApplication.instance()
    return app is not None and app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(scheme: str = "System") -> None:
    """Fusion everywhere (consistent across platforms); dark when asked or when the system is dark."""
    app = QApplication.instance()
    if app is None:
        return
    app.setStyle("Fusion")
    dark = scheme == "Dark" or (scheme == "System" and system_is_dark())
    app.setPalette(dark_palette() if dark else app.style().standardPalette())

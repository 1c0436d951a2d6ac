"""Captions and panel titles stay readable in narrow panels: they lose their middle or end to "…", never
get cut mid-word at both edges."""

from PySide6.QtWidgets import QLabel

from slotviewer.gui.qt_document_view import ElidedLabel
from slotviewer.gui.qt_images import QtImagePanel

CAPTION = "photo.png · K=6 T=7 seed=0 (draw 3/8) · slot-attention · error 7.6× typical · 179 ms"


def test_a_narrow_caption_keeps_its_start_and_its_end(qtbot) -> None:  # noqa: ANN001
    label = ElidedLabel(CAPTION)
    qtbot.addWidget(label)
    label.resize(380, 20)  # a caption of A or B side by side in a 1280-pixel window
    label.show()
    shown = QLabel.text(label)
    assert label.text() == CAPTION == label.toolTip(), "the whole text is still there"
    assert "…" in shown and shown.startswith("photo.png") and shown.endswith("error 7.6× typical · 179 ms")
    label.resize(1200, 20)
    assert QLabel.text(label) == CAPTION


def test_a_narrow_panel_ends_its_title_in_an_ellipsis(qtbot) -> None:  # noqa: ANN001
    panel = QtImagePanel("A: input + attention")
    qtbot.addWidget(panel)
    panel.resize(150, 200)
    panel.show()
    panel.set_title("A: input + decoder posterior (argmax)")
    assert panel.title_text == "A: input + decoder posterior (argmax)"
    assert panel.title.text.startswith("A: input") and panel.title.text.endswith("…")
    panel.resize(600, 400)
    qtbot.waitUntil(lambda: panel.title.text == "A: input + decoder posterior (argmax)")

"""Captions and panel titles stay readable in narrow panels: they lose their middle or end to "…", never
get cut mid-word at both edges; a caption says what the picture is."""

import numpy as np
from PySide6.QtWidgets import QLabel

from slotviewer.components.document import Document
from slotviewer.gui.qt_document_view import ElidedLabel, caption
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


def test_a_caption_says_a_slot_came_from_the_other_image_and_whose_error_it_gives(onnx_engine) -> None:  # noqa: ANN001
    """After a swap with B the picture is no longer the run its error was measured on."""
    image = np.zeros((35, 35, 3), np.uint8)
    trace = onnx_engine.run(image, seed=1)
    trace = trace.replace(provenance=trace.provenance | {"familiarity": {"ratio": 2.0}})
    assert "· error 2.0× typical" in caption(Document("x.png", image, trace=trace))
    swapped = trace.replace(edits=("swap slot 0 <-> other image's slot 2",))
    text = caption(Document("x.png", image, trace=swapped))
    assert "K=3 (with the other image’s slots) T=" in text and "· the run’s error 2.0× typical" in text

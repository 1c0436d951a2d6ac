"""The slot panel: cards shrink to fit, and scroll only when even the smallest cards cannot all fit."""

import pytest

from slotviewer.gui.qt_slot_panel import MIN_MAP, QtSlotCard, QtSlotPanel, best_grid, grid_height, min_map_columns
from slotviewer.io.render import slot_colours


def test_best_grid_fits_a_few_cards_and_falls_back_to_the_smallest_cards_for_many() -> None:
    columns, size = best_grid(6, 760, 290)
    assert size > MIN_MAP and grid_height(6, columns, size) <= 290
    columns, size = best_grid(32, 760, 290)  # 32 cards cannot fit in 290 px at any readable size
    assert size == MIN_MAP and columns == min_map_columns(32, 760) > 1
    assert grid_height(32, columns, size) > 290


def test_many_slots_scroll_at_a_readable_size_instead_of_being_squashed(qtbot) -> None:  # noqa: ANN001
    panel = QtSlotPanel("A")
    qtbot.addWidget(panel)
    panel.resize(760, 290)
    panel.show()
    panel.set_slots(slot_colours(6))
    assert not panel.scrolls and panel.cards[0].map_size > MIN_MAP
    panel.set_slots(slot_colours(32))
    qtbot.waitUntil(lambda: panel.cards[-1].isVisible())
    assert panel.scrolls and panel.verticalScrollBar().maximum() > 0
    for card in panel.cards:  # every card keeps maps one can see and a header one can click
        assert card.map_size == MIN_MAP and card.height() >= MIN_MAP + 40
        assert card.geometry().right() <= panel.viewport().width()
    panel.resize(1400, 1000)  # room enough again: no scrolling, bigger maps
    qtbot.waitUntil(lambda: not panel.scrolls)
    assert panel.cards[0].map_size > MIN_MAP


@pytest.mark.parametrize("height", [400, 300])  # they fit; at their smallest size they would fit by the maps alone
def test_cards_are_laid_out_by_their_real_width_so_none_is_cut_off(qtbot, height: int) -> None:  # noqa: ANN001
    """Two-digit slot numbers make a card's header wider than its three smallest maps."""
    panel = QtSlotPanel("A")
    qtbot.addWidget(panel)
    panel.resize(778, height)
    panel.show()
    panel.set_slots(slot_colours(20))
    qtbot.waitUntil(lambda: panel.cards[-1].isVisible())
    qtbot.wait(50)
    assert panel.scrolls == (height == 300)
    widest = max(card.minimumSizeHint().width() for card in panel.cards)
    for card in panel.cards:
        assert card.width() >= card.minimumSizeHint().width() and card.geometry().right() < panel.viewport().width()
    columns = len({card.x() for card in panel.cards})
    assert columns * widest <= panel.viewport().width() < (columns + 1) * (widest + 4), "as many as fit"


def test_the_map_captions_follow_a_change_of_theme(qtbot, qapp) -> None:  # noqa: ANN001
    from PySide6.QtGui import QPalette

    from slotviewer.gui.theme import apply_theme

    card = QtSlotCard("A", 13, slot_colours(14)[13])
    qtbot.addWidget(card)
    card.show()
    try:
        apply_theme("Dark")
        apply_theme("Light")  # the captions kept the dark theme's light grey on the light background
        text = qapp.palette().color(QPalette.ColorRole.WindowText)
        assert text.lightness() < 100
        assert all(c.palette().color(QPalette.ColorRole.WindowText) == text for c in card.captions)
        assert all(c.font().pointSizeF() == 8 for c in card.captions)
    finally:
        apply_theme("Light")

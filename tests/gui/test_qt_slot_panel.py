"""The slot panel: cards shrink to fit, and scroll only when even the smallest cards cannot all fit."""

from slotviewer.gui.qt_slot_panel import MIN_MAP, QtSlotPanel, best_grid, grid_height, min_map_columns
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

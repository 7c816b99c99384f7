"""Matches of the last search are marked on the lanes (issue 12.6): the cell where each
match starts shows a bold dot over its colour. Unit-tested on a strip, then in the app."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.view.render import MATCH_GLYPH, mark_cells
from w2a_tui.tui.widgets.timeline import Timeline


def test_mark_cells_puts_a_dot_on_each_cell_keeping_its_colour() -> None:
    strip = Strip([Segment("ab", Style()), Segment("      ", Style(bgcolor="#00aa00"))], 8)
    marked = mark_cells(strip, [1, 4], offset=2)
    assert marked.cell_length == 8
    assert marked.text == "ab " + MATCH_GLYPH + "  " + MATCH_GLYPH + " "
    backgrounds = [
        seg.style.bgcolor.name
        for seg in marked
        if seg.text == MATCH_GLYPH and seg.style is not None and seg.style.bgcolor is not None
    ]
    assert backgrounds == ["#00aa00", "#00aa00"]
    assert mark_cells(strip, [], offset=2).text == strip.text


async def test_found_intervals_are_dotted_on_their_lane(sample_store: StateStore) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        before = "".join(tl.render_line(y).text for y in range(tl.size.height))
        assert MATCH_GLYPH not in before
        await pilot.press("slash", *"disk >5ms", "enter", "w", "w", "w")
        await pilot.pause()
        iv = tl.interval_under_cursor()
        assert iv is not None  # the first match, a long disk wait
        t0, _ = tl.window
        row = next(y for y in range(tl.size.height) if tl.row_at(y) == tl.row)
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.matches is not None
        others = [
            s
            for s in screen.matches.starts[iv.lane]
            if tl.window[0] <= s < tl.window[1] and s != iv.start
        ]
        line = tl.render_line(row).text
        if others:
            col = tl.label_width + int((others[0] - t0) / tl.view.ns_per_col)
            assert line[col] == MATCH_GLYPH
        assert MATCH_GLYPH in "".join(tl.render_line(y).text for y in range(tl.size.height))

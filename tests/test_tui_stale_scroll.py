"""A frame drawn at a new size before the timeline's `on_resize` ran shows no stale scroll
(issue 13: a cached trace now opens so fast that its main screen can mount while the
terminal, or the browser of `serve`, still reports a size too small for it)."""

from __future__ import annotations

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.widgets.timeline import RULER_ROWS, Timeline


async def test_a_scroll_the_height_does_not_need_is_not_drawn(sample_store: StateStore) -> None:
    app = W2AApp(store=sample_store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        assert tl.row == 1 and len(tl.rows) * 2 < tl.visible_rows  # every row fits
        first_vm = tl.render_line(RULER_ROWS).text
        tl.top = 1  # left over from a one-line layout, before any move or resize
        tl._lines = None
        assert tl.render_line(RULER_ROWS).text == first_vm  # still the first row, not row 1
        assert tl.screen_lines()[0][0] == 0


async def test_mounted_too_small_then_grown_shows_the_first_row(sample_store: StateStore) -> None:
    app = W2AApp(store=sample_store, mono=False)
    async with app.run_test(size=(40, 8)) as pilot:  # "terminal too small"
        await pilot.pause()
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        assert tl.screen_lines()[0][0] == 0
        vm = sample_store.vms[0].name
        assert vm.split(":")[-1] in tl.render_line(RULER_ROWS).text

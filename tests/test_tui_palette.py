"""Textual's command palette (issue 12.8): Ctrl+P lists every action of the main view with
its key, and choosing one runs it."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.content import Content

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.keys import KEYMAP
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.widgets.timeline import Timeline


async def test_the_palette_lists_every_key_of_the_main_view(sample_store: StateStore) -> None:
    app = W2AApp(store=sample_store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        titles = [Content.from_markup(c.title).plain for c in app.get_system_commands(screen)]
        for _, keys in KEYMAP:
            for key in keys:
                if key.action != "palette":
                    assert any(t.endswith(f"({key.shown})") for t in titles), key


async def test_ctrl_p_then_a_name_runs_the_action(sample_store: StateStore) -> None:
    app = W2AApp(store=sample_store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        span = tl.window[1] - tl.window[0]
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"zoom in around")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen)
        assert tl.window[1] - tl.window[0] == pytest.approx(span / 2, rel=1e-6)

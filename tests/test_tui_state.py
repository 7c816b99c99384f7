"""The timeline announces its state (issue 16.3): a bare Timeline in a minimal app, no main
screen, to check that moves publish one coalesced `Timeline.Changed` carrying the cursor,
lane, window and selection, and that nothing is announced when nothing moved."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from w2a_tui.store import StateStore
from w2a_tui.tui.widgets.timeline import Timeline, TimelineState


@pytest.fixture(scope="module")
def sample(sample_store: StateStore) -> StateStore:
    return sample_store


class Bare(App[None]):
    def __init__(self, store: StateStore) -> None:
        super().__init__()
        self.store = store
        self.seen: list[TimelineState] = []

    def compose(self) -> ComposeResult:
        yield Timeline(self.store)

    def on_timeline_changed(self, message: Timeline.Changed) -> None:
        self.seen.append(message.state)


async def test_a_burst_of_moves_is_announced_once_with_the_final_state(
    sample: StateStore,
) -> None:
    app = Bare(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tl = app.query_one(Timeline)
        app.seen.clear()
        for _ in range(5):
            tl.zoom_in()
            tl.step_cursor(3)
        tl.move_row(1)
        await pilot.pause()
        assert len(app.seen) == 1
        state = app.seen[0]
        assert state == tl.state
        assert state.cursor == tl.cursor and state.window == tl.window
        assert state.lane == tl.lane and state.row == tl.row
        assert state.span * 32 == pytest.approx(sample.end_ns - sample.start_ns, abs=32)
        assert state.cursor > sample.start_ns


async def test_a_move_that_changes_nothing_announces_nothing(sample: StateStore) -> None:
    app = Bare(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tl = app.query_one(Timeline)
        app.seen.clear()
        tl.step_cursor(-1)  # already at the trace start
        tl.zoom_out()  # already the whole trace
        await pilot.pause()
        assert app.seen == []


async def test_selection_and_bookmarks_travel_in_the_state(sample: StateStore) -> None:
    app = Bare(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tl = app.query_one(Timeline)
        tl.toggle_selection()
        tl.step_cursor(10, extend=True)
        tl.add_bookmark()
        await pilot.pause()
        state = app.seen[-1]
        assert state.selection == (sample.start_ns, tl.cursor)
        assert state.bookmarks == (tl.cursor,)
        tl.clear_selection()
        await pilot.pause()
        assert app.seen[-1].selection is None

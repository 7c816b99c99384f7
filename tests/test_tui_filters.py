"""Lane filters (issue 12.5): one VM, lanes active in the window, lanes with matches; the
header says a filter is on and how to clear it."""

from __future__ import annotations

from textual.widgets import Static

from w2a_tui.model import State
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.widgets.timeline import Timeline

BUSY = (State.GUEST, State.HYPERVISOR, State.PREEMPTED, State.READY)


def _header(app: W2AApp) -> str:
    return str(app.screen.query_one("#header", Static).render())


def _shown_lanes(tl: Timeline) -> list[int]:
    return [row.lane for row in tl.rows if not row.is_vm]


async def test_o_keeps_one_vm_and_x_clears(sample_store: StateStore) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        await pilot.press("down", "down", "down", "down", "down")
        await pilot.pause()
        vm = store.lanes[tl.lane].vm_pid
        lane = tl.lane
        await pilot.press("o")
        await pilot.pause()
        assert _shown_lanes(tl) == store.lanes_of_vm(vm) and tl.lane == lane
        assert "filter: VM" in _header(app) and "x clears" in _header(app)
        await pilot.press("x")
        await pilot.pause()
        assert _shown_lanes(tl) == list(range(len(store.lanes))) and tl.lane == lane
        assert "filter" not in _header(app)


async def test_i_hides_the_lanes_idle_in_the_window(sample_store: StateStore) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        # A window a tenth of a millisecond wide, inside a long disk wait: most lanes idle.
        longest = store.longest({State.WAIT_DISK}, k=1)[0]
        tl.select_lane(longest.lane)
        tl.view.show_range(longest.start + 1_000_000, longest.start + 1_100_000, margin=0)
        tl.goto(longest.start + 1_050_000)
        await pilot.press("i")
        await pilot.pause()
        t0, t1 = tl.window
        want = [
            lane.index
            for lane in store.lanes
            if sum(int(store.totals(lane.index, t0, t1)[s]) for s in BUSY)
        ]
        assert _shown_lanes(tl) == want and longest.lane not in want
        assert 0 < len(want) < len(store.lanes)
        assert f"{len(want)} lanes active" in _header(app)


async def test_u_keeps_the_lanes_with_matches(sample_store: StateStore) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        await pilot.press("slash", *"disk >5ms", "enter", "u")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.matches is not None
        matches = screen.matches
        with_hits = [i for i, hits in enumerate(matches.indexes) if len(hits)]
        assert _shown_lanes(tl) == with_hits and len(with_hits) < len(store.lanes)
        assert "lanes matching /disk >5ms" in _header(app)

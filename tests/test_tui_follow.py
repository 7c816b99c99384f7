"""Follow a thread (issue 12.2): from a preempted vCPU to the preempting thread on its host
CPU, then every place that thread ran, listed and stepped through with n."""

from __future__ import annotations

from w2a_tui.model import State
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.screens.results import ResultsScreen
from w2a_tui.tui.widgets.timeline import Timeline


async def test_f_follows_the_preemptor_then_lists_where_it_ran(sample_store: StateStore) -> None:
    store = sample_store
    pcpu = store.pcpu
    assert pcpu is not None
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        await pilot.press("slash", *"preempt cc1", "enter")
        await pilot.pause()
        here = tl.interval_under_cursor()
        assert here is not None and here.state is State.PREEMPTED and here.evidence
        tid = here.evidence.next_tid
        await pilot.press("F")
        await pilot.pause()
        assert tl.pcpu and tl.cursor == here.start
        on_cpu = tl.interval_under_cursor()
        assert on_cpu is not None and on_cpu.evidence is not None
        assert on_cpu.evidence.next_tid == tid  # the preemptor, on that CPU, at that time
        await pilot.press("F")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        runs = screen.found
        want = sorted(
            (iv.start, iv.lane)
            for lane in range(len(pcpu.lanes))
            for iv in pcpu.intervals(lane, pcpu.start_ns, pcpu.end_ns)
            if iv.evidence is not None and iv.evidence.next_tid == tid
        )
        assert [(iv.start, iv.lane) for iv in runs] == want[: len(runs)]
        await pilot.press("escape", "n")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and tl.pcpu
        now = tl.interval_under_cursor()
        assert now is not None and now.evidence is not None and now.evidence.next_tid == tid
        assert now.start > on_cpu.start

"""Where events were lost is marked `!` on the ruler (issue 12.9): the windows come from
the pCPU lanes (from a loss to the CPU's next recorded event) and agree with the vCPU
lanes' `unknown` stretches after a loss."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from w2a_tui.model import State
from w2a_tui.pipeline import load_store
from w2a_tui.sim import generate, get_scenario, with_overrides
from w2a_tui.store import StateStore
from w2a_tui.store.pcpu import lost_windows_of
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.view.render import ruler_strips
from w2a_tui.tui.widgets.timeline import RULER_ROWS, Timeline


@pytest.fixture(scope="module")
def lost_store(tmp_path_factory: pytest.TempPathFactory) -> StateStore:
    trace = Path(tmp_path_factory.mktemp("lost")) / "lost"
    generate(trace, with_overrides(get_scenario("lost"), seconds=0.5, seed=1))
    store, _ = load_store(str(trace), use_cache=False)
    return store


def test_the_ruler_draws_lost_ranges() -> None:
    _, ticks = ruler_strips(0, 1000, 40, 0, lost_cols=[(5, 7), (30, 30)])
    assert ticks.text[5:8] == "!!!" and ticks.text[30] == "!" and ticks.text.count("!") == 4


def test_lost_windows_meet_the_vcpus_unknown_stretches(lost_store: StateStore) -> None:
    windows = lost_windows_of(lost_store.pcpu)
    assert lost_store.meta.lost_events > 0 and windows
    unknown = [
        iv
        for lane in range(len(lost_store.lanes))
        for iv in lost_store.intervals(lane, lost_store.start_ns, lost_store.end_ns)
        if iv.state is State.UNKNOWN and iv.index > 0
    ]
    assert unknown
    for iv in unknown:  # every unknown stretch after a loss starts within a lost window
        assert any(a <= iv.start < b for a, b in windows), iv


async def test_the_ruler_marks_where_events_were_lost(lost_store: StateStore) -> None:
    app = W2AApp(store=lost_store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        line = tl.render_line(RULER_ROWS - 1).text[tl.label_width :]
        a, _ = lost_windows_of(lost_store.pcpu)[0]
        assert line[tl.view.col_of(a)] == "!"
        assert "!" in str(app.screen.query_one("#header", Static).render())  # ⚠ ... press !

"""The TUI on the real PVM host trace (trace.dat): two vCPU lanes with `running` and wait
intervals, the legend shows `running`, the header says what the trace cannot tell apart,
and the drill-down of a disk and of a net wait shows how its vector was learned."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from tests.support.paths import REAL_FTRACE
from w2a_tui.model import State
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen


def test_view_of_the_pvm_trace_shows_running_waits_and_their_chains() -> None:
    store = StateStore.from_result(analyze_trace(REAL_FTRACE / "pvm-minivm-2vcpu" / "trace.dat"))
    assert [(lane.vcpu, lane.comm) for lane in store.lanes] == [(0, "minivm"), (1, "minivm")]
    texts: dict[str, str] = {}

    async def main() -> None:
        app = W2AApp(store=store, mono=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, MainScreen)
            texts["header"] = str(screen.query_one("#header", Static).render())
            texts["legend"] = str(screen.query_one("#legend", Static).render())
            for lane, state in ((1, State.WAIT_DISK), (0, State.WAIT_NET)):  # vCPU 1, vCPU 0
                iv = store.find(lane, store.start_ns, states=[state])
                assert iv is not None
                screen.timeline.show_interval(iv)
                await pilot.press("enter")
                await pilot.pause()
                texts[state.label] = str(screen.query_one("#details", Static).render())

    asyncio.run(main())
    assert "partial events: running = guest+hyp" in texts["header"]
    assert "running" in texts["legend"]
    assert "learned: 0x42 disk <- minivm tid 31790 <- BLOCK softirq" in texts["wait_disk"]
    assert "learned: 0x43 net <- minivm tid 31791 <- NET_RX softirq" in texts["wait_net"]

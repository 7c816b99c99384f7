"""Time in the TUI (issue 12.7): the status line at the ruler's precision, the drill-down
to the nanosecond with end - start equal to the printed duration, wall-clock input and
display, and `y` copying the cursor's time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Static

from w2a_tui.errors import W2AError
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.view.timefmt import format_exact, format_time, parse_time, wall_clock
from w2a_tui.tui.widgets.timeline import Timeline

ORIGIN = 1_700_086_401_304_684_676  # the sample's first event: 2023-11-15 22:13:21 UTC
UNIT = {"s": Decimal(1), "ms": Decimal("1e-3"), "µs": Decimal("1e-6"), "ns": Decimal("1e-9")}


def seconds(text: str) -> Decimal:
    if text.endswith("s") and " " not in text:
        return Decimal(text[:-1])
    number, unit = text.split()
    return Decimal(number) * UNIT[unit]


def test_printed_end_minus_start_is_the_printed_duration(sample_store: StateStore) -> None:
    store = sample_store
    for lane in range(len(store.lanes)):
        for iv in store.intervals(lane, store.start_ns, store.end_ns)[:200]:
            start = seconds(format_time(iv.start, store.start_ns, 1))
            end = seconds(format_time(iv.end, store.start_ns, 1))
            assert end - start == seconds(format_exact(iv.duration))


def test_wall_clock_times_are_read_to_the_nanosecond() -> None:
    at = parse_time("22:13:21.4", origin=ORIGIN, cursor=ORIGIN)
    assert wall_clock(at) == "22:13:21.400000000" and at - ORIGIN == 95_315_324
    iso = parse_time("2023-11-15T22:13:21.412345678Z", origin=ORIGIN, cursor=ORIGIN)
    assert iso == at + 12_345_678
    with pytest.raises(W2AError):
        parse_time("25:61", origin=ORIGIN, cursor=ORIGIN)
    with pytest.raises(W2AError):
        parse_time("22:13:21.4", origin=1000, cursor=1000)  # not an epoch clock


async def test_status_precision_wall_clock_and_copy(sample_store: StateStore) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)

        def status() -> str:
            return str(app.screen.query_one("#status", Static).render())

        assert f"▼ {format_time(tl.cursor, store.start_ns)}" in status()  # µs when wide
        await pilot.press("g", *"22:13:21.4", "enter")
        await pilot.pause()
        assert wall_clock(tl.cursor) == "22:13:21.400000000"
        await pilot.press(*["w"] * 22, "right")
        await pilot.pause()
        assert tl.state is not None and tl.state.ns_per_col < 10
        assert f"▼ {format_time(tl.cursor, store.start_ns, 1)}" in status()  # ns
        await pilot.press("c")
        await pilot.pause()
        assert f"▼ {wall_clock(tl.cursor)}" in status()
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == wall_clock(tl.cursor)
        assert any("OSC 52" in n.message for n in app._notifications)

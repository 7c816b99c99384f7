"""TUI frame benchmark: render every visible timeline line (>= 40 lanes x 200 columns) of
a 10 M-interval store, at several zoom levels, in the real widget of a headless app.

A frame is what a key press costs: per lane one `column_summary` over the visible window
(two samples per cell) plus one `Strip`. Times are also printed as ratios to a baseline
measured in the same run (the store benchmark's searchsorted of 200 values in 10 M int64).

    .venv/bin/python benchmarks/tui_bench.py [--intervals 10000000] [--lanes 64]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import Report, build_store, timed

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.widgets.timeline import Timeline

FRAME_TARGET_S = 0.016
LANE_COLS = 200


def frame(tl: Timeline) -> int:
    """Render every visible line from scratch (lane cache dropped); returns lanes drawn."""
    tl._runs.clear()
    for y in range(tl.size.height):
        tl.render_line(y)
    return sum(1 for r in tl.rows[tl.top : tl.top + tl.visible_rows] if not r.is_vm)


def new_window_frame(tl: Timeline) -> None:
    """A pan by one cell then a frame: a window neither the widget nor the store has seen
    (what `a`/`d`/zoom cost), alternating direction to stay at the same zoom level."""
    step = tl.view.ns_per_col
    tl.view.pan((1 if tl.view.t0 == tl.view.lo else -1) * step / tl.view.span)
    if tl.view.t0 + tl.view.span >= tl.view.hi:
        tl.view.pan(-2 * step / tl.view.span)
    frame(tl)


def cursor_frame(tl: Timeline) -> None:
    """A cursor move by one cell then a frame: same window, lanes reused from the cache."""
    tl.view.step_cursor(1 if tl.view.cursor < (tl.view.t0 + tl.view.t1) // 2 else -1)
    for y in range(tl.size.height):
        tl.render_line(y)


async def measure(store: StateStore, report: Report, repeat: int) -> None:
    app = W2AApp(store=store, mono=False)
    # 5 VM rows + 40 lane rows + 2 ruler rows in the timeline, plus the screen's chrome.
    size = (LANE_COLS + 16, 56)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        assert tl.lane_cols == LANE_COLS, tl.lane_cols
        lanes = frame(tl)
        print(f"frame = {lanes} lanes x {tl.lane_cols} columns ({tl.size.height} lines)")
        assert lanes >= 40, "the benchmark must draw at least 40 lanes"
        full = tl.view.span
        for name, factor in (("whole trace", 1.0), ("1/100 of it", 0.01), ("1/10^5", 1e-5)):
            tl.view.show_all()
            tl.view.move_cursor(store.start_ns + full // 3)
            tl.view.zoom(factor)
            seconds = timed(lambda: new_window_frame(tl), repeat)
            report.row(f"frame, new window, {name}", seconds, FRAME_TARGET_S)
            seconds = timed(lambda: cursor_frame(tl), repeat)
            report.row(f"frame, cursor move, {name}", seconds, FRAME_TARGET_S)
        # `p`: the pCPU lanes (64 host CPUs) in the same window, then frames there.
        if store.pcpu is not None:
            tl.view.show_all()

            def toggle_frame() -> None:
                tl.toggle_pcpu()
                frame(tl)

            report.row(
                "p (pCPU <-> vCPU lanes) + frame", timed(toggle_frame, repeat), FRAME_TARGET_S
            )
            if not tl.pcpu:
                tl.toggle_pcpu()
            tl.view.zoom(0.01)
            seconds = timed(lambda: new_window_frame(tl), repeat)
            report.row("pCPU frame, new window, 1/100", seconds, FRAME_TARGET_S)
            tl.toggle_pcpu()
        # A key press end to end: the binding, the widget refresh and the compositor.
        t = time.perf_counter()
        for _ in range(repeat):
            await pilot.press("w")
            await pilot.press("s")
        report.row(
            "key press, end to end via Pilot (incl. its waits)",
            (time.perf_counter() - t) / (2 * repeat),
        )


def baseline_s() -> float:
    """The store benchmark's baseline: searchsorted of 200 values into 10 M int64."""
    big = np.sort(np.random.default_rng(1).integers(0, 10**15, 10_000_000))
    probe = np.sort(np.random.default_rng(2).integers(0, 10**15, 200))
    return timed(lambda: np.searchsorted(big, probe), 50)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=10_000_000)
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--pcpus", type=int, default=64, help="host CPU lanes for `p`")
    args = parser.parse_args()
    t = time.perf_counter()
    store = build_store(args.intervals, args.lanes)
    print(
        f"built a {store.n_intervals:,}-interval, {len(store.lanes)}-lane store in "
        f"{time.perf_counter() - t:.1f} s"
    )
    t = time.perf_counter()
    store.pcpu = build_store(args.intervals // 2, args.pcpus)
    print(f"built a {args.pcpus}-lane pCPU store in {time.perf_counter() - t:.1f} s")
    report = Report(baseline_s())
    asyncio.run(measure(store, report, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

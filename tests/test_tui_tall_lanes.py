"""Lanes grow taller when the terminal has room (issue 12 item 9): one line at 80x24, the
1.5-line look at 120x36, four lines at 200x60 instead of a screen a third empty."""

from __future__ import annotations

from collections.abc import Callable

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.view.rows import MAX_LANE_LINES, build_rows, lane_lines, line_layout
from w2a_tui.tui.widgets.timeline import RULER_ROWS, Timeline

SnapCompare = Callable[..., bool]


def test_lane_height_follows_the_free_lines(sample_store: StateStore) -> None:
    rows = build_rows(sample_store.lanes)  # 3 VM rows + 9 lanes
    assert (len(rows), sum(not r.is_vm for r in rows)) == (12, 9)
    assert lane_lines(rows, 16) == 1  # 80x24: 18 lines under the ruler
    assert lane_lines(rows, 20) == 1  # 21 lines needed for two per lane
    assert lane_lines(rows, 21) == 2
    assert lane_lines(rows, 30) == 2  # 120x36: three per lane would leave no spare lines
    assert lane_lines(rows, 39) == 2
    assert lane_lines(rows, 40) == 3  # 3 + 9 * 3 = 30, ten spare
    assert lane_lines(rows, 54) == 4  # 200x60
    assert lane_lines(rows, 500) == MAX_LANE_LINES
    assert lane_lines(rows, 54, mono=True) == 1  # NO_COLOR: always one line


def test_a_four_line_lane_is_label_name_bar_and_half_bar(sample_store: StateStore) -> None:
    rows = build_rows(sample_store.lanes)
    layout = line_layout(rows, 0, 12, lane_height=4)
    head, lane_0, lane_1 = [(0, 0)], [(1, i) for i in range(4)], [(2, i) for i in range(4)]
    assert layout == [*head, *lane_0, *lane_1, (3, 0), (3, 1), (3, 2)]
    assert line_layout(rows, 0, 5, tall=True) == line_layout(rows, 0, 5, lane_height=2)


async def test_200x60_fills_the_screen_and_80x24_keeps_one_line(
    sample_store: StateStore,
) -> None:
    for size, per_lane in (((80, 24), 1), ((120, 36), 2), ((200, 60), 4)):
        app = W2AApp(store=sample_store, mono=False)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            timeline = app.screen.query_one(Timeline)
            assert timeline.lane_height == per_lane, size
            if per_lane == 4:
                used = len(timeline.screen_lines())
                assert used == 3 + 9 * 4
                assert used >= (timeline.size.height - RULER_ROWS) * 2 // 3
                texts = [timeline.render_line(RULER_ROWS + i).text for i in range(5)]
                assert texts[1].startswith("  vCPU 0 3110")
                assert texts[2].startswith("  CPU 0/KVM")
                assert texts[3][:16].strip() == ""  # a full bar without a label
                assert "▀" in texts[4]  # the half bar: a gap to the next lane


def test_snapshot_200x60(snap_compare: SnapCompare, sample_store: StateStore) -> None:
    assert snap_compare(W2AApp(store=sample_store, mono=False), terminal_size=(200, 60))

"""Pure TUI pieces without an app (memray style): time units and parsing, viewport maths,
lane/ruler rendering, row building, search queries, drill-down and summary texts."""

from __future__ import annotations

import numpy as np
import pytest
from rich.color import Color, ColorSystem
from rich.console import Console

from tests.support.handmade import MS, T0, small_store
from w2a_tui.errors import W2AError
from w2a_tui.model import State
from w2a_tui.store import Interval
from w2a_tui.tui.keys import KEYMAP
from w2a_tui.tui.screens.help import help_columns
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.screens.summary import (
    REASON_FILTERS,
    bucket_span,
    cause_text,
    histogram,
    reason_tabs,
    wait_durations,
)
from w2a_tui.tui.screens.warnings import readable, warnings_text
from w2a_tui.tui.view.chrome import header_text, legend_text, status_text
from w2a_tui.tui.view.details import describe, meaning, thread_roles
from w2a_tui.tui.view.looks import LOOKS, NO_DATA
from w2a_tui.tui.view.names import vm_labels
from w2a_tui.tui.view.numbers import stacked_bar
from w2a_tui.tui.view.render import (
    CURSOR_GLYPH,
    HALF_BLOCK,
    foot_samples,
    lane_foot_strip,
    lane_runs,
    lane_strip,
    ruler_strips,
)
from w2a_tui.tui.view.rows import build_rows, fits_tall, line_layout
from w2a_tui.tui.view.search import Matches, find_next, parse_query
from w2a_tui.tui.view.timefmt import format_duration, nice_step, parse_time
from w2a_tui.tui.view.viewport import Viewport
from w2a_tui.tui.widgets.timeline import merged_dominant

# --- time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "text"),
    [(17, "17 ns"), (1_500, "1.5 µs"), (2_000_000, "2 ms"), (1_234_567_000, "1.235 s")],
)
def test_durations_use_the_largest_readable_unit(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_nice_steps_are_1_2_5_decades_within_the_tick_budget() -> None:
    for span in (7, 999, 12_345, 10**9, 3 * 10**10):
        for budget in (1, 4, 9):
            step = nice_step(span, budget)
            mantissa = step / 10 ** int(np.floor(np.log10(step)))
            assert mantissa in (1, 2, 5)
            assert span / step <= budget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5s", T0 + 1_500_000_000),
        ("1500ms", T0 + 1_500_000_000),
        ("20us", T0 + 20_000),
        ("20µs", T0 + 20_000),
        ("+200us", 5_000 + 200_000),
        ("-1ms", 5_000 - 1_000_000),
        (str(T0 + 42), T0 + 42),  # raw ns since the clock origin
        ("42", T0 + 42),  # smaller than the trace start: ns from the start
    ],
)
def test_go_to_accepts_units_relative_and_raw(text: str, expected: int) -> None:
    assert parse_time(text, origin=T0, cursor=5_000) == expected


@pytest.mark.parametrize("text", ["", "abc", "1.5", "1.5 parsecs", "+"])
def test_go_to_rejects_garbage_with_a_sentence(text: str) -> None:
    with pytest.raises(W2AError) as err:
        parse_time(text, origin=T0, cursor=0)
    assert err.value.message.endswith(".")


# --- viewport -------------------------------------------------------------------------------


def test_zoom_keeps_the_cursor_at_the_same_screen_column() -> None:
    view = Viewport.fit(0, 1_000_000, cols=100)
    view.cursor = 250_000
    col = view.col_of(view.cursor)
    view.zoom(0.5)
    assert view.span == 500_000
    assert view.col_of(view.cursor) == col
    view.zoom(2.0)
    assert (view.t0, view.t1) == (0, 1_000_000)


def test_zoom_and_pan_stay_inside_the_trace() -> None:
    view = Viewport.fit(1000, 2000, cols=10)
    view.zoom(100.0)
    assert (view.t0, view.t1) == (1000, 2000)
    for _ in range(50):
        view.zoom(0.5)
    assert view.span == 10  # one ns per cell at most
    view.pan(-100)
    assert view.t0 == 1000
    view.pan(+100)
    assert view.t1 == 2000 and view.t0 <= view.cursor < view.t1


def test_epoch_timestamps_keep_nanosecond_windows() -> None:
    # Real traces count ns since 1970 (~1.7e18): beyond float64's exact integers.
    lo = 1_700_086_401_304_684_676
    view = Viewport.fit(lo, lo + 1_999_997_178, cols=104)
    view.cursor = lo + 123_457
    view.show_range(lo + 1_000_001, lo + 1_001_013, margin=0.0)
    assert (view.t0, view.t1) == (lo + 1_000_001, lo + 1_001_013)
    view.show_all()
    view.zoom(0.25)
    view.zoom(4.0)
    assert (view.t0, view.t1) == (lo, lo + 1_999_997_178)
    view.pan(0.25)
    view.pan(-0.25)
    assert view.t0 == lo


def test_stepping_the_cursor_scrolls_the_window_not_the_zoom() -> None:
    view = Viewport.fit(0, 10_000, cols=100)
    view.zoom(0.1)  # 1000 ns window around the cursor at 0
    span = view.span
    for _ in range(150):
        view.step_cursor(1)
    assert view.cursor == 1500 and view.t0 <= 1500 < view.t1 and view.span == span


def test_selection_starts_then_extends_and_fit_uses_it() -> None:
    view = Viewport.fit(0, 1000, cols=10)
    view.cursor = 300
    view.start_or_extend_selection()
    view.cursor = 100
    view.start_or_extend_selection()
    assert view.selection == (100, 300)
    view.clear_selection()
    assert view.selection is None


# --- lanes and ruler ----------------------------------------------------------------------


def test_a_lane_cell_draws_its_two_halves_as_fg_and_bg_colours() -> None:
    g, d = int(State.GUEST), int(State.WAIT_DISK)
    strip = lane_strip(np.array([g, g, g, d, d, d, NO_DATA, NO_DATA], np.uint8), 4)
    assert strip.text == f" {HALF_BLOCK}  "
    segments = list(strip)
    assert segments[0].style.bgcolor.name == LOOKS[State.GUEST].colour  # type: ignore[union-attr]
    half = segments[1].style
    assert half is not None and half.color is not None and half.bgcolor is not None
    assert (half.color.name, half.bgcolor.name) == (
        LOOKS[State.GUEST].colour,
        LOOKS[State.WAIT_DISK].colour,
    )
    assert segments[-1].style is not None and segments[-1].style.bgcolor is None


def test_a_lane_merges_runs_into_few_segments() -> None:
    samples = np.repeat(np.array([State.GUEST, State.WAIT_TIMER], np.uint8), 200)
    strip = lane_strip(samples, 200)
    assert strip.cell_length == 200 and len(list(strip)) == 2


def test_mono_lanes_draw_one_glyph_per_state_and_the_cursor() -> None:
    states = [State.GUEST, State.HYPERVISOR, State.PREEMPTED, State.WAIT_DISK, State.WAIT_NET]
    strip = lane_strip(np.array(states, np.uint8), 5, mono=True, cursor_col=2)
    assert strip.text == "█▓┃dn"
    glyphs = [look.glyph for look in LOOKS.values()]
    assert len(set(glyphs)) == len(glyphs)  # NO_COLOR: every state is told apart


def test_lane_rejects_a_summary_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        lane_strip(np.zeros(3, np.uint8), 2)


def test_ruler_labels_ticks_and_marks() -> None:
    labels, ticks = ruler_strips(
        T0, T0 + 100 * MS, 80, T0, cursor_col=5, selection_cols=(10, 12), bookmark_cols=[40]
    )
    assert labels.text.startswith("0.00s")
    assert "0.02s" in labels.text
    assert ticks.text[5] == "▼" and ticks.text[10:13] == "━━━" and ticks.text[40] == "◆"
    assert labels.cell_length == ticks.cell_length == 80


def test_ruler_ticks_are_round_from_the_trace_start_not_the_clock_origin() -> None:
    origin = 1_700_086_401_304_684_676  # a real trace's first event, in ns since 1970
    labels, ticks = ruler_strips(origin, origin + 1_000_000_000, 100, origin)
    assert labels.text.split() == ["0.0s", "0.2s", "0.4s", "0.6s", "0.8s"]
    assert ticks.text[0] == "┴" and ticks.text[20] == "┴"


# --- rows, search, details, summary on the hand-made store ---------------------------------


def test_rows_group_lanes_under_collapsible_vms() -> None:
    store = small_store()
    rows = build_rows(store.lanes)
    assert [(r.is_vm, r.vm_pid, r.lane) for r in rows] == [
        (True, 100, -1),
        (False, 100, 0),
        (False, 100, 1),
        (True, 200, -1),
        (False, 200, 2),
    ]
    collapsed = build_rows(store.lanes, {100})
    assert [r.lane for r in collapsed] == [-1, -1, 2]
    assert collapsed[0].label(True).startswith("▸ web [100] 2 vCPU")


@pytest.mark.parametrize(
    ("query", "lane", "start_ms"),
    [
        ("disk", 0, 11),
        ("wait_net", 2, 40),
        ("0x23", 0, 11),
        ("35", 0, 11),
        ("vhost", 2, 40),
        ("kworker", 0, 60),
        ("waker", 2, 40),
        ("preempted", 0, 60),
    ],
)
def test_find_goes_to_the_first_match_after_the_cursor(
    query: str, lane: int, start_ms: int
) -> None:
    store = small_store()
    found = find_next(store, parse_query(query), T0 + 1, 0)
    assert found is not None and (found.lane, found.start) == (lane, T0 + start_ms * MS)


def test_find_visits_matches_across_lanes_in_time_order_both_ways() -> None:
    store = small_store()
    q = parse_query("wait")
    seen = []
    t, lane = T0 - 1, 0
    while (iv := find_next(store, q, t, lane)) is not None:
        seen.append((iv.start, iv.lane))
        t, lane = iv.start, iv.lane
    assert seen == [(T0, 1), (T0 + 11 * MS, 0), (T0 + 40 * MS, 2)]
    back = []
    while (iv := find_next(store, q, t, lane, forward=False)) is not None:
        back.append((iv.start, iv.lane))
        t, lane = iv.start, iv.lane
    assert back == seen[-2::-1]


def test_the_drill_down_explains_a_disk_wait() -> None:
    store = small_store()
    iv = store.interval_at(0, T0 + 20 * MS)
    assert iv is not None
    text = describe(iv, store.lanes[0], store.vms[0], store.start_ns).plain
    assert "wait_disk" in text and "duration 20.000000 ms" in text
    assert "rule 1 inj_virq" in text
    assert "0x23 (35)" in text and "disk vector of this VM" in text
    assert "woken by IO iothread1 (tid 111) in task context at 0.031000s" in text
    preempt = store.interval_at(0, T0 + 61 * MS)
    assert preempt is not None
    assert "preempted by kworker/0:1 (tid 42)" in describe(preempt, store.lanes[0], None, T0).plain


def test_stacked_bars_split_cells_in_proportion() -> None:
    totals = np.zeros(len(LOOKS), np.int64)
    totals[State.GUEST], totals[State.WAIT_DISK], totals[State.PREEMPTED] = 70, 20, 10
    bar = stacked_bar(totals, 10, mono=True)
    assert bar.plain == "███████▒dd"


def test_histogram_counts_durations_per_decade() -> None:
    counts = histogram(np.array([500, 5_000, 5_001, 2_000_000, 3 * 10**9], np.int64))
    assert counts == [1, 2, 0, 0, 1, 0, 0, 1]


# --- round 2: tall lanes, legend width, thread roles, summary filters ----------------------


def test_a_tall_lanes_second_line_is_a_half_block_bar_with_the_cursor() -> None:
    samples = np.array([State.GUEST] * 3 + [NO_DATA] * 2 + [State.WAIT_DISK] * 3, np.uint8)
    strip = lane_foot_strip(samples, 8, cursor_col=6)
    assert strip.text == "▀▀▀  ▀┃▀"
    segments = list(strip)
    assert segments[0].style is not None
    assert segments[0].style.color is not None
    assert segments[0].style.color.name == LOOKS[State.GUEST].colour
    assert segments[0].style.bgcolor is None  # the gap below shows the background


def test_lanes_are_two_lines_only_when_every_row_fits() -> None:
    rows = build_rows(small_store().lanes)  # 2 VM rows + 3 lanes
    assert fits_tall(rows, 8) and not fits_tall(rows, 7)
    assert line_layout(rows, 0, 8, tall=True) == [
        (0, 0),
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
        (3, 0),
        (4, 0),
        (4, 1),
    ]
    assert line_layout(rows, 1, 3, tall=False) == [(1, 0), (2, 0), (3, 0)]
    assert rows[1].detail() == "  CPU 0/KVM"


@pytest.mark.parametrize("mono", [False, True])
def test_the_legend_fits_80_columns_and_spreads_out_when_wide(mono: bool) -> None:
    narrow, wide = legend_text(mono, 80), legend_text(mono, 200)
    assert narrow.cell_len <= 80 < wide.cell_len
    for state, look in LOOKS.items():  # `running` only for traces that have it
        assert (look.short in narrow.plain) is (state is not State.RUNNING)


def test_the_drill_down_names_threads_that_are_vcpus() -> None:
    store = small_store()
    iv = store.interval_at(0, T0 + 20 * MS)
    assert iv is not None
    roles = {111: "main thread of web"}
    text = describe(iv, store.lanes[0], store.vms[0], T0, roles=roles).plain
    assert "IO iothread1 (tid 111, main thread of web) in task context" in text
    assert thread_roles(store)[102] == "vCPU 1 of web"


def test_reason_tabs_highlight_the_chosen_filter_and_causes_are_short() -> None:
    names = [name for name, _ in REASON_FILTERS]
    assert names == ["all reasons", "timer", "task", "disk", "net", "unknown"]
    tabs = reason_tabs(3)
    chosen = [tabs.plain[s.start : s.end] for s in tabs.spans if "reverse" in str(s.style)]
    assert chosen == [" 3 disk "]
    store = small_store()
    iv = store.interval_at(0, T0 + 20 * MS)
    assert iv is not None and cause_text(iv) == "0x23, woken by IO iothread1 (thread)"


def test_the_wait_histogram_drops_bucket_columns_no_reason_uses() -> None:
    rows = [[0, 0, 3, 0, 1, 0, 0, 0], [0, 0, 0, 2, 0, 0, 0, 0]]
    assert bucket_span(rows) == (2, 5)
    assert bucket_span([[0] * 8]) == (0, 1)


def test_wait_durations_per_reason_on_the_hand_made_store() -> None:
    found = wait_durations(small_store(), [0, 1, 2])
    as_ms = {state.label: sorted(int(d) // MS for d in found[state]) for state in found}
    assert as_ms == {
        "wait_timer": [50],
        "wait_task": [],
        "wait_disk": [20],
        "wait_net": [5],
        "wait_unknown": [],
    }


def test_the_cursor_overlay_splits_one_run_and_keeps_the_others() -> None:
    samples = np.repeat(np.array([State.GUEST, State.WAIT_DISK], np.uint8), 20)  # 10+10 cells
    runs = lane_runs(samples, 20)
    assert len(runs.segments) == 2
    for col in (0, 5, 9, 10, 19):
        strip = runs.strip(col)
        assert strip.cell_length == 20 and strip.text.index(CURSOR_GLYPH) == col
        assert len(list(strip)) == 2 + (col % 10 > 0) + (col % 10 < 9)
    assert runs.strip(None).text == " " * 20 and runs.strip(25).text == " " * 20


def test_a_tall_lanes_foot_takes_the_state_with_most_time_over_both_halves() -> None:
    # Two cells: halves (guest 7, disk 3 | guest 0, disk 6) -> disk; then an empty cell.
    time = np.zeros((4, len(LOOKS)), np.int64)
    time[0, State.GUEST], time[0, State.WAIT_DISK] = 7, 3
    time[1, State.WAIT_DISK] = 6
    dominant = np.array([State.GUEST, State.WAIT_DISK, NO_DATA, NO_DATA], np.uint8)
    assert foot_samples(time, dominant).tolist() == [State.WAIT_DISK, NO_DATA]


def test_a_collapsed_vm_shows_the_state_its_vcpus_spent_most_time_in() -> None:
    store = small_store()
    # VM 100 over [0, 100 ms) in 4 columns of 25 ms. Column 0: lane 0 guest 10, hyp 1,
    # disk 14; lane 1 timer 25 -> timer. Column 1: lane 0 disk 6, hyp 1, guest 18; lane 1
    # timer 25 -> timer (25 > 18). Columns 2-3: lane 1 is in the guest -> guest.
    summaries = store.column_summaries([0, 1], T0, T0 + 100 * MS, 4)
    merged = merged_dominant(summaries, 4)
    assert merged.tolist() == [State.WAIT_TIMER, State.WAIT_TIMER, State.GUEST, State.GUEST]
    alone = merged_dominant(summaries[:1], 4)  # lane 0 alone: disk leads column 0 (14 > 10)
    assert alone.tolist() == [State.WAIT_DISK, State.GUEST, State.GUEST, State.GUEST]
    assert merged_dominant([], 3).tolist() == [NO_DATA] * 3


def test_vms_sharing_a_name_are_told_apart_by_pid_in_the_summary() -> None:
    store = small_store()
    assert vm_labels(store) == {100: "web", 200: "db"}
    store.vms[1].name = "web"
    assert vm_labels(store) == {100: "web [100]", 200: "web [200]"}


def test_every_key_in_the_keymap_has_its_action_and_its_help_line() -> None:
    console = Console(width=200, record=True)
    for column in help_columns():
        console.print(column)
    shown = console.export_text()
    for _, keys in KEYMAP:
        for key in keys:
            assert hasattr(MainScreen, "action_" + key.action.split("(")[0]), key
            assert key.help in shown and key.shown in shown


def test_every_state_keeps_its_own_colour_in_a_16_colour_terminal() -> None:
    # TERM=xterm without COLORTERM: Textual downgrades to the 16 ANSI colours.
    ansi = [
        Color.parse(look.colour).downgrade(ColorSystem.STANDARD).number for look in LOOKS.values()
    ]
    assert len(set(ansi)) == len(LOOKS)


# --- round 3: find names, match walking, warnings, narrow chrome ---------------------------


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("hyp", {State.HYPERVISOR}),  # the legend's own short names
        ("preempt", {State.PREEMPTED}),
        ("wait?", {State.WAIT_UNKNOWN}),
        ("pree", {State.PREEMPTED}),  # a prefix naming one state
        ("Hyper", {State.HYPERVISOR}),
        ("unknown", {State.UNKNOWN}),  # the state, not the wait reason
        ("dis", {State.WAIT_DISK}),
    ],
)
def test_find_takes_legend_names_and_unique_prefixes(text: str, states: set[State]) -> None:
    query = parse_query(text)
    assert query.states == frozenset(states) and query.evidence is None


@pytest.mark.parametrize("text", ["ta", "wait_", "kworker"])
def test_short_or_ambiguous_words_are_thread_names(text: str) -> None:
    query = parse_query(text)
    assert query.states is None and query.evidence is not None and "thread" in query.what


def test_matches_count_rank_and_wrap_on_the_hand_made_store() -> None:
    store = small_store()
    waits = Matches(store, parse_query("wait"))
    assert (waits.total, waits.lanes_with) == (3, 3)
    first, last = waits.first(), waits.first(forward=False)
    assert first is not None and (first.lane, first.start) == (1, T0)
    assert last is not None and (last.lane, last.start) == (2, T0 + 40 * MS)
    assert [waits.position(iv) for iv in (first, last)] == [1, 3]
    assert waits.next_after(T0 + 40 * MS, 2) is None  # past the last: the screen wraps
    kworker = Matches(store, parse_query("kworker"))
    assert kworker.total == 1 and kworker.first() is not None
    assert Matches(store, parse_query("no-such-thread")).total == 0


def test_warnings_read_their_loss_windows_from_the_trace_start() -> None:
    sentence = "445 events were lost on CPU 0 (3 packet(s) between 1000047280 and 1000458423 ns)."
    shown = readable(sentence, origin=T0)
    assert "between 0.000047s and 0.000458s" in shown and "ns)" not in shown
    console = Console(width=100, record=True)
    console.print(warnings_text([sentence], T0, lost_events=445))
    text = console.export_text()
    assert "1. 445 events were lost" in text and "/unknown" in text


def test_an_unknown_stretch_says_whether_it_follows_lost_events() -> None:
    store = small_store()
    first = store.interval(0, 0)
    later = store.interval(0, 2)
    unknown_first = Interval(0, 0, first.start, first.end, State.UNKNOWN, -1, None)
    unknown_later = Interval(0, 2, later.start, later.end, State.UNKNOWN, -1, None)
    assert "trace starts before" in meaning(unknown_first, lost_events=10)
    assert "events were lost" in meaning(unknown_later, lost_events=10)
    assert "trace starts before" in meaning(unknown_later, lost_events=0)
    assert "HLT" in meaning(later) and "disk" in meaning(later)


def test_header_and_status_drop_details_not_the_essentials_when_narrow() -> None:
    store = small_store()
    args = (store.meta, store.vms, len(store.lanes), store.start_ns, store.end_ns)
    wide = header_text(*args, warnings=2, from_cache=True).plain
    assert "⚠ 2 warnings: press !" in wide and "(cached)" in wide and "host kvmhost" in wide
    narrow = header_text(*args, warnings=2, from_cache=True, width=50).plain
    assert len(narrow) <= 50 and "⚠ 2 warnings" in narrow and "handmade" in narrow
    view = Viewport.fit(store.start_ns, store.end_ns, cols=60)
    iv = store.interval_at(0, store.start_ns)
    full = status_text(view, store.lanes[0], iv, store.start_ns, find="/disk 1/3").plain
    assert "/disk 1/3" in full and "window" in full
    short = status_text(view, store.lanes[0], iv, store.start_ns, find="/disk 1/3", width=50)
    assert len(short.plain) <= 50 and "guest" in short.plain and "window" not in short.plain


@pytest.mark.parametrize("mono", [False, True])
def test_the_legend_takes_two_balanced_lines_below_its_one_line_width(mono: bool) -> None:
    lines = legend_text(mono, 60, running=True).plain.split("\n")
    assert len(lines) == 2 and all(len(line) <= 60 for line in lines)
    for look in LOOKS.values():
        assert look.short in " ".join(lines)

"""Pilot-driven tests of the app: every key of the main view, asserting what moved
(cursor time, window, lane, selection, the interval shown), on the bundled sample trace."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.cli import main as cli_main
from w2a_tui.model import WAIT_STATES, State
from w2a_tui.sim import generate, get_scenario, with_overrides
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.bookmarks import BookmarksScreen
from w2a_tui.tui.screens.help import HelpScreen
from w2a_tui.tui.screens.loading import LoadingScreen
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.screens.prompt import Prompt
from w2a_tui.tui.screens.summary import SummaryScreen
from w2a_tui.tui.screens.warnings import WarningsScreen
from w2a_tui.tui.view.search import Matches, parse_query
from w2a_tui.tui.widgets.timeline import Timeline

SIZE = (120, 40)


@pytest.fixture(scope="module")
def store(sample_store: StateStore) -> StateStore:
    return sample_store


@asynccontextmanager
async def opened(
    store: StateStore, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[W2AApp, Pilot[int], Timeline]]:
    """The app running on `store`: its pilot and the main screen's timeline."""
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        yield app, pilot, app.screen.query_one(Timeline)


async def press(pilot: Pilot[int], *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()


def busiest_lane(store: StateStore) -> int:
    """A lane with waits (the sample has some): where the lane keys have work to do."""
    return max(range(len(store.lanes)), key=lambda i: store.lanes[i].n_intervals)


async def test_opens_on_the_whole_trace_with_the_first_lane_current(store: StateStore) -> None:
    async with opened(store) as (app, _pilot, tl):
        assert isinstance(app.screen, MainScreen)
        assert (tl.view.t0, tl.view.t1) == (store.start_ns, store.end_ns)
        assert tl.view.cursor == store.start_ns and tl.lane == 0


async def test_zoom_keys_halve_and_double_the_window(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        full = tl.view.span
        for key in ("w", "plus"):
            await press(pilot, key)
        assert tl.view.span == pytest.approx(full / 4, rel=1e-6)
        await press(pilot, "s")
        assert tl.view.span == pytest.approx(full / 2, rel=1e-6)
        await press(pilot, "minus")
        assert tl.view.span == full


async def test_pan_moves_a_quarter_window_and_home_end_move_the_cursor(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        await press(pilot, "w", "w")
        t0, span = tl.view.t0, tl.view.span
        await press(pilot, "d")
        assert tl.view.t0 - t0 == pytest.approx(span / 4, abs=2)
        await press(pilot, "a")
        assert tl.view.t0 == t0
        await press(pilot, "end")
        assert tl.view.cursor == store.end_ns - 1 and tl.view.t1 == store.end_ns
        await press(pilot, "home")
        assert tl.view.cursor == store.start_ns and tl.view.t0 == store.start_ns


async def test_arrows_and_hjkl_move_cursor_by_a_cell_and_lane_by_a_row(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        cell = round(tl.view.ns_per_col)
        start = tl.view.cursor
        await press(pilot, "right", "l")
        assert tl.view.cursor == start + 2 * cell
        await press(pilot, "h")
        assert tl.view.cursor == start + cell
        await press(pilot, "left")
        assert tl.view.cursor == start
        row = tl.row
        await press(pilot, "down", "j")
        assert tl.row == row + 2
        await press(pilot, "k", "up")
        assert tl.row == row


async def test_comma_and_dot_step_through_state_changes(store: StateStore) -> None:
    lane = busiest_lane(store)

    async with opened(store) as (_app, pilot, tl):
        tl.select_lane(lane)
        expected = store.next_transition(lane, tl.view.cursor)
        assert expected is not None
        await press(pilot, "full_stop")
        assert tl.view.cursor == expected.start
        second = store.next_transition(lane, expected.start)
        assert second is not None
        await press(pilot, "full_stop")
        assert tl.view.cursor == second.start
        await press(pilot, "comma")
        assert tl.view.cursor == expected.start


async def test_brackets_jump_between_waits_on_the_lane(store: StateStore) -> None:
    lane = busiest_lane(store)

    async with opened(store) as (_app, pilot, tl):
        tl.select_lane(lane)
        first = store.next_transition(lane, tl.view.cursor, WAIT_STATES)
        assert first is not None, "the sample must have waits"
        await press(pilot, "right_square_bracket")
        assert tl.view.cursor == first.start
        iv = tl.interval_under_cursor()
        assert iv is not None and iv.state in WAIT_STATES
        second = store.next_transition(lane, first.start, WAIT_STATES)
        assert second is not None, "the busiest lane has more than one wait"
        await press(pilot, "right_square_bracket")
        assert tl.view.cursor == second.start
        await press(pilot, "left_square_bracket")
        assert tl.view.cursor == first.start


async def test_go_to_takes_absolute_and_relative_times(store: StateStore) -> None:
    async with opened(store) as (app, pilot, tl):
        await press(pilot, "g")
        assert isinstance(app.screen, Prompt)
        await press(pilot, *"1ms", "enter")
        assert tl.view.cursor == store.start_ns + 1_000_000
        await press(pilot, "g", *"+250us", "enter")
        assert tl.view.cursor == store.start_ns + 1_250_000
        await press(pilot, "g", *"bogus", "enter")  # an error is a notification, not a crash
        assert tl.view.cursor == store.start_ns + 1_250_000 and isinstance(app.screen, MainScreen)


async def test_find_then_n_and_shift_n_walk_matches_in_time_order(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        await press(pilot, "slash", *"wait", "enter")
        first = (tl.lane, tl.view.cursor)
        iv = tl.interval_under_cursor()
        assert iv is not None and iv.state in WAIT_STATES and iv.start == first[1]
        await press(pilot, "n")
        second = (tl.lane, tl.view.cursor)
        assert second[1] >= first[1] and second != first
        iv = tl.interval_under_cursor()
        assert iv is not None and iv.state in WAIT_STATES
        await press(pilot, "N")
        assert (tl.lane, tl.view.cursor) == first


async def test_bookmarks_are_set_with_m_and_visited_with_quote(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        marks = []
        for _ in range(2):
            await press(pilot, "w", "right", "right", "m")
            marks.append(tl.view.cursor)
        await press(pilot, "home", "apostrophe")
        assert tl.view.cursor == marks[0]
        await press(pilot, "apostrophe")
        assert tl.view.cursor == marks[1]
        await press(pilot, "apostrophe")  # wraps around
        assert tl.view.cursor == marks[0]
        assert list(tl.bookmarks) == sorted(marks)


async def test_selection_with_space_v_and_shift_arrows_then_f_zooms_to_it(
    store: StateStore,
) -> None:
    async with opened(store) as (_app, pilot, tl):
        cell = round(tl.view.ns_per_col)
        start = tl.view.cursor
        await press(pilot, "space", *["right"] * 10, "v")
        assert tl.view.selection == (start, start + 10 * cell)
        await press(pilot, "shift+right", "shift+right")
        assert tl.view.selection == (start, start + 12 * cell)
        await press(pilot, "f")
        assert (tl.view.t0, tl.view.t1) == (start, start + 12 * cell)
        assert tl.view.selection is None
        await press(pilot, "f")
        assert (tl.view.t0, tl.view.t1) == (store.start_ns, store.end_ns)
        await press(pilot, "space", "shift+left", "escape")
        assert tl.view.selection is None


async def test_z_zooms_onto_the_interval_under_the_cursor(store: StateStore) -> None:
    lane = busiest_lane(store)

    async with opened(store) as (_app, pilot, tl):
        tl.select_lane(lane)
        await press(pilot, "right_square_bracket")  # a wait, far thinner than a cell here
        here = tl.interval_under_cursor()
        assert here is not None and here.duration < tl.view.ns_per_col * 4
        await press(pilot, "z")
        assert tl.view.t0 <= here.start and here.end <= tl.view.t1
        assert tl.view.span < 2 * here.duration  # the wait fills most of the window
        assert tl.view.cursor == here.start and tl.lane == lane


async def test_tab_collapses_and_expands_a_vm(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        rows = len(tl.rows)
        vm = tl.current_row.vm_pid
        hidden = len(store.lanes_of_vm(vm))
        await press(pilot, "tab")
        assert vm in tl.collapsed and len(tl.rows) == rows - hidden
        assert tl.current_row.is_vm and tl.current_row.vm_pid == vm
        await press(pilot, "tab")
        assert vm not in tl.collapsed and len(tl.rows) == rows


async def test_enter_opens_the_drill_down_and_angle_brackets_walk_the_same_state(
    store: StateStore,
) -> None:
    lane = busiest_lane(store)

    async with opened(store) as (app, pilot, tl):
        tl.select_lane(lane)
        await press(pilot, "right_square_bracket", "enter")
        assert app.screen.has_class("-details")
        here = tl.interval_under_cursor()
        assert here is not None
        details = str(app.screen.query_one("#details").render())
        assert here.state.label in details and "duration" in details
        nxt = store.next_transition(lane, here.start, {here.state})
        if nxt is not None:
            await press(pilot, "greater_than_sign")
            assert tl.view.cursor == nxt.start
            await press(pilot, "less_than_sign")
            assert tl.view.cursor == here.start
        await press(pilot, "escape")
        assert not app.screen.has_class("-details")


async def test_summary_enter_jumps_to_the_longest_wait_with_details_open(store: StateStore) -> None:
    longest = store.longest(WAIT_STATES, k=1)[0]

    async with opened(store) as (app, pilot, tl):
        await press(pilot, "t")
        assert isinstance(app.screen, SummaryScreen)
        await press(pilot, "enter")
        assert isinstance(app.screen, MainScreen) and app.screen.has_class("-details")
        assert tl.lane == longest.lane and tl.view.cursor == longest.start
        assert tl.view.t0 <= longest.start and longest.end <= tl.view.t1


async def test_summary_scopes_cycle_over_vms(store: StateStore) -> None:
    async with opened(store) as (app, pilot, _tl):
        await press(pilot, "t")
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert len(screen.scopes) == 1 + len(store.vms)
        await press(pilot, "right")
        _, lanes = screen.scopes[screen.scope]
        assert all(store.lanes[iv.lane].vm_pid == store.vms[0].pid for iv in screen.longest)
        assert lanes == store.lanes_of_vm(store.vms[0].pid)
        await press(pilot, "escape")
        assert isinstance(app.screen, MainScreen)


async def test_longest_disk_wait_of_a_vm_is_four_keys_away(store: StateStore) -> None:
    """t (summary), → (first VM), 3 (disk), Enter: the timeline shows that wait, explained."""
    vm = store.vms[0]
    disk = {State.WAIT_DISK}
    expected = store.longest(disk, k=1, lanes=store.lanes_of_vm(vm.pid))
    assert expected, "the sample's first VM must have disk waits"

    async with opened(store) as (app, pilot, tl):
        await press(pilot, "t", "right", "3")
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert screen.longest and all(iv.state is State.WAIT_DISK for iv in screen.longest)
        assert all(store.lanes[iv.lane].vm_pid == vm.pid for iv in screen.longest)
        await press(pilot, "r")  # cycles on to the next reason
        assert all(iv.state is State.WAIT_NET for iv in screen.longest)
        await press(pilot, "0")  # back to every reason
        every = store.longest(WAIT_STATES, k=20, lanes=store.lanes_of_vm(vm.pid))
        assert [(iv.lane, iv.start) for iv in screen.longest] == [(w.lane, w.start) for w in every]
        await press(pilot, "3", "enter")
        assert isinstance(app.screen, MainScreen) and app.screen.has_class("-details")
        here = tl.interval_under_cursor()
        assert here is not None and (here.lane, here.start) == (expected[0].lane, expected[0].start)
        details = str(app.screen.query_one("#details").render())
        assert "wait_disk" in details and "reason disk" in details


async def test_help_lists_every_key_and_closes(store: StateStore) -> None:
    async with opened(store) as (app, pilot, _tl):
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, MainScreen)


async def test_mouse_click_drag_and_wheel(store: StateStore) -> None:
    async with opened(store) as (_app, pilot, tl):
        x = tl.label_width + 30
        await pilot.click(Timeline, offset=(x, 3))
        assert tl.view.cursor == tl.view.time_of(30) and tl.row == 1
        await pilot.mouse_down(Timeline, offset=(x, 3))
        await pilot.hover(Timeline, offset=(x + 10, 3))
        await pilot.mouse_up(Timeline, offset=(x + 10, 3))
        await pilot.pause()
        sel = tl.view.selection
        assert sel is not None and sel[1] - sel[0] > 0
        span = tl.view.span
        # Pilot has no wheel: post the event the terminal driver would.
        wheel = events.MouseScrollUp(tl, x, 3, 0, -1, 0, False, False, False)
        tl.post_message(wheel)
        await pilot.pause()
        assert tl.view.span == pytest.approx(span / 2, rel=1e-6)
        tl.post_message(events.MouseScrollDown(tl, x, 3, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert tl.view.span == span


async def test_a_small_terminal_gets_a_clear_message_and_recovers(store: StateStore) -> None:
    async with opened(store) as (app, pilot, tl):
        await pilot.resize_terminal(50, 12)
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        assert "need at least 60x15" in str(app.screen.query_one("#too-small").render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.screen.has_class("-too-small")
        assert tl.view.cols == 80 - tl.label_width


async def test_q_quits_with_status_zero(store: StateStore) -> None:
    app = W2AApp(store=store)

    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()

    assert app.return_code == 0


async def _wait_for_verdict(app: W2AApp, pilot: Pilot[int]) -> LoadingScreen:
    """The loading screen once the worker has failed (the reader takes about a second;
    the screen comes after `W2AApp.LOADING_AFTER_S`, or with the error if sooner)."""
    for _ in range(600):
        if isinstance(app.screen, LoadingScreen):
            break
        await pilot.pause(0.05)
    screen = app.screen
    assert isinstance(screen, LoadingScreen)
    for _ in range(600):
        if screen.has_class("-failed"):
            break
        await pilot.pause(0.05)
    assert screen.has_class("-failed")
    return screen


async def _load_and_quit(path: Path, expect: str) -> int:
    """Open `path` in the app, check the one-sentence error it shows, quit with q."""
    app = W2AApp(str(path))

    async with app.run_test(size=SIZE) as pilot:
        screen = await _wait_for_verdict(app, pilot)
        shown = str(screen.query_one("#loading-error").render())
        assert expect in shown and shown.startswith("w2a-tui: ") and shown.endswith(".")
        assert "Traceback" not in shown
        await pilot.press("q")
        await pilot.pause()

    # `view` prints this again on stderr once the app has closed (the screen is gone).
    assert expect in app.error_message
    return int(app.return_code or 0)


async def test_loading_a_trace_without_kvm_shows_the_error_and_q_exits_3() -> None:
    from tests.support.paths import REAL_TRACES

    trace = REAL_TRACES / "tracevizlab-wget-k-115406"
    assert await _load_and_quit(trace, "No KVM vCPU activity") == 3


async def test_a_corrupt_trace_shows_the_error_in_the_app_and_q_exits_2(tmp_path: Path) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    metadata = trace / "metadata"
    metadata.write_text(metadata.read_text().replace("event {", "evXnt {", 1))
    assert await _load_and_quit(trace, "not a readable CTF trace") == 2


def _a_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("not a trace\n")
    return tmp / "notes.txt"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp, "is empty"),
        (_a_file, "is a file"),
    ],
)
def test_bad_paths_fail_before_the_ui_with_one_sentence_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    words: str,
) -> None:
    assert cli_main([str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("w2a-tui: ") and words in err


async def test_vectors_option_reanalyses_the_trace_with_that_table(
    tmp_path: Path, store: StateStore
) -> None:
    """`view --vectors FILE`: the sample's guests use the timer vector 0xEC, so under a
    table that calls 0xEC an IPI no wait may be a timer wait (the table comes before what
    the VM learned); the cache (which holds default-table results) is neither read nor
    written."""
    from w2a_tui.analysis.vectors import resolve_vector_table

    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    table = tmp_path / "vectors.json"
    table.write_text('{"base": "linux-old", "0xec": "task"}')
    app = W2AApp(str(trace), vector_table=resolve_vector_table(str(table)))
    loaded: list[StateStore] = []

    async with app.run_test(size=SIZE) as pilot:
        for _ in range(600):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, MainScreen)
        loaded.append(app.screen.store)
        await pilot.press("q")

    def timer_ns(s: StateStore) -> int:
        return sum(int(s.totals(lane.index)[State.WAIT_TIMER]) for lane in s.lanes)

    assert timer_ns(store) > 0
    assert timer_ns(loaded[0]) == 0
    assert not list(tmp_path.glob("*.w2a-cache"))


# --- round 3: find feedback, bookmarks list, warnings, terminals ---------------------------


def _status(app: W2AApp) -> str:
    return str(app.screen.query_one("#status", Static).render())


async def test_find_shows_the_match_rank_wraps_around_and_says_when_nothing_matches(
    store: StateStore,
) -> None:
    matches = Matches(store, parse_query("disk"))
    last = matches.first(forward=False)
    assert matches.total > 1 and last is not None

    async with opened(store) as (app, pilot, tl):
        await press(pilot, "slash", *"disk", "enter")
        assert f"/disk 1/{matches.total:,}" in _status(app)
        await press(pilot, "N")  # before the first match: wraps to the last one
        assert (tl.lane, tl.view.cursor) == (last.lane, last.start)
        assert f"/disk {matches.total:,}/{matches.total:,}" in _status(app)
        await press(pilot, "n")  # and on past the last, back to the first
        assert f"/disk 1/{matches.total:,}" in _status(app)
        at = tl.view.cursor
        await press(pilot, "slash", "ctrl+u", *"no-such-thread", "enter")
        assert tl.view.cursor == at and "/no-such" not in _status(app)
        assert any("nothing in this trace matches" in n.message for n in app._notifications)


async def test_bookmarks_are_listed_jumped_to_and_deleted(store: StateStore) -> None:
    async with opened(store) as (app, pilot, tl):
        await press(pilot, "w", "m", *["right"] * 5, "down", "m")
        first, second = list(tl.bookmarks)
        await press(pilot, "b")
        screen = app.screen
        assert isinstance(screen, BookmarksScreen) and len(screen.marks) == 2
        await press(pilot, "enter")  # the first (highlighted) bookmark, on its own lane
        assert isinstance(app.screen, MainScreen)
        assert (tl.view.cursor, tl.lane) == (first, 0)
        await press(pilot, "b", "d", "escape")
        assert list(tl.bookmarks) == [second]
        await press(pilot, "apostrophe", "m")  # m on a bookmark removes it
        assert not tl.bookmarks


def test_the_linux_console_gets_glyphs(monkeypatch: pytest.MonkeyPatch, store: StateStore) -> None:
    monkeypatch.setenv("TERM", "linux")
    assert W2AApp(store=store).mono


async def test_help_is_one_column_on_a_narrow_terminal(store: StateStore) -> None:
    async with opened(store, (80, 24)) as (app, pilot, _tl):
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen) and app.screen.has_class("-narrow")


async def test_lost_events_are_flagged_in_the_header_listed_by_bang_and_explained(
    tmp_path: Path,
) -> None:
    """A small generated trace with lost events: the header shows the marker, ! lists the
    warnings with times from the trace start, and an unknown stretch in the middle of a
    lane says it comes from the loss."""
    trace = tmp_path / "lost"
    generate(trace, with_overrides(get_scenario("lost"), seconds=0.1, seed=3))
    app = W2AApp(str(trace))

    async with app.run_test(size=SIZE) as pilot:
        for _ in range(600):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        store = screen.store
        assert store.meta.lost_events > 0 and store.warnings
        header = str(screen.query_one("#header", Static).render())
        assert f"⚠ {len(store.warnings)} warning" in header
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert isinstance(app.screen, WarningsScreen)
        console = Console(width=100, record=True)
        console.print(app.screen.body)
        shown = console.export_text()
        assert "events were lost" in shown and "/unknown" in shown
        assert str(store.start_ns) not in shown  # no raw clock ns
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("slash", *"unknown", "enter")
        tl = screen.query_one(Timeline)
        while (iv := tl.interval_under_cursor()) is not None and iv.index == 0:
            await pilot.press("n")
        await pilot.press("enter")
        await pilot.pause()
        details = str(screen.query_one("#details", Static).render())
        assert "events were lost" in details


async def test_the_summary_reopens_where_it_was_left(store: StateStore) -> None:
    async with opened(store) as (app, pilot, _tl):
        await press(pilot, "t", "right", "3", "escape")
        assert isinstance(app.screen, MainScreen)
        await press(pilot, "t")
        screen = app.screen
        assert isinstance(screen, SummaryScreen) and (screen.scope, screen.reason) == (1, 3)

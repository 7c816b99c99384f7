"""The main view: header, timeline, drill-down panel, legend, status bar, footer."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Static

from w2a_tui.analysis.capabilities import header_note
from w2a_tui.errors import W2AError
from w2a_tui.model import WAIT_STATES, State
from w2a_tui.store import Interval, StateStore
from w2a_tui.tui.bookmarks import BookmarksScreen
from w2a_tui.tui.chrome import header_text, legend_text, status_text
from w2a_tui.tui.details import describe, thread_roles
from w2a_tui.tui.help import HelpScreen
from w2a_tui.tui.keys import bindings
from w2a_tui.tui.prompt import Prompt
from w2a_tui.tui.search import Matches, parse_query
from w2a_tui.tui.summary import SummaryScreen
from w2a_tui.tui.timefmt import parse_time
from w2a_tui.tui.timeline import Timeline
from w2a_tui.tui.warnings import WarningsScreen

SUMMARY_SCREEN = "summary"
MIN_WIDTH = 60
MIN_HEIGHT = 15


class MainScreen(Screen[None]):
    DEFAULT_CSS = """
    MainScreen #header { height: 1; background: $panel; }
    MainScreen #details { height: auto; max-height: 10; display: none;
        border-top: solid $accent; padding: 0 1; }
    MainScreen.-details #details { display: block; }
    MainScreen #legend { height: auto; color: $text-muted; }
    MainScreen #status { height: 1; background: $panel; }
    MainScreen #too-small { display: none; width: 100%; height: 100%;
        content-align: center middle; text-style: bold; }
    MainScreen.-too-small #too-small { display: block; }
    MainScreen.-too-small #body { display: none; }
    Timeline { background: $background; }
    Timeline > .timeline--label { color: $text; }
    Timeline > .timeline--label-current { background: $accent; color: $text; text-style: bold; }
    Timeline > .timeline--vm { background: $boost; text-style: bold; }
    Timeline > .timeline--vm-current { background: $accent; text-style: bold; }
    Timeline > .timeline--ruler { color: $text-muted; }
    Timeline > .timeline--mark { color: $warning; text-style: bold; }
    """

    BINDINGS = bindings()

    def __init__(self, store: StateStore, *, mono: bool = False, from_cache: bool = False) -> None:
        super().__init__()
        self.store = store
        self.mono = mono
        self.from_cache = from_cache
        self.roles = thread_roles(store)
        self.running = any(store.totals(i)[State.RUNNING] for i in range(len(store.lanes)))
        self.matches: Matches | None = None  # the last `/` query's matches
        # (lane, time, 1-based rank) of the match `n`/`N` last went to.
        self.match_at: tuple[int, int, int] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static(self._header(), id="header")
            yield Timeline(self.store, mono=self.mono, id="timeline")
            yield Static("", id="details")
            yield Static(legend_text(self.mono, running=self.running), id="legend")
            yield Static("", id="status")
            yield Footer()
        yield Static(f"terminal too small: need at least {MIN_WIDTH}x{MIN_HEIGHT}", id="too-small")

    def _header(self, width: int = 200) -> Text:
        store = self.store
        return header_text(
            store.meta,
            store.vms,
            len(store.lanes),
            store.start_ns,
            store.end_ns,
            from_cache=self.from_cache,
            warnings=len(store.warnings),
            note=header_note(store.warnings),
            width=width,
        )

    def on_mount(self) -> None:
        self.timeline.focus()
        n = len(self.store.warnings)
        if n:
            # One short toast, not one per warning: the header keeps a ⚠ marker and `!`
            # lists them all, so nothing covers the lanes for long.
            lost = self.store.meta.lost_events
            what = f"{lost:,} events were lost: grey `unknown` stretches. " if lost else ""
            plural = "s" if n != 1 else ""
            self.notify(f"{what}Press ! to read the {n} warning{plural}.", severity="warning")

    @property
    def timeline(self) -> Timeline:
        return self.query_one(Timeline)

    def on_resize(self, event: Resize) -> None:
        small = event.size.width < MIN_WIDTH or event.size.height < MIN_HEIGHT
        self.set_class(small, "-too-small")
        legend = legend_text(self.mono, event.size.width, running=self.running)
        self.query_one("#legend", Static).update(legend)
        self.query_one("#header", Static).update(self._header(event.size.width))
        self.refresh_status()

    @on(Timeline.Changed)
    def refresh_status(self) -> None:
        tl = self.timeline
        iv = tl.interval_under_cursor()
        lane = self.store.lanes[tl.lane] if self.store.lanes else None
        self.query_one("#status", Static).update(
            status_text(
                tl.view,
                lane,
                iv,
                self.store.start_ns,
                find=self._find_status(),
                width=self.size.width,
            )
        )
        if self.has_class("-details"):
            self._show_details(iv)

    def _show_details(self, iv: Interval | None) -> None:
        panel = self.query_one("#details", Static)
        if iv is None:
            panel.update("no interval under the cursor on this lane")
            return
        lane = self.store.lanes[iv.lane]
        vm = next((v for v in self.store.vms if v.pid == lane.vm_pid), None)
        panel.update(
            describe(
                iv,
                lane,
                vm,
                self.store.start_ns,
                self.mono,
                self.roles,
                lost_events=self.store.meta.lost_events,
            )
        )

    # --- actions --------------------------------------------------------------------------
    def action_zoom_in(self) -> None:
        self.timeline.zoom_in()

    def action_zoom_out(self) -> None:
        self.timeline.zoom_out()

    def action_pan(self, direction: int) -> None:
        self.timeline.pan(direction)

    def action_fit(self) -> None:
        self.timeline.fit()

    def action_zoom_interval(self) -> None:
        """After a jump (`n`, `]`, find) at a wide zoom the interval is often thinner than a
        cell: one key shows it whole, cursor at its start."""
        iv = self.timeline.interval_under_cursor()
        if iv is None:
            self.notify("no interval under the cursor on this lane", timeout=2)
            return
        self.timeline.show_interval(iv)

    def action_edge(self, direction: int) -> None:
        tl = self.timeline
        tl.goto(self.store.start_ns if direction < 0 else self.store.end_ns - 1)

    def action_step(self, cells: int) -> None:
        self.timeline.step_cursor(cells)

    def action_extend(self, cells: int) -> None:
        self.timeline.step_cursor(cells, extend=True)

    def action_row(self, delta: int) -> None:
        self.timeline.move_row(delta)

    def _jump(self, iv: Interval | None, what: str) -> None:
        if iv is None:
            self.notify(f"no {what}", timeout=2)
            return
        self.timeline.goto(iv.start)

    def action_transition(self, direction: int) -> None:
        tl = self.timeline
        if direction > 0:
            iv = self.store.next_transition(tl.lane, tl.view.cursor)
        else:
            iv = self.store.prev_transition(tl.lane, tl.view.cursor)
        self._jump(iv, "state change " + ("after" if direction > 0 else "before") + " the cursor")

    def action_wait(self, direction: int) -> None:
        tl = self.timeline
        states = set(WAIT_STATES)
        if direction > 0:
            iv = self.store.next_transition(tl.lane, tl.view.cursor, states)
        else:
            iv = self.store.prev_transition(tl.lane, tl.view.cursor, states)
        self._jump(iv, "wait " + ("after" if direction > 0 else "before") + " the cursor")

    def action_same_state(self, direction: int) -> None:
        tl = self.timeline
        here = tl.interval_under_cursor()
        if here is None:
            self.notify("no interval under the cursor", timeout=2)
            return
        states = {here.state}
        if direction > 0:
            iv = self.store.next_transition(tl.lane, tl.view.cursor, states)
        else:
            iv = self.store.prev_transition(tl.lane, here.start, states)
        self._jump(iv, f"other {here.state.label} on this lane")
        if iv is not None:
            tl.view.ensure_visible(iv.end - 1 if iv.end - iv.start < tl.view.span else iv.start)
            tl.changed()

    def action_toggle_vm(self) -> None:
        self.timeline.toggle_vm()

    def action_select(self) -> None:
        self.timeline.toggle_selection()

    def action_clear(self) -> None:
        if self.has_class("-details"):
            self.remove_class("-details")
        else:
            self.timeline.clear_selection()

    def action_bookmark(self) -> None:
        tl = self.timeline
        if tl.toggle_bookmark():
            number = tl.bookmarks.index(tl.view.cursor) + 1
            self.notify(f"bookmark {number} of {len(tl.bookmarks)} set (b lists them)", timeout=2)
        else:
            self.notify("bookmark removed", timeout=2)

    def action_bookmarks(self) -> None:
        tl = self.timeline

        def done(mark: tuple[int, int] | None) -> None:
            if mark is not None:
                tl.select_lane(mark[1])
                tl.goto(mark[0])

        self.app.push_screen(BookmarksScreen(self.store, tl.marks(), tl.remove_bookmark), done)

    def action_warnings(self) -> None:
        store = self.store
        if not store.warnings:
            self.notify("the analysis has no warning for this trace", timeout=2)
            return
        self.app.push_screen(WarningsScreen(store.warnings, store.start_ns, store.meta.lost_events))

    def action_jump_bookmark(self) -> None:
        if self.timeline.next_bookmark() is None:
            self.notify("no bookmark yet: press m to set one", timeout=2)

    def action_details(self) -> None:
        self.toggle_class("-details")
        self.refresh_status()

    def open_details(self) -> None:
        self.add_class("-details")
        self.refresh_status()

    def action_goto(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            tl = self.timeline
            try:
                t = parse_time(text, origin=self.store.start_ns, cursor=tl.view.cursor)
            except W2AError as err:
                self.notify(err.message, severity="error")
                return
            if not self.store.start_ns <= t < self.store.end_ns:
                self.notify("that time is outside the trace: cursor put at the nearest end")
            tl.goto(t)

        self.app.push_screen(Prompt("Go to", "1.5s · 1500ms · +200us · -1ms · raw ns"), done)

    def action_find(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                query = parse_query(text)
            except W2AError as err:
                self.notify(err.message, severity="error")
                return
            matches = Matches(self.store, query)
            if not matches.total:
                self.matches = self.match_at = None
                self.notify(
                    f"nothing in this trace matches {query.text!r} ({query.what})",
                    severity="warning",
                )
                self.refresh_status()
                return
            self.matches = matches
            lanes = f"{matches.lanes_with} vCPU{'s' if matches.lanes_with != 1 else ''}"
            self.notify(f"{query.what}: {matches.total:,} matches on {lanes}", timeout=3)
            self.action_find_next(1)

        hint = "wait_disk · disk · preempt · hyp · 0xec · 236 · waker · a thread name"
        value = self.matches.query.text if self.matches else ""
        self.app.push_screen(Prompt("Find", hint, value), done)

    def action_find_next(self, direction: int) -> None:
        matches = self.matches
        if matches is None:
            self.notify("nothing to repeat: press / to find", timeout=2)
            return
        tl = self.timeline
        forward = direction > 0
        iv = matches.next_after(tl.view.cursor, tl.lane, forward=forward)
        if iv is None:
            iv = matches.first(forward=forward)
            where = "start" if forward else "end"
            self.notify(f"search wrapped around to the trace {where}", timeout=2)
        if iv is None:  # cannot happen with matches.total > 0; kept for safety
            return
        tl.select_lane(iv.lane)
        tl.goto(iv.start)
        self.match_at = (iv.lane, iv.start, matches.position(iv))
        self.refresh_status()

    def _find_status(self) -> str:
        """`/disk 3/120` while the cursor is on the match `n` went to, `/disk -/120` once
        it moved away (`n` then goes on from the cursor)."""
        matches = self.matches
        if matches is None:
            return ""
        tl = self.timeline
        rank = "-"
        if self.match_at is not None and self.match_at[:2] == (tl.lane, tl.view.cursor):
            rank = f"{self.match_at[2]:,}"
        return f"/{matches.query.text} {rank}/{matches.total:,}"

    def action_summary(self) -> None:
        def done(iv: Interval | None) -> None:
            if iv is not None:
                self.timeline.show_interval(iv)
                self.open_details()

        # Built once and kept installed: reopening is instant (~0.2 s of layout saved) and
        # comes back on the VM and reason the user left it at.
        if not self.app.is_screen_installed(SUMMARY_SCREEN):
            self.app.install_screen(SummaryScreen(self.store, mono=self.mono), SUMMARY_SCREEN)
        self.app.push_screen(SUMMARY_SCREEN, done)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.mono))

    def action_quit(self) -> None:
        self.app.exit(0, return_code=0)

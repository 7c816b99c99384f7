"""The main view: header, timeline, drill-down panel, legend, status bar, footer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Static

from w2a_tui.analysis.capabilities import header_note
from w2a_tui.analysis.pcpu import Occupancy
from w2a_tui.errors import W2AError
from w2a_tui.model import WAIT_STATES, State
from w2a_tui.printable import printable
from w2a_tui.store import Interval, StateStore
from w2a_tui.store.bookmarks import load_bookmarks, save_bookmarks
from w2a_tui.store.pcpu import cpu_running
from w2a_tui.tui.keys import bindings
from w2a_tui.tui.screens.bookmarks import BookmarksScreen
from w2a_tui.tui.screens.help import HelpScreen
from w2a_tui.tui.screens.prompt import Prompt
from w2a_tui.tui.screens.warnings import WarningsScreen
from w2a_tui.tui.view.chrome import header_text, legend_text, status_text
from w2a_tui.tui.view.details import describe, thread_roles
from w2a_tui.tui.view.names import vm_labels
from w2a_tui.tui.view.pcpu import describe_pcpu, occupancy, occupant_text, pcpu_legend
from w2a_tui.tui.view.search import Matches, Query, parse_query
from w2a_tui.tui.view.timefmt import WALL_CLOCK_FROM, format_time, parse_time, wall_clock
from w2a_tui.tui.widgets.timeline import Timeline

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
    """

    BINDINGS = bindings()

    def __init__(
        self,
        store: StateStore,
        *,
        mono: bool = False,
        from_cache: bool = False,
        trace_path: str | None = None,
    ) -> None:
        super().__init__()
        # Bookmarks are kept beside the cache of `trace_path` (None: not kept).
        self.trace_path = trace_path
        self.store = store
        self.mono = mono
        self.from_cache = from_cache
        self.roles = thread_roles(store)
        self.running = any(store.totals(i)[State.RUNNING] for i in range(len(store.lanes)))
        self.matches: Matches | None = None  # the last `/` query's matches
        # (lane, time, 1-based rank) of the match `n`/`N` last went to.
        self.match_at: tuple[int, int, int] | None = None
        self.vm_label = vm_labels(store)
        self._legend_pcpu = False
        self._lane_filter = ""
        self.wall = False  # `c`: the status line's cursor in wall-clock time
        self._saved_marks: list[tuple[int, int]] = []

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
            lane_filter=self._lane_filter,
        )

    def on_mount(self) -> None:
        self.timeline.focus()
        if self.store.pcpu_pending:  # from a cache: read them once the lanes are shown
            self.call_after_refresh(self._read_pcpu)
        if self.trace_path is not None:
            tl = self.timeline
            for t, lane in load_bookmarks(self.trace_path):
                if self.store.start_ns <= t < self.store.end_ns and 0 <= lane < len(
                    self.store.lanes
                ):
                    tl.bookmarks.add(t)
                    tl.bookmark_lanes[t] = lane
            self._saved_marks = tl.marks()
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
        self._update_legend(event.size.width)
        self.query_one("#header", Static).update(self._header(event.size.width))
        self.refresh_status()

    @on(Timeline.Changed)
    def refresh_status(self) -> None:
        tl = self.timeline
        state = tl.state
        if state is None:  # not mounted yet
            return
        if self.trace_path is not None and tl.marks() != self._saved_marks:
            self._saved_marks = tl.marks()
            save_bookmarks(self.trace_path, self._saved_marks)
        iv = tl.interval_under_cursor()
        lanes = tl.store.lanes
        lane = lanes[state.lane] if lanes else None
        lane_text = state_text = None
        if lane is not None and state.pcpu:
            lane_text = f"pCPU {lane.vcpu}"
            state_text = occupant_text(iv, self.vm_label) if iv is not None else None
        elif lane is not None:
            lane_text = f"{self.vm_label.get(lane.vm_pid, lane.vm_name)} vCPU {lane.vcpu}"
        self.query_one("#status", Static).update(
            status_text(
                state,
                lane,
                iv,
                self.store.start_ns,
                find=self._find_status(),
                width=self.size.width,
                lane_text=lane_text,
                state_text=state_text,
                wall=self.wall,
            )
        )
        if state.lane_filter != self._lane_filter:
            self._lane_filter = state.lane_filter
            self.query_one("#header", Static).update(self._header(self.size.width))
        if state.pcpu != self._legend_pcpu:
            self._legend_pcpu = state.pcpu
            self._update_legend(self.size.width)
        if self.has_class("-details"):
            self._show_details(iv)

    def _update_legend(self, width: int) -> None:
        legend = self.query_one("#legend", Static)
        if self._legend_pcpu:
            legend.update(pcpu_legend(self.store.vms, self.vm_label, self.mono))
        else:
            legend.update(legend_text(self.mono, width, running=self.running))

    def _show_details(self, iv: Interval | None) -> None:
        panel = self.query_one("#details", Static)
        if iv is None:
            panel.update("no interval under the cursor on this lane")
            return
        tl = self.timeline
        if tl.pcpu:
            cpu = tl.store.lanes[iv.lane].vcpu
            origin = self.store.start_ns
            panel.update(describe_pcpu(iv, cpu, self.vm_label, origin, self.mono))
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
                pcpu=self._pcpu_of(iv, lane.tid),
            )
        )

    def _pcpu_of(self, iv: Interval, tid: int) -> int | None:
        """The host CPU a guest, hypervisor or preempted interval was on."""
        pcpu = self.store.pcpu
        if pcpu is None:
            return None
        if iv.state in (State.GUEST, State.HYPERVISOR):
            return cpu_running(pcpu, tid, iv.start)
        if iv.state is State.PREEMPTED and iv.evidence is not None:
            return cpu_running(pcpu, iv.evidence.next_tid, iv.start)
        return None

    def action_only_vm(self) -> None:
        """`o`: only the current VM's lanes (again: all lanes)."""
        tl = self.timeline
        if tl.lane_filter is not None and tl.lane_filter[0].startswith("VM "):
            tl.clear_lane_filter()
            return
        if tl.pcpu:
            self.notify("o keeps one VM's vCPUs: press p for the vCPU lanes first", timeout=3)
            return
        vm = self.store.lanes[tl.lane].vm_pid
        label = self.vm_label.get(vm, str(vm))
        tl.set_lane_filter(f"VM {label}", frozenset(self.store.lanes_of_vm(vm)))

    def action_hide_idle(self) -> None:
        """`i`: hide the lanes with no activity (guest, hypervisor, preempted or ready time)
        in the window shown now."""
        tl = self.timeline
        t0, t1 = tl.window
        busy = (State.GUEST, State.HYPERVISOR, State.PREEMPTED, State.READY)
        store = tl.store
        active = frozenset(
            lane.index
            for lane in store.lanes
            if sum(int(store.totals(lane.index, t0, t1)[s]) for s in busy) > 0
        )
        if not active:
            self.notify("no lane is active in this window", timeout=3)
            return
        tl.set_lane_filter(f"{len(active)} lanes active in the window", active)

    def action_only_matches(self) -> None:
        """`u`: only the lanes with matches of the last search."""
        matches = self.matches
        if matches is None:
            self.notify("no search yet: press / to find", timeout=2)
            return
        self._vcpu_view()
        lanes = frozenset(i for i, hits in enumerate(matches.indexes) if len(hits))
        self.timeline.set_lane_filter(f"lanes matching /{matches.query.text}", lanes)

    def action_clear_filter(self) -> None:
        if self.timeline.lane_filter is None:
            self.notify("no filter on", timeout=2)
            return
        self.timeline.clear_lane_filter()

    def action_clock(self) -> None:
        if self.store.start_ns < WALL_CLOCK_FROM:
            self.notify("this trace's clock is not wall-clock time", timeout=2)
            return
        self.wall = not self.wall
        self.refresh_status()

    def action_copy_time(self) -> None:
        """`y`: the cursor's time to the clipboard, by OSC 52 (works over SSH when the
        terminal allows it), as the status line shows it but to the nanosecond."""
        t = self.timeline.cursor
        if self.wall and t >= WALL_CLOCK_FROM:
            text = wall_clock(t)
        else:
            text = format_time(t, self.store.start_ns, 1)
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {text} (raw {t} ns) to the clipboard by OSC 52", timeout=3)

    def _view_of(self, matches: Matches) -> None:
        """The view whose lanes `matches` are on: vCPU lanes, or pCPU lanes (`F`)."""
        tl = self.timeline
        if (matches.store is self.store) == tl.pcpu:
            tl.toggle_pcpu()

    def action_follow(self) -> None:
        """`F`: on a preempted vCPU, to the host CPU where the preempting thread ran; on a
        pCPU lane's thread, every place that thread ran (listed; n/N step through)."""
        tl = self.timeline
        iv = tl.interval_under_cursor()
        pcpu = self.store.pcpu
        if iv is None or pcpu is None or iv.evidence is None:
            self.notify("nothing to follow here (F: on a preempted interval or a pCPU)", timeout=3)
            return
        if not tl.pcpu:
            if iv.state is not State.PREEMPTED:
                self.notify(
                    "F follows the thread that preempted a vCPU: go to a preempted "
                    "interval (/preempt)",
                    timeout=3,
                )
                return
            tid = iv.evidence.next_tid
            cpu = cpu_running(pcpu, tid, iv.start)
            if cpu is None:
                self.notify(f"thread {tid} is on no host CPU lane at that time", timeout=3)
                return
            t = iv.start
            tl.toggle_pcpu()
            tl.select_lane(next(x.index for x in pcpu.lanes if x.vcpu == cpu))
            tl.goto(t)
            return
        tid, comm = iv.evidence.next_tid, iv.evidence.next_comm
        if occupancy(iv) not in (
            Occupancy.THREAD,
            Occupancy.GUEST,
            Occupancy.HYPERVISOR,
            Occupancy.RUNNING,
        ):
            self.notify("F lists where a thread ran: this is not a thread", timeout=3)
            return
        query = Query(
            f"{comm} {tid}",
            evidence=lambda t: np.asarray(t.columns()["next_tid"] == tid),
            what=f"where {comm} ({tid}) ran",
        )
        self.matches = Matches(pcpu, query)
        self.timeline.set_highlight(pcpu, self.matches.starts)
        self.match_at = None
        self.action_results()

    def _vcpu_view(self) -> None:
        """Back to the vCPU lanes before a jump to a vCPU interval (find, summary, marks)."""
        if self.timeline.pcpu:
            self.timeline.toggle_pcpu()

    def action_pcpu(self) -> None:
        tl = self.timeline
        if not tl.toggle_pcpu():
            if self.store.pcpu_damaged:
                why = "their cache was damaged (removed if ours): reopen the trace to rebuild them"
            else:
                why = "reopen the trace with --no-cache to build them"
            self.notify(f"no host CPU lanes: {why}", timeout=3)

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
            iv = tl.store.next_transition(tl.lane, tl.cursor)
        else:
            iv = tl.store.prev_transition(tl.lane, tl.cursor)
        self._jump(iv, "state change " + ("after" if direction > 0 else "before") + " the cursor")

    def action_wait(self, direction: int) -> None:
        tl = self.timeline
        states = set(WAIT_STATES)
        if direction > 0:
            iv = tl.store.next_transition(tl.lane, tl.cursor, states)
        else:
            iv = tl.store.prev_transition(tl.lane, tl.cursor, states)
        self._jump(iv, "wait " + ("after" if direction > 0 else "before") + " the cursor")

    def action_same_state(self, direction: int) -> None:
        tl = self.timeline
        here = tl.interval_under_cursor()
        if here is None:
            self.notify("no interval under the cursor", timeout=2)
            return
        states = {here.state}
        if direction > 0:
            iv = tl.store.next_transition(tl.lane, tl.cursor, states)
        else:
            iv = tl.store.prev_transition(tl.lane, here.start, states)
        self._jump(iv, f"other {here.state.label} on this lane")
        if iv is not None:
            t0, t1 = tl.window
            tl.ensure_visible(iv.end - 1 if iv.end - iv.start < t1 - t0 else iv.start)

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
            marks = [t for t, _ in tl.marks()]
            number = marks.index(tl.cursor) + 1
            self.notify(f"bookmark {number} of {len(marks)} set (b lists them)", timeout=2)
        else:
            self.notify("bookmark removed", timeout=2)

    def action_bookmarks(self) -> None:
        tl = self.timeline

        def done(mark: tuple[int, int] | None) -> None:
            if mark is not None:
                self._vcpu_view()
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
                t = parse_time(text, origin=self.store.start_ns, cursor=tl.cursor)
            except W2AError as err:
                self.notify(err.message, severity="error")
                return
            if not self.store.start_ns <= t < self.store.end_ns:
                self.notify("that time is outside the trace: cursor put at the nearest end")
            tl.goto(t)

        hint = "1.5s · 1500ms · +200us · -1ms · raw ns · 22:13:21.4 · 2023-11-15T22:13:21Z"
        self.app.push_screen(Prompt("Go to", hint), done)

    def action_find(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                query = parse_query(text, self.store)
            except W2AError as err:
                self.notify(err.message, severity="error")
                return
            matches = Matches(self.store, query)
            if not matches.total:
                self.matches = self.match_at = None
                self.timeline.set_highlight(None, None)
                self.notify(
                    f"nothing in this trace matches {query.text!r} ({query.what})",
                    severity="warning",
                )
                self.refresh_status()
                return
            self.matches = matches
            self.timeline.set_highlight(matches.store, matches.starts)
            lanes = f"{matches.lanes_with} vCPU{'s' if matches.lanes_with != 1 else ''}"
            self.notify(f"{query.what}: {matches.total:,} matches on {lanes}", timeout=3)
            self.action_find_next(1)

        hint = "disk · preempt cc1 · disk >5ms · 0xec · 6100 (tid) · db01 CPU 2/KVM"
        value = self.matches.query.text if self.matches else ""
        self.app.push_screen(Prompt("Find", hint, value), done)

    def action_find_next(self, direction: int) -> None:
        matches = self.matches
        if matches is None:
            self.notify("nothing to repeat: press / to find", timeout=2)
            return
        tl = self.timeline
        self._view_of(matches)
        forward = direction > 0
        iv = matches.next_after(tl.cursor, tl.lane, forward=forward)
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

    def action_results(self) -> None:
        matches = self.matches
        if matches is None:
            self.notify("no search yet: press / to find", timeout=2)
            return

        def done(iv: Interval | None) -> None:
            if iv is not None:
                self._view_of(matches)
                tl = self.timeline
                tl.select_lane(iv.lane)
                tl.goto(iv.start)
                self.match_at = (iv.lane, iv.start, matches.position(iv))
                self.refresh_status()

        from w2a_tui.tui.screens.results import ResultsScreen  # not before the first frame

        self.app.push_screen(ResultsScreen(self.store, matches, self.vm_label), done)

    def _find_status(self) -> str:
        """`/disk 3/120` while the cursor is on the match `n` went to, `/disk -/120` once
        it moved away (`n` then goes on from the cursor)."""
        matches = self.matches
        if matches is None:
            return ""
        tl = self.timeline
        rank = "-"
        if self.match_at is not None and self.match_at[:2] == (tl.lane, tl.cursor):
            rank = f"{self.match_at[2]:,}"
        return f"/{matches.query.text} {rank}/{matches.total:,}"

    def action_summary(self) -> None:
        from w2a_tui.tui.screens.summary import SummaryScreen  # not before the first frame

        def done(iv: Interval | None) -> None:
            if iv is not None:
                self._vcpu_view()
                self.timeline.show_interval(iv)
                self.open_details()

        selection = self.timeline.selection
        if selection is not None and selection[1] > selection[0]:
            # The same summary, of the selected range only (built afresh: ranges change).
            self.app.push_screen(SummaryScreen(self.store, mono=self.mono, window=selection), done)
            return
        # Built once and kept installed: reopening is instant (~0.2 s of layout saved) and
        # comes back on the VM and reason the user left it at.
        if not self.app.is_screen_installed(SUMMARY_SCREEN):
            self.app.install_screen(SummaryScreen(self.store, mono=self.mono), SUMMARY_SCREEN)
        self.app.push_screen(SUMMARY_SCREEN, done)

    def action_export_range(self) -> None:
        """`e`: the selection (else the visible window) as a Perfetto trace file, written
        in a worker thread (a big trace takes seconds) into the current folder, or beside
        the trace when the current folder is inside it."""
        selection = self.timeline.selection
        start, end = (
            selection if selection is not None and selection[1] > selection[0]
            else self.timeline.window
        )
        self.notify("exporting the range for Perfetto…", timeout=2)
        self._export_range(start, end)

    @work(thread=True, exclusive=True, group="pcpu", exit_on_error=False)
    def _read_pcpu(self) -> None:
        """Read (and check) the cache's pCPU lanes off the UI thread, after the first frame:
        `p` (which would otherwise wait for them) and the ruler's `!` marks need them."""
        _ = self.store.pcpu
        self.app.call_from_thread(self.timeline.pcpu_read)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export_range(self, start: int, end: int) -> None:
        folder = Path.cwd()
        trace = Path(self.store.meta.path).resolve()
        if folder == trace or trace in folder.parents:
            folder = trace.parent
        from w2a_tui.export.perfetto import export_range_beside

        try:
            path, summary = export_range_beside(self.store, folder, start, end)
        except W2AError as err:
            self.app.call_from_thread(self.notify, printable(err.message), severity="error")
            return
        self.app.call_from_thread(
            self.notify,
            f"wrote {summary.intervals} intervals to {printable(str(path))} "
            "(open it in ui.perfetto.dev)",
            timeout=6,
        )

    def action_palette(self) -> None:
        self.app.action_command_palette()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.mono))

    def action_quit(self) -> None:
        self.app.exit(0, return_code=0)

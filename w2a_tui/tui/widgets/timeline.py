"""The timeline widget: a time ruler over one row per VM and per vCPU lane.

Line API: `render_line(y)` draws only the visible rows, and each lane asks the store for a
per-column summary of just the visible window (two samples per cell), so a frame costs
O(visible rows x columns), whatever the trace size. The widget owns the view state
(viewport, current row, collapsed VMs, bookmarks); the app binds keys to its methods.

The widget announces its state: every public move goes through `@announces`, which, once
the outermost move returns, snapshots cursor, lane, window and selection into the reactive
`state`. Its watcher redraws and posts one `Timeline.Changed` carrying the snapshot, at most
once per message-loop turn however many moves a key or a drag made (a burst is coalesced).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import ClassVar, Concatenate, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from sortedcontainers import SortedList
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from w2a_tui.analysis.pcpu import IDLE_LOOK
from w2a_tui.model import State
from w2a_tui.store import ColumnSummary, Interval, StateStore
from w2a_tui.store.pcpu import cpu_running, lane_of_cpu, lost_windows_of
from w2a_tui.tui.view.looks import NO_DATA
from w2a_tui.tui.view.render import (
    MAX_MARKS,
    LaneRuns,
    foot_runs,
    foot_samples,
    label_strip,
    lane_runs,
    mark_cells,
    ruler_strips,
)
from w2a_tui.tui.view.rows import Row, build_rows, lane_lines, line_layout, row_of_lane
from w2a_tui.tui.view.viewport import PAN_FRACTION, ZOOM_STEP, Viewport

RULER_ROWS = 2
LABEL_WIDTH = 16


P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TimelineState:
    """What listeners (status bar, drill-down, find) need to know of the timeline."""

    cursor: int
    lane: int
    row: int
    window: tuple[int, int]
    cols: int
    selection: tuple[int, int] | None = None
    bookmarks: tuple[int, ...] = ()
    pcpu: bool = False  # lanes are host CPUs (`p`), not vCPUs
    lane_filter: str = ""  # what the shown lanes are limited to ("" = all lanes)

    @property
    def span(self) -> int:
        return self.window[1] - self.window[0]

    @property
    def ns_per_col(self) -> float:
        return self.span / max(1, self.cols)


Move = Callable[Concatenate["Timeline", P], R]


def announces(method: Move[P, R]) -> Move[P, R]:
    """A move of the timeline: when the outermost one returns, publish the new state."""

    @wraps(method)
    def wrapper(self: Timeline, /, *args: P.args, **kwargs: P.kwargs) -> R:
        self._moving += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._moving -= 1
            if not self._moving:
                self._publish()

    return wrapper


@dataclass(frozen=True, slots=True)
class _RunsKey:
    lane: int
    foot: bool
    t0: int
    t1: int
    cols: int


class Timeline(Widget, can_focus=True):
    """Lanes of vCPU states under a time ruler."""

    DEFAULT_CSS = """
    Timeline { height: 1fr; background: $background; }
    Timeline > .timeline--label { color: $text; }
    Timeline > .timeline--label-current { background: $accent; color: $text; text-style: bold; }
    Timeline > .timeline--vm { background: $boost; text-style: bold; }
    Timeline > .timeline--vm-current { background: $accent; text-style: bold; }
    Timeline > .timeline--ruler { color: $text-muted; }
    Timeline > .timeline--mark { color: $warning; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--label",
        "timeline--label-current",
        "timeline--vm",
        "timeline--vm-current",
        "timeline--ruler",
        "timeline--mark",
    }

    class Changed(Message):
        """Cursor, window, row or selection moved: status bar and drill-down follow."""

        def __init__(self, timeline: Timeline, state: TimelineState) -> None:
            super().__init__()
            self.timeline = timeline
            self.state = state

        @property
        def control(self) -> Timeline:
            return self.timeline

    # Set only by `_publish`; the watcher redraws and (coalesced) tells the listeners.
    state: reactive[TimelineState | None] = reactive(None, init=False, layout=False)

    def __init__(self, store: StateStore, *, mono: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vcpu_store = store
        self.store = store  # the lanes shown: `vcpu_store`, or its `pcpu` store after `p`
        self.mono = mono
        self.view = Viewport.fit(store.start_ns, store.end_ns)
        self.collapsed: set[int] = set()
        self.rows: list[Row] = build_rows(store.lanes)
        self.row = 1 if len(self.rows) > 1 else 0  # first lane
        self.top = 0  # first visible row
        self.bookmarks: SortedList = SortedList()
        self.bookmark_lanes: dict[int, int] = {}  # time -> the lane current when set
        self._runs: dict[_RunsKey, LaneRuns] = {}
        self._lines: tuple[tuple[int, int, int, int], int, list[tuple[int, int]]] | None = None
        self._drag_from: int | None = None
        # (what, lanes shown) while a filter hides the other lanes (`o`, `i`, `u`).
        self.lane_filter: tuple[str, frozenset[int]] | None = None
        # Where the last search's matches start, per lane of `highlight_store` (`/`).
        self.highlight: Sequence[npt.NDArray[np.int64]] | None = None
        self.highlight_store: StateStore | None = None
        self._vcpu_lane = 0  # the vCPU lane current when `p` left the vCPU view
        # Marked `!` on the ruler; from the pCPU lanes, once read (`pcpu_read`).
        self.lost = [] if store.pcpu_pending else lost_windows_of(store.pcpu)
        self._moving = 0  # depth of nested `@announces` moves
        self._announce_pending = False

    # --- geometry -----------------------------------------------------------------------
    @property
    def label_width(self) -> int:
        return label_width_for(self.size.width)

    @property
    def lane_cols(self) -> int:
        return max(1, self.size.width - self.label_width)

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - RULER_ROWS)

    @property
    def tall(self) -> bool:
        """More than one line per lane (few VMs, big terminal; never with NO_COLOR)."""
        return self.lane_height > 1

    @property
    def lane_height(self) -> int:
        """Screen lines per lane at the current size (`rows.lane_lines`)."""
        return lane_lines(self.rows, self.visible_rows, mono=self.mono)

    def screen_lines(self, height: int | None = None) -> list[tuple[int, int]]:
        """(row, line in row) of every lane line on screen, top to bottom (memoised: every
        `render_line` of a frame asks; `height` saves a `size` lookup)."""
        return self._layout(height)[1]

    def _layout(self, height: int | None = None) -> tuple[int, list[tuple[int, int]]]:
        """(lines per lane, `screen_lines`), memoised per scroll position and size."""
        visible = self.visible_rows if height is None else max(1, height - RULER_ROWS)
        top = self._top_for(visible)
        key = (top, id(self.rows), len(self.rows), visible)
        if self._lines is None or self._lines[0] != key:
            per_lane = lane_lines(self.rows, visible, mono=self.mono)
            layout = line_layout(self.rows, top, visible, lane_height=per_lane)
            self._lines = (key, per_lane, layout)
        return self._lines[1], self._lines[2]

    def row_at(self, y: int) -> int | None:
        """The row drawn on widget line `y`, if any."""
        layout = self.screen_lines()
        i = y - RULER_ROWS
        return layout[i][0] if 0 <= i < len(layout) else None

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return RULER_ROWS + len(self.rows)

    @announces
    def on_resize(self, event: events.Resize) -> None:
        self.view.set_cols(self.lane_cols)
        self._runs.clear()

    def on_mount(self) -> None:
        self._publish()

    # --- state accessors ----------------------------------------------------------------
    @property
    def current_row(self) -> Row:
        return self.rows[self.row]

    @property
    def pcpu(self) -> bool:
        return self.store is not self.vcpu_store

    @property
    def _unit(self) -> str:
        return "pCPU" if self.pcpu else "vCPU"

    @property
    def cursor(self) -> int:
        return self.view.cursor

    @property
    def window(self) -> tuple[int, int]:
        return (self.view.t0, self.view.t1)

    @property
    def selection(self) -> tuple[int, int] | None:
        return self.view.selection

    @property
    def lane(self) -> int:
        """The lane of the current row (a VM row stands for its first lane)."""
        row = self.current_row
        if not row.is_vm:
            return row.lane
        lanes = self.store.lanes_of_vm(row.vm_pid)
        return lanes[0] if lanes else 0

    def interval_under_cursor(self) -> Interval | None:
        if not self.store.lanes:
            return None
        return self.store.interval_at(self.lane, self.view.cursor)

    # --- rendering ----------------------------------------------------------------------
    def runs_of(self, lane: int, cols: int, foot: bool = False) -> LaneRuns:
        """A lane line for the current window, drawn once and reused while only the cursor
        moves. Both lines of a tall lane come from the same two-samples-per-cell summary."""
        view = self.view
        key = _RunsKey(lane, foot, view.t0, view.t1, cols)
        runs = self._runs.get(key)
        if runs is None:
            if len(self._runs) > 512:
                self._runs.clear()
            n = cols if self.mono else 2 * cols
            summary = self.store.column_summary(lane, view.t0, view.t1, n)
            samples = summary.dominant
            if foot:
                samples = foot_samples(summary.time, samples)
            if self.pcpu:  # an idle host CPU is drawn blank
                samples = np.where(samples == IDLE_LOOK, NO_DATA, samples).astype(np.uint8)
            runs = foot_runs(samples, cols) if foot else lane_runs(samples, cols, mono=self.mono)
            self._runs[key] = runs
        return runs

    def vm_runs(self, vm_pid: int, cols: int) -> LaneRuns:
        """A collapsed VM's line: per half cell, the state its vCPUs spent most time in."""
        view = self.view
        key = _RunsKey(-1 - vm_pid, False, view.t0, view.t1, cols)
        runs = self._runs.get(key)
        if runs is None:
            n = cols if self.mono else 2 * cols
            lanes = self.store.lanes_of_vm(vm_pid)
            summaries = self.store.column_summaries(lanes, view.t0, view.t1, n)
            runs = lane_runs(merged_dominant(summaries, n), cols, mono=self.mono)
            self._runs[key] = runs
        return runs

    def render_line(self, y: int) -> Strip:
        size = self.size  # a Widget.size lookup walks the DOM: once per line, not five
        width = size.width
        lw = label_width_for(width)
        cols = max(1, width - lw)
        view = self.view
        cursor_col = view.col_of(view.cursor)
        cursor = cursor_col if 0 <= cursor_col < cols else None
        if y < RULER_ROWS:
            sel = view.selection
            sel_cols = (view.col_of(sel[0]), view.col_of(sel[1])) if sel else None
            marks = [view.col_of(t) for t in self.bookmarks.irange(view.t0, view.t1 - 1)]
            ruler_style = self.get_component_rich_style("timeline--ruler")
            lost = [
                (view.col_of(a), view.col_of(b - 1))
                for a, b in self.lost
                if b > view.t0 and a < view.t1
            ]
            labels, tick_line = ruler_strips(
                view.t0,
                view.t1,
                cols,
                self.store.start_ns,
                cursor_col=cursor,
                selection_cols=sel_cols,
                bookmark_cols=marks,
                style=ruler_style,
                mark_style=self.get_component_rich_style("timeline--mark"),
                lost_cols=lost,
            )
            head = "time" if y == 0 else ""
            return Strip.join([label_strip(head, lw, ruler_style), labels if y == 0 else tick_line])
        per_lane, layout = self._layout(size.height)
        if y - RULER_ROWS >= len(layout):
            return Strip.blank(width, self.rich_style)
        index, sub = layout[y - RULER_ROWS]
        row = self.rows[index]
        current = index == self.row
        if row.is_vm:
            style = self.get_component_rich_style(
                "timeline--vm-current" if current else "timeline--vm"
            )
            collapsed = row.vm_pid in self.collapsed
            text = row.label(collapsed)
            if not collapsed:
                return Strip([Segment(text[:width].ljust(width), style)], width)
            # A collapsed VM still shows where its time went: all its lanes summed.
            label = label_strip(text, lw, style)
            lane = self.vm_runs(row.vm_pid, cols).strip(cursor)
            return Strip([*label, *lane], lw + cols)
        label_style = self.get_component_rich_style(
            "timeline--label-current" if current else "timeline--label"
        )
        text = row.label() if sub == 0 else row.detail() if sub == 1 else ""
        label = label_strip(text, lw, label_style)
        foot = sub > 0 and sub == per_lane - 1  # a tall lane's last line: the half bar
        lane = self.runs_of(row.lane, cols, foot=foot).strip(cursor)
        line = Strip([*label, *lane], lw + cols)
        if sub == 0 and self.highlight is not None and self.highlight_store is self.store:
            starts = self.highlight[row.lane]
            a, b = np.searchsorted(starts, [view.t0, view.t1])
            if 0 < b - a <= MAX_MARKS:
                hit = ((starts[a:b] - view.t0) / view.ns_per_col).astype(np.int64).tolist()
                line = mark_cells(line, [c for c in hit if c != cursor], lw)
        return line

    def set_highlight(
        self, store: StateStore | None, starts: Sequence[npt.NDArray[np.int64]] | None
    ) -> None:
        """Mark the cells where these intervals of `store`'s lanes start (None: none)."""
        self.highlight_store = store
        self.highlight = starts
        self.refresh()

    def _publish(self) -> None:
        """Snapshot the state after a move; the reactive fires only when it differs."""
        self._scroll_to_row()
        view = self.view
        self.state = TimelineState(
            cursor=view.cursor,
            lane=self.lane,
            row=self.row,
            window=(view.t0, view.t1),
            cols=view.cols,
            selection=view.selection,
            bookmarks=tuple(self.bookmarks),
            pcpu=self.pcpu,
            lane_filter=self.lane_filter[0] if self.lane_filter else "",
        )
        self.refresh()  # also for moves that leave the state as it was (collapse, scroll)

    def watch_state(self, state: TimelineState | None) -> None:
        if state is None or self._announce_pending:
            return
        self._announce_pending = True
        self.call_later(self._announce)

    def _announce(self) -> None:
        self._announce_pending = False
        if self.state is not None:
            self.post_message(self.Changed(self, self.state))

    def _scroll_to_row(self) -> None:
        self.top = self._top_for(self.visible_rows)

    def _top_for(self, vis: int) -> int:
        """The first row to show in `vis` lines: the current row stays on screen, and no
        scroll is kept that the height does not need. Drawing uses it too, so a frame
        drawn at a new size before `on_resize` has run (the main screen mounted while the
        terminal was still too small) shows no stale scroll."""
        top = self.top
        if self.row < top:
            top = self.row
        elif self.row >= top + vis:
            top = self.row - vis + 1
        return max(0, min(top, max(0, len(self.rows) - vis)))

    # --- actions (bound by the app) -------------------------------------------------------
    @announces
    def zoom(self, factor: float, around: int | None = None) -> None:
        self.view.zoom(factor, around)

    def zoom_in(self) -> None:
        self.zoom(1 / ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom(ZOOM_STEP)

    @announces
    def pan(self, direction: int) -> None:
        self.view.pan(direction * PAN_FRACTION)

    @announces
    def step_cursor(self, cells: int, *, extend: bool = False) -> None:
        self.view.step_cursor(cells)
        if extend:
            self.view.extend_selection_to_cursor()

    @announces
    def goto(self, t: int, *, extend: bool = False) -> None:
        self.view.move_cursor(t)
        if extend:
            self.view.extend_selection_to_cursor()

    @announces
    def move_row(self, delta: int) -> None:
        self.row = max(0, min(len(self.rows) - 1, self.row + delta))

    def _rebuild_rows(self) -> None:
        lanes = self.store.lanes
        if self.lane_filter is not None:
            lanes = [lane for lane in lanes if lane.index in self.lane_filter[1]]
        self.rows = build_rows(lanes, self.collapsed, self._unit)
        self._lines = None

    @announces
    def set_lane_filter(self, what: str, lanes: frozenset[int]) -> None:
        """Show only `lanes` (the header says `what`); the current lane stays if shown."""
        lane = self.lane
        self.lane_filter = (what, lanes)
        self.collapsed.clear()
        self._rebuild_rows()
        self.row = row_of_lane(self.rows, lane) if lane in lanes else min(1, len(self.rows) - 1)

    @announces
    def clear_lane_filter(self) -> None:
        lane = self.lane
        self.lane_filter = None
        self._rebuild_rows()
        self.row = row_of_lane(self.rows, lane)

    def pcpu_read(self) -> None:
        """The store's deferred pCPU lanes are read: mark their lost windows."""
        self.lost = lost_windows_of(self.vcpu_store.pcpu)
        self.refresh()

    @announces
    def toggle_pcpu(self) -> bool:
        """`p`: host CPU lanes <-> vCPU lanes, same window and cursor. The current row goes
        to the CPU running the current vCPU's thread at the cursor, and back to the vCPU
        of the thread under the cursor (when it is one). False when there are no pCPU lanes."""
        pcpu = self.vcpu_store.pcpu
        if pcpu is None or not pcpu.lanes:
            return False
        here = self.interval_under_cursor()
        t = self.view.cursor
        if not self.pcpu:
            self._vcpu_lane = self.lane
        if self.pcpu:
            tid = here.evidence.next_tid if here is not None and here.evidence else -1
            lane = next((x.index for x in self.vcpu_store.lanes if x.tid == tid), None)
            self.store = self.vcpu_store
            unit = "vCPU"
        else:
            cpu = cpu_running(pcpu, self.vcpu_store.lanes[self.lane].tid, t)
            lane = lane_of_cpu(pcpu, cpu) if cpu is not None else None
            self.store = pcpu
            unit = "pCPU"
        self.collapsed.clear()
        self.lane_filter = None
        self.rows = build_rows(self.store.lanes, unit=unit)
        self._lines = None
        self._runs.clear()
        self.row = row_of_lane(self.rows, lane) if lane is not None else min(1, len(self.rows) - 1)
        return True

    @announces
    def ensure_visible(self, t: int) -> None:
        """Scroll (never zoom) so that `t` is on screen."""
        self.view.ensure_visible(t)

    @announces
    def select_lane(self, lane: int) -> None:
        """Make `lane` current, expanding its VM if collapsed."""
        vm = self.store.lanes[lane].vm_pid
        hidden = self.lane_filter is not None and lane not in self.lane_filter[1]
        if vm in self.collapsed or hidden:
            self.collapsed.discard(vm)
            if hidden:
                self.lane_filter = None  # a jump to a hidden lane drops the filter
            self._rebuild_rows()
        self.row = row_of_lane(self.rows, lane)

    @announces
    def toggle_vm(self) -> None:
        """Collapse/expand the current row's VM; the cursor lands on its header row."""
        vm = self.current_row.vm_pid
        if vm in self.collapsed:
            self.collapsed.discard(vm)
        else:
            self.collapsed.add(vm)
        self._rebuild_rows()
        self.row = next(i for i, r in enumerate(self.rows) if r.is_vm and r.vm_pid == vm)

    @announces
    def fit(self) -> None:
        """`f`: zoom to the selection if there is one (then drop it), else show everything."""
        sel = self.view.selection
        if sel is not None and sel[1] > sel[0]:
            self.view.show_range(sel[0], sel[1], margin=0.0)
            self.view.clear_selection()
        else:
            self.view.show_all()
        view = self.view
        if not view.t0 <= view.cursor < view.t1:  # keep the cursor on screen
            view.move_cursor(min(max(view.cursor, view.t0), view.t1 - 1))

    @announces
    def show_interval(self, iv: Interval) -> None:
        """Cursor on `iv`'s start and its lane, zoomed so the whole interval is visible."""
        self.select_lane(iv.lane)
        self.view.show_range(iv.start, iv.end, margin=0.25)
        self.view.move_cursor(iv.start)

    @announces
    def toggle_selection(self) -> None:
        self.view.start_or_extend_selection()

    @announces
    def clear_selection(self) -> None:
        self.view.clear_selection()

    @announces
    def add_bookmark(self) -> None:
        if self.view.cursor not in self.bookmarks:
            self.bookmarks.add(self.view.cursor)
        # Bookmarks name vCPU lanes: from the pCPU view, the vCPU lane it was opened from.
        self.bookmark_lanes[self.view.cursor] = self._vcpu_lane if self.pcpu else self.lane

    @announces
    def toggle_bookmark(self) -> bool:
        """`m`: bookmark the cursor time, or remove the bookmark the cursor is on (after
        `'` jumped there). True when a bookmark was set."""
        if self.view.cursor in self.bookmarks:
            self.remove_bookmark(self.view.cursor)
            return False
        self.add_bookmark()
        return True

    @announces
    def remove_bookmark(self, t: int) -> None:
        if t in self.bookmarks:
            self.bookmarks.remove(t)
        self.bookmark_lanes.pop(t, None)

    def marks(self) -> list[tuple[int, int]]:
        """(time, lane) of every bookmark, in time order."""
        return [(t, self.bookmark_lanes.get(t, self.lane)) for t in self.bookmarks]

    @announces
    def next_bookmark(self) -> int | None:
        """The first bookmark after the cursor, wrapping around to the first one."""
        if not self.bookmarks:
            return None
        i = self.bookmarks.bisect_right(self.view.cursor)
        t: int = self.bookmarks[i % len(self.bookmarks)]
        self.goto(t)
        return t

    # --- mouse ----------------------------------------------------------------------------
    def _time_at_x(self, x: int) -> int | None:
        col = x - self.label_width
        if col < 0:
            return None
        return self.view.time_of(col)

    @announces
    def on_mouse_down(self, event: events.MouseDown) -> None:
        t = self._time_at_x(event.x)
        index = self.row_at(event.y)
        if index is not None:
            self.row = index
        if t is not None:
            self.view.clear_selection()
            self.view.move_cursor(t)
            self._drag_from = t
            self.capture_mouse()

    @announces
    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag_from is None or not event.button:
            return
        t = self._time_at_x(max(event.x, self.label_width))
        if t is None or t == self._drag_from:
            return
        self.view.anchor = self._drag_from
        self.view.sel_end = t
        self.view.move_cursor(t)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._drag_from = None
        self.release_mouse()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.zoom(1 / ZOOM_STEP, self._time_at_x(event.x))
        event.stop()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.zoom(ZOOM_STEP, self._time_at_x(event.x))
        event.stop()


def merged_dominant(summaries: Sequence[ColumnSummary], n: int) -> npt.NDArray[np.uint8]:
    """Per column, the state with the most time summed over several lanes; a column with
    no time (narrower than a ns, or no data) takes the first lane's sample."""
    if not summaries:
        return np.full(n, NO_DATA, np.uint8)
    time = np.sum([s.time for s in summaries], axis=0)
    out: npt.NDArray[np.uint8] = np.argmax(time, axis=1).astype(np.uint8)
    empty = time.sum(axis=1) == 0
    out[empty] = summaries[0].dominant[empty]
    return out


def label_width_for(width: int) -> int:
    """The label column: 16 cells, narrower (down to 8) on narrow terminals."""
    return min(LABEL_WIDTH, max(8, width // 5))


def state_name(state: int) -> str:
    return State(state).label

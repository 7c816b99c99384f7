"""`t`: where the time went, per trace or per VM: state bars per vCPU, wait time and
duration histogram per reason, and the longest waits (Enter jumps there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from w2a_tui.analysis.totals import VmTotals
from w2a_tui.analysis.wording import STILL_WAITING, is_interrupt_context, short_cause
from w2a_tui.model import WAIT_STATES, Source, State
from w2a_tui.printable import printable
from w2a_tui.store import Interval, StateStore
from w2a_tui.store.range_totals import range_totals
from w2a_tui.tui.view.chrome import legend_text
from w2a_tui.tui.view.looks import LOOKS
from w2a_tui.tui.view.names import vector_short, vm_labels
from w2a_tui.tui.view.numbers import vm_numbers
from w2a_tui.tui.view.timefmt import format_duration, format_time

WAITS: tuple[State, ...] = tuple(sorted(WAIT_STATES))
# What the longest-waits table can be narrowed to: key 0 = all waits, 1..5 = one reason.
REASON_FILTERS: tuple[tuple[str, frozenset[State]], ...] = (
    ("all reasons", frozenset(WAIT_STATES)),
    *((s.label.removeprefix("wait_"), frozenset({s})) for s in WAITS),
)
# Histogram buckets: decades from 1 µs to 1 s.
BUCKET_EDGES = np.array([1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000])
BUCKET_NAMES = ("<1µs", "<10µs", "<100µs", "<1ms", "<10ms", "<100ms", "<1s", "≥1s")


def histogram(durations: npt.NDArray[np.int64]) -> list[int]:
    """Counts per decade bucket (`BUCKET_NAMES`)."""
    idx = np.searchsorted(BUCKET_EDGES, durations, "right")
    counts: list[int] = np.bincount(idx, minlength=len(BUCKET_NAMES)).tolist()
    return counts


def wait_durations(
    store: StateStore, lanes: Sequence[int], window: tuple[int, int] | None = None
) -> dict[State, npt.NDArray[np.int64]]:
    """Durations of every wait interval of `lanes` (overlapping `window`), per wait state
    (vectorised in the store: no Python object per interval, so a 10 M-interval trace
    summarises at once)."""
    t0, t1 = window if window is not None else (None, None)
    return {s: store.durations(list(lanes), {s}, t0, t1) for s in WAITS}


def wait_table(
    store: StateStore, lanes: Sequence[int], mono: bool, window: tuple[int, int] | None = None
) -> Table:
    durations = wait_durations(store, lanes, window)
    totals = {s: int(d.sum()) for s, d in durations.items()}
    all_waits = max(1, sum(totals.values()))
    counts = {s: histogram(d) for s, d in durations.items()}
    a, b = bucket_span(list(counts.values()))
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("reason", no_wrap=True)
    for name in ("time", "share", "count", *BUCKET_NAMES[a:b]):
        table.add_column(name, justify="right", no_wrap=True)
    for state in WAITS:
        look = LOOKS[state]
        chip = Text(f"{look.glyph} " if mono else "  ", style="" if mono else f"on {look.colour}")
        label = Text.assemble(chip, " ", state.label.removeprefix("wait_"))
        table.add_row(
            label,
            format_duration(totals[state]),
            f"{totals[state] / all_waits:.0%}",
            str(len(durations[state])),
            *[str(c) if c else "·" for c in counts[state][a:b]],
        )
    return table


def bucket_span(rows: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The histogram columns worth showing: from the first bucket any reason uses to the
    last (so 80 columns are enough), at least one."""
    used = [i for i in range(len(BUCKET_NAMES)) if any(row[i] for row in rows)]
    return (used[0], used[-1] + 1) if used else (0, 1)


def reason_tabs(current: int) -> Text:
    """`Longest waits  0 all  1 timer  …  5 unknown` with the chosen reason highlighted:
    the keys are the labels, so the filter explains itself."""
    text = Text("Longest waits ", style="bold")
    for i, (name, _) in enumerate(REASON_FILTERS):
        label = f" {i} {name.split()[0]} "
        text.append(label, style="bold reverse" if i == current else "dim")
    text.append("  (r: next)", style="dim")
    return text


def cause_text(iv: Interval) -> str:
    """A short 'why' for a table cell: the vector, then who woke or interrupted the vCPU."""
    ev = iv.evidence
    if ev is None:
        return ""
    parts = []
    if ev.vector >= 0:
        parts.append(vector_short(ev.vector))
    if ev.source is Source.OPEN:
        parts.append(STILL_WAITING)
    elif ev.waker_comm:
        parts.append(
            "woken by " + printable(short_cause(ev.waker_comm, ev.waker_context, ev.waker_cpu))
        )
    elif ev.emitter_comm:
        sent = "sent from" if is_interrupt_context(ev.emitter_context) else "sent by"
        who = short_cause(ev.emitter_comm, ev.emitter_context, ev.emitter_cpu)
        parts.append(f"{sent} {printable(who)}")
    return ", ".join(parts)


def longest_in(
    store: StateStore,
    states: frozenset[State],
    lanes: Sequence[int],
    window: tuple[int, int],
    k: int,
) -> list[Interval]:
    """The k longest intervals in `states` overlapping `window`, longest first."""
    lane_of, starts, spent, _, _ = store.rows_in_states(lanes, states, *window)
    order = np.lexsort((starts, -spent))[:k]
    found = (store.interval_at(int(lane_of[i]), int(starts[i])) for i in order.tolist())
    return [iv for iv in found if iv is not None]


class SummaryScreen(Screen[Interval | None]):
    """Scope cycles with ←/→ (all VMs, then each VM), the longest-waits table's reason
    with r or 0-5. Returns the chosen longest wait. With a `window` (a selection), every
    figure is of that time range only and the title says which."""

    DEFAULT_CSS = """
    SummaryScreen #summary-title { height: 1; background: $panel; text-style: bold; }
    SummaryScreen #summary-top { height: auto; max-height: 60%; }
    SummaryScreen .section { margin: 1 0 0 0; text-style: bold; }
    SummaryScreen #summary-longest-title { margin: 1 0 0 0; }
    SummaryScreen #summary-legend { color: $text-muted; }
    SummaryScreen DataTable { height: 1fr; min-height: 4; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,t", "close", "back"),
        # priority: the focused table would otherwise take ←/→ to scroll sideways.
        Binding("left,h", "scope(-1)", "prev VM", priority=True),
        Binding("right,l", "scope(1)", "next VM", priority=True),
        Binding("enter", "jump", "show in timeline", priority=True),
        Binding("r", "reason(1)", "reason"),
        *(
            Binding(str(i), f"set_reason({i})", name, show=False)
            for i, (name, _) in enumerate(REASON_FILTERS)
        ),
    ]

    def __init__(
        self, store: StateStore, *, mono: bool = False, window: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.mono = mono
        self.window = window
        self.scopes: list[tuple[str, list[int]]] = [("all VMs", list(range(len(store.lanes))))]
        for vm in store.vms:
            lanes = store.lanes_of_vm(vm.pid)
            if lanes:
                self.scopes.append((f"VM {printable(vm.name)} [{vm.pid}]", lanes))
        self.vm_label = vm_labels(store)
        self.scope = 0
        self.reason = 0  # index in REASON_FILTERS
        self.longest: list[Interval] = []
        self._totals: dict[tuple[int, tuple[int, int] | None], list[VmTotals]] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="summary-title")
        # Bars and wait tables scroll on their own, so the longest waits always show.
        with VerticalScroll(id="summary-top"):
            yield Static("", id="summary-legend")
            yield Static("", id="summary-bars")
            yield Static("Wait time per reason, and how long waits last", classes="section")
            yield Static("", id="summary-waits")
        yield Static("", id="summary-longest-title")
        yield DataTable(id="summary-longest", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("duration", "reason", "VM", "vCPU", "start", "cause", "rule")
        self.render_scope()
        table.focus()

    def on_resize(self) -> None:
        self.render_bars()

    def render_scope(self) -> None:
        name, lanes = self.scopes[self.scope]
        where = ""
        if self.window is not None:
            a, b = self.window
            origin = self.store.start_ns
            span = format_duration(b - a)
            where = f" from {format_time(a, origin)} to {format_time(b, origin)} ({span})"
        self.query_one("#summary-title", Static).update(
            Text(
                f" Summary: {name}{where}   ({self.scope + 1}/{len(self.scopes)}, ←/→ other VMs,"
                " Esc back)"
            )
        )
        self.render_bars()
        self.query_one("#summary-waits", Static).update(
            wait_table(self.store, lanes, self.mono, self.window)
        )
        self.render_longest()

    def render_bars(self) -> None:
        """Per VM of the scope: its verdict, its vCPUs' % per state, who preempted them."""
        _, lanes = self.scopes[self.scope]
        key = (self.scope, self.window)
        vms = self._totals.get(key)
        if vms is None:
            t0, t1 = self.window if self.window is not None else (None, None)
            vms = self._totals[key] = range_totals(self.store, lanes, t0, t1)
        width = max(40, self.size.width - 3)  # the scroll bar, a margin
        numbers = [
            vm_numbers(vm, self.vm_label.get(vm.pid, vm.name), width, self.mono) for vm in vms
        ]
        self.query_one("#summary-bars", Static).update(Group(*numbers))
        legend = legend_text(self.mono, self.size.width)
        self.query_one("#summary-legend", Static).update(legend)

    def render_longest(self) -> None:
        """The 20 longest waits of the scope, of the chosen reason, longest first."""
        store = self.store
        _, lanes = self.scopes[self.scope]
        _, states = REASON_FILTERS[self.reason]
        self.query_one("#summary-longest-title", Static).update(reason_tabs(self.reason))
        if self.window is None:
            self.longest = store.longest(states, k=20, lanes=lanes)
        else:
            self.longest = longest_in(store, states, lanes, self.window, 20)
        table = self.query_one(DataTable)
        table.clear()
        for iv in self.longest:
            info = store.lanes[iv.lane]
            ev = iv.evidence
            table.add_row(
                Text(format_duration(iv.duration), justify="right"),
                iv.state.label.removeprefix("wait_"),
                Text(self.vm_label.get(info.vm_pid, printable(info.vm_name))),
                str(info.vcpu),
                format_time(iv.start, store.start_ns),
                Text(cause_text(iv)),
                ev.source.label if ev is not None else "",
            )

    def action_scope(self, step: int) -> None:
        self.scope = (self.scope + step) % len(self.scopes)
        self.render_scope()

    def action_reason(self, step: int) -> None:
        self.action_set_reason((self.reason + step) % len(REASON_FILTERS))

    def action_set_reason(self, index: int) -> None:
        self.reason = index
        self.render_longest()

    def action_jump(self) -> None:
        table = self.query_one(DataTable)
        if self.longest and 0 <= table.cursor_row < len(self.longest):
            self.dismiss(self.longest[table.cursor_row])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_close(self) -> None:
        self.dismiss(None)

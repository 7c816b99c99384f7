"""`t`: where the time went, per trace or per VM: state bars per vCPU, wait time and
duration histogram per reason, and the longest waits (Enter jumps there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from w2a_tui.model import N_STATES, WAIT_STATES, State
from w2a_tui.store import Interval, StateStore
from w2a_tui.tui.palette import LOOKS
from w2a_tui.tui.timefmt import format_duration, format_time

WAITS: tuple[State, ...] = tuple(sorted(WAIT_STATES))
# Histogram buckets: decades from 1 µs to 1 s.
BUCKET_EDGES = np.array([1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000])
BUCKET_NAMES = ("<1µs", "<10µs", "<100µs", "<1ms", "<10ms", "<100ms", "<1s", "≥1s")


def stacked_bar(totals: npt.NDArray[np.int64], width: int, mono: bool) -> Text:
    """`width` cells split among states in proportion to their time (largest remainder, so
    the cells add up exactly and any state with time gets at least its fair share)."""
    text = Text()
    total = int(totals.sum())
    if total <= 0 or width <= 0:
        return Text(" " * max(width, 0))
    exact = totals.astype(np.float64) * width / total
    cells = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - cells), kind="stable")[: width - int(cells.sum())]:
        cells[i] += 1
    for state in range(N_STATES):
        n = int(cells[state])
        if n:
            look = LOOKS[State(state)]
            if mono:
                text.append(look.glyph * n)
            else:
                text.append(" " * n, style=f"on {look.colour}")
    return text


def histogram(durations: npt.NDArray[np.int64]) -> list[int]:
    """Counts per decade bucket (`BUCKET_NAMES`)."""
    idx = np.searchsorted(BUCKET_EDGES, durations, "right")
    counts: list[int] = np.bincount(idx, minlength=len(BUCKET_NAMES)).tolist()
    return counts


def wait_durations(store: StateStore, lanes: Sequence[int]) -> dict[State, npt.NDArray[np.int64]]:
    """Durations of every wait interval of `lanes`, per wait state."""
    out: dict[State, list[int]] = {s: [] for s in WAITS}
    for lane in lanes:
        for iv in store.intervals(lane, store.start_ns, store.end_ns):
            if iv.state in WAIT_STATES:
                out[iv.state].append(iv.duration)
    return {s: np.asarray(v, dtype=np.int64) for s, v in out.items()}


def state_bars(store: StateStore, lanes: Sequence[int], width: int, mono: bool) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, justify="right")
    for lane in lanes:
        info = store.lanes[lane]
        totals = store.totals(lane)
        busy = int(totals[State.GUEST]) / max(1, int(totals.sum()))
        table.add_row(
            f"{info.vm_name} vCPU {info.vcpu}",
            stacked_bar(totals, width, mono),
            f"guest {busy:.0%}",
        )
    return table


def wait_table(store: StateStore, lanes: Sequence[int], mono: bool) -> Table:
    durations = wait_durations(store, lanes)
    totals = {s: int(d.sum()) for s, d in durations.items()}
    all_waits = max(1, sum(totals.values()))
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("reason", no_wrap=True)
    table.add_column("time", justify="right")
    table.add_column("share", justify="right")
    table.add_column("count", justify="right")
    for name in BUCKET_NAMES:
        table.add_column(name, justify="right")
    for state in WAITS:
        look = LOOKS[state]
        chip = Text(f"{look.glyph} " if mono else "  ", style="" if mono else f"on {look.colour}")
        label = Text.assemble(chip, " ", state.label.removeprefix("wait_"))
        counts = histogram(durations[state])
        table.add_row(
            label,
            format_duration(totals[state]),
            f"{totals[state] / all_waits:.0%}",
            str(len(durations[state])),
            *[str(c) if c else "·" for c in counts],
        )
    return table


class SummaryScreen(Screen[Interval | None]):
    """Scope cycles with ←/→ (all VMs, then each VM). Returns the chosen longest wait."""

    DEFAULT_CSS = """
    SummaryScreen #summary-title { height: 1; background: $panel; text-style: bold; }
    SummaryScreen .section { margin: 1 0 0 0; text-style: bold; }
    SummaryScreen DataTable { height: auto; max-height: 24; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,t", "close", "back"),
        Binding("left,h", "scope(-1)", "prev VM"),
        Binding("right,l", "scope(1)", "next VM"),
        Binding("enter", "jump", "jump to wait", show=True),
    ]

    def __init__(self, store: StateStore, *, mono: bool = False) -> None:
        super().__init__()
        self.store = store
        self.mono = mono
        self.scopes: list[tuple[str, list[int]]] = [("all VMs", list(range(len(store.lanes))))]
        for vm in store.vms:
            lanes = store.lanes_of_vm(vm.pid)
            if lanes:
                self.scopes.append((f"VM {vm.name} [{vm.pid}]", lanes))
        self.scope = 0
        self.longest: list[Interval] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="summary-title")
        with VerticalScroll():
            yield Static("Time per state, per vCPU", classes="section")
            yield Static("", id="summary-bars")
            yield Static("Wait time per reason, and how long waits last", classes="section")
            yield Static("", id="summary-waits")
            yield Static("Longest waits (Enter: show in the timeline)", classes="section")
            yield DataTable(id="summary-longest", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("VM", "vCPU", "reason", "start", "duration", "rule", "cause")
        self.render_scope()
        table.focus()

    def on_resize(self) -> None:
        self.render_scope()

    def render_scope(self) -> None:
        name, lanes = self.scopes[self.scope]
        store = self.store
        self.query_one("#summary-title", Static).update(
            f" Summary: {name}   ({self.scope + 1}/{len(self.scopes)}, ←/→ other VMs, Esc back)"
        )
        width = max(10, self.size.width - 36)
        self.query_one("#summary-bars", Static).update(state_bars(store, lanes, width, self.mono))
        self.query_one("#summary-waits", Static).update(wait_table(store, lanes, self.mono))
        self.longest = store.longest(WAIT_STATES, k=20, lanes=lanes)
        table = self.query_one(DataTable)
        table.clear()
        for iv in self.longest:
            info = store.lanes[iv.lane]
            ev = iv.evidence
            cause = ""
            if ev is not None:
                if ev.vector >= 0:
                    cause = f"vector 0x{ev.vector:02x}"
                if ev.waker_comm:
                    cause += f"{', ' if cause else ''}woken by {ev.waker_comm}"
            table.add_row(
                info.vm_name,
                str(info.vcpu),
                iv.state.label.removeprefix("wait_"),
                format_time(iv.start, store.start_ns),
                format_duration(iv.duration),
                ev.source.label if ev is not None else "",
                cause,
            )

    def action_scope(self, step: int) -> None:
        self.scope = (self.scope + step) % len(self.scopes)
        self.render_scope()

    def action_jump(self) -> None:
        table = self.query_one(DataTable)
        if self.longest and 0 <= table.cursor_row < len(self.longest):
            self.dismiss(self.longest[table.cursor_row])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_close(self) -> None:
        self.dismiss(None)

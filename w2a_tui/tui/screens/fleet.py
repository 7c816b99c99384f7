"""`w2a-tui fleet --view fleet.parquet`: VMs across hosts ranked by preempted, ready or wait
time, filtered as you type; Enter opens that trace's timeline at that VM, `q` there comes
back here.

`FleetApp` returns the chosen (trace, vm pid), or None on `q`; `browse_fleet` loops between
it and `TimelineAtVm` (the usual app, its cursor put on the VM's first vCPU once loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Input, Static

from w2a_tui.fleet.view import SORT_KEYS, FleetTable, VmRank
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.widgets.timeline import Timeline

Choice = tuple[str, int]


@dataclass(slots=True)
class FleetState:
    """What survives a trip to a timeline and back: sort key, filter, errors shown, row."""

    key: str = "preempted"
    query: str = ""
    errors: bool = True
    row: int = 0


def _pct(x: float) -> str:
    return f"{x * 100:5.1f} %"


class FleetApp(App[Choice | None]):
    TITLE = "w2a-tui fleet"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #title { height: 1; background: $boost; padding: 0 1; }
    #filter { display: none; height: 3; }
    #filter.-on { display: block; }
    #rows { height: 1fr; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "sort('preempted')", "by preempted"),
        Binding("r", "sort('ready')", "by ready"),
        Binding("w", "sort('wait')", "by wait"),
        Binding("slash", "filter", "filter"),
        Binding("e", "errors", "failed traces"),
        Binding("escape", "clear", "clear filter", show=False),
        Binding("q", "quit_fleet", "quit"),
    ]

    def __init__(
        self, table: FleetTable, *, source: str = "", state: FleetState | None = None
    ) -> None:
        super().__init__()
        self.table = table
        self.source = source
        self.state = state or FleetState()
        self.shown: list[VmRank] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        yield Input(self.state.query, placeholder="filter: host, VM, thread, verdict…", id="filter")
        yield DataTable(id="rows", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status")
        yield Footer()

    @property
    def rows(self) -> DataTable[str | Text]:
        return self.query_one("#rows", DataTable)

    def on_mount(self) -> None:
        self.rows.add_columns(
            "#",
            "host",
            "trace",
            "VM",
            "vCPUs",
            "preempted",
            "ready",
            "wait",
            "top preemptor",
            "verdict",
        )
        self.refill(keep=self.state.row)
        self.rows.focus()

    def refill(self, keep: int = 0) -> None:
        s = self.state
        self.shown = self.table.ranked(s.key, s.query, s.errors)
        grid = self.rows
        grid.clear()
        for i, vm in enumerate(self.shown, start=1):
            trace = Path(vm.trace).name
            if vm.error:
                grid.add_row(
                    str(i),
                    vm.host,
                    trace,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    Text(f"failed: {vm.error}", style="red"),
                )
                continue
            cells: list[str | Text] = [
                Text(_pct(vm.share(k)), style="bold") if k == s.key else _pct(vm.share(k))
                for k in SORT_KEYS
            ]
            grid.add_row(
                str(i),
                vm.host,
                trace,
                f"{vm.vm_name} [{vm.vm_pid}]",
                str(vm.vcpus),
                *cells,
                vm.top_preemptor or "-",
                vm.verdict,
            )
        if self.shown:
            grid.move_cursor(row=min(keep, len(self.shown) - 1))
        failed = sum(1 for v in self.table.vms if v.error)
        title = (
            f"{sum(1 for v in self.table.vms if not v.error)} VMs in {self.table.hosts} traces"
            f" ranked by {s.key} time" + (f" · filter {s.query!r} (Esc clears)" if s.query else "")
        )
        self.query_one("#title", Static).update(title)
        status = f"{len(self.shown)} rows · {failed} failed trace(s)"
        if not s.errors:
            status += " hidden (e shows)"
        self.query_one("#status", Static).update(f"{status} · Enter opens the timeline")

    def action_sort(self, key: str) -> None:
        self.state.key = key
        self.refill()

    def action_errors(self) -> None:
        self.state.errors = not self.state.errors
        self.refill()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-on")
        box.focus()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-on")
        self.state.query = ""
        self.refill()
        self.rows.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.state.query = event.value
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.rows.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = event.cursor_row
        if not 0 <= row < len(self.shown):
            return
        vm = self.shown[row]
        if vm.error:
            self.notify(f"{Path(vm.trace).name} failed: {vm.error}", severity="error")
            return
        self.state.row = row
        self.exit((vm.trace, vm.vm_pid))

    def action_quit_fleet(self) -> None:
        self.exit(None)


class TimelineAtVm(W2AApp):
    """The usual app on `trace`, with the cursor on `vm_pid`'s first vCPU once it shows."""

    def __init__(self, trace: str, vm_pid: int, **kwargs: object) -> None:
        super().__init__(trace, **kwargs)  # type: ignore[arg-type]
        self.vm_pid = vm_pid
        self.placed = False

    def on_mount(self) -> None:
        super().on_mount()
        self._placing = self.set_interval(0.05, self._place, name="place-at-vm")

    def _place(self) -> None:
        try:
            timeline = self.screen.query_one(Timeline)
        except NoMatches:  # still loading: the timeline is not there yet
            return
        self._placing.stop()
        lanes = [i for i, lane in enumerate(timeline.store.lanes) if lane.vm_pid == self.vm_pid]
        self.placed = True
        if lanes:
            timeline.select_lane(lanes[0])


def browse_fleet(table: FleetTable, source: str) -> int:
    """The fleet table, then the timeline of each VM chosen, back to the table on `q`."""
    state = FleetState()
    while True:
        choice = FleetApp(table, source=source, state=state).run()
        if choice is None:
            return 0
        trace, vm_pid = choice
        TimelineAtVm(trace, vm_pid).run()

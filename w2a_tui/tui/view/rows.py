"""The timeline's rows: one header row per VM (collapsible), then one row per vCPU lane."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from w2a_tui.printable import printable


class LaneLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def vm_pid(self) -> int: ...
    @property
    def vm_name(self) -> str: ...
    @property
    def vcpu(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def comm(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Row:
    """`lane` is -1 for a VM header row."""

    vm_pid: int
    vm_name: str
    lane: int = -1
    vcpu: int = -1
    tid: int = -1
    comm: str = ""
    n_lanes: int = 0
    unit: str = "vCPU"  # what a lane is: a vCPU, or a host CPU ("pCPU")

    @property
    def is_vm(self) -> bool:
        return self.lane < 0

    def label(self, collapsed: bool = False) -> str:
        if self.is_vm:
            arrow = "▸" if collapsed else "▾"
            if self.unit != "vCPU":
                return f"{arrow} host: {self.n_lanes} {self.unit}"
            return f"{arrow} {printable(self.vm_name)} [{self.vm_pid}] {self.n_lanes} vCPU"
        if self.unit != "vCPU":
            return f"  {self.unit} {self.vcpu}"
        return f"  vCPU {self.vcpu} {self.tid}"

    def detail(self) -> str:
        """The second line of a tall lane: the thread's name."""
        return f"  {printable(self.comm)}" if self.comm and self.unit == "vCPU" else ""


def build_rows(
    lanes: Sequence[LaneLike], collapsed: Iterable[int] = (), unit: str = "vCPU"
) -> list[Row]:
    """VM header rows in lane order (lanes are sorted by vm pid, vcpu), each followed by its
    lanes unless the VM pid is in `collapsed`. `unit` "pCPU": host CPU lanes, one header."""
    hidden = set(collapsed)
    counts: dict[int, int] = {}
    for lane in lanes:
        counts[lane.vm_pid] = counts.get(lane.vm_pid, 0) + 1
    rows: list[Row] = []
    current: int | None = None
    for lane in lanes:
        if lane.vm_pid != current:
            current = lane.vm_pid
            rows.append(Row(lane.vm_pid, lane.vm_name, n_lanes=counts[lane.vm_pid], unit=unit))
        if lane.vm_pid not in hidden:
            rows.append(
                Row(lane.vm_pid, lane.vm_name, lane.index, lane.vcpu, lane.tid, lane.comm, 0, unit)
            )
    return rows


def row_of_lane(rows: Sequence[Row], lane: int) -> int:
    """Index of the lane's row, else of its VM's header row (collapsed), else 0."""
    for i, row in enumerate(rows):
        if row.lane == lane:
            return i
    return 0


def fits_tall(rows: Sequence[Row], lines: int) -> bool:
    """Whether every row fits in `lines` with two lines per lane (VM rows keep one)."""
    lanes = sum(1 for r in rows if not r.is_vm)
    return len(rows) + lanes <= lines


def line_layout(rows: Sequence[Row], top: int, lines: int, tall: bool) -> list[tuple[int, int]]:
    """(row index, line within the row) for each of `lines` screen lines from row `top`;
    rows past the end are left out. A tall lane takes two lines: its second line shows
    the lane again (a thicker bar, easier to read) beside the thread's name."""
    out: list[tuple[int, int]] = []
    for index in range(top, len(rows)):
        height = 2 if tall and not rows[index].is_vm else 1
        for sub in range(height):
            if len(out) == lines:
                return out
            out.append((index, sub))
    return out

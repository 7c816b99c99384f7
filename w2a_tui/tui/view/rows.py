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


MAX_LANE_LINES = 4  # past this a bar only grows thicker, it shows nothing more
SPARE_LINES = 10  # what a lane taller than two lines must leave blank (the drill-down's height)


def lane_lines(rows: Sequence[Row], lines: int, *, mono: bool = False) -> int:
    """Screen lines per lane when `lines` are free under the ruler: one; two when every row
    fits that way; more (up to MAX_LANE_LINES) only on a tall terminal, where all rows fit
    with SPARE_LINES still blank. So 80x24 keeps one line, 120x36 two (the 1.5-line look)
    and 200x60 four instead of leaving a third of the screen empty. With NO_COLOR
    always one: a half block would read as one more glyph."""
    if mono or not fits_tall(rows, lines):
        return 1
    lanes = sum(1 for r in rows if not r.is_vm)
    heads = len(rows) - lanes
    height = 2
    while height < MAX_LANE_LINES and heads + (height + 1) * lanes <= lines - SPARE_LINES:
        height += 1
    return height


def line_layout(
    rows: Sequence[Row], top: int, lines: int, tall: bool = False, *, lane_height: int = 0
) -> list[tuple[int, int]]:
    """(row index, line within the row) for each of `lines` screen lines from row `top`;
    rows past the end are left out. A lane takes `lane_height` lines (`tall`: 2, else 1):
    its last line draws the lane again as a half-height bar (a gap to the next lane), the
    lines between as full bars, the second one beside the thread's name."""
    height = lane_height or (2 if tall else 1)
    out: list[tuple[int, int]] = []
    for index in range(top, len(rows)):
        for sub in range(1 if rows[index].is_vm else height):
            if len(out) == lines:
                return out
            out.append((index, sub))
    return out

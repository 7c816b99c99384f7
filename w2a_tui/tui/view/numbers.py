"""The summary's numbers per VM, as `analyze` prints them: the verdict, per vCPU the % of
each state (of its known time) beside a bar, and who preempted its vCPUs. Pure rich
renderables from `VmTotals`; the columns that do not fit the width are left out, the
vCPU number and the bar never are (VM names, however long, go on their own line)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from w2a_tui.analysis.report import format_ns
from w2a_tui.analysis.totals import VcpuTotals, VmTotals
from w2a_tui.model import N_STATES, WAIT_STATES, State
from w2a_tui.printable import printable
from w2a_tui.tui.view.looks import LOOKS

# (title, states summed) of the percentage columns, in the order they are dropped last.
PCT_COLUMNS: Final[tuple[tuple[str, frozenset[State]], ...]] = (
    ("guest", frozenset({State.GUEST})),
    ("preempt", frozenset({State.PREEMPTED})),
    ("wait", frozenset(WAIT_STATES)),
    ("hyp", frozenset({State.HYPERVISOR})),
    ("ready", frozenset({State.READY})),
    ("blocked", frozenset({State.BLOCKED})),
)
SHOWN_ORDER: Final = ("guest", "hyp", "preempt", "ready", "blocked", "wait")
PCT_CELLS: Final = 8  # "preempt" + a space; values are "100.0"
LABEL_CELLS: Final = 8  # "vCPU 127"
MIN_BAR: Final = 10


def pct(part: int, whole: int) -> str:
    """`analyze`'s percentage: one decimal, `-` without known time."""
    return f"{100 * part / whole:.1f}" if whole else "-"


def columns_for(width: int) -> list[str]:
    """The percentage columns that fit beside a label and a bar of at least `MIN_BAR`."""
    room = width - LABEL_CELLS - MIN_BAR - 2
    n = max(1, min(len(PCT_COLUMNS), room // PCT_CELLS))
    kept = {title for title, _ in PCT_COLUMNS[:n]}
    return [title for title in SHOWN_ORDER if title in kept]


def stacked_bar(totals: Sequence[int] | np.ndarray, width: int, mono: bool) -> Text:
    """`width` cells split among states in proportion to their time (largest remainder, so
    the cells add up exactly)."""
    values = np.asarray(totals, dtype=np.int64)
    total = int(values.sum())
    if total <= 0 or width <= 0:
        return Text(" " * max(width, 0))
    exact = values.astype(np.float64) * width / total
    cells = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - cells), kind="stable")[: width - int(cells.sum())]:
        cells[i] += 1
    text = Text()
    for state in range(N_STATES):
        n = int(cells[state])
        if n:
            look = LOOKS[State(state)]
            if mono:
                text.append(look.glyph * n)
            else:
                text.append(" " * n, style=f"on {look.colour}")
    return text


def _state_vector(v: VcpuTotals) -> list[int]:
    out = [0] * N_STATES
    for s in State:
        if s is not State.UNKNOWN:
            out[s] = v.time_by_state.get(s.label, 0)
    return out


def vcpu_table(vm: VmTotals, width: int, mono: bool) -> Table:
    """One row per vCPU: `vCPU n`, a bar of its states, the % of each state shown."""
    shown = columns_for(width)
    states = dict(PCT_COLUMNS)
    # Columns are separated by one cell: label, bar, then `shown` right-aligned numbers.
    bar = max(MIN_BAR, width - LABEL_CELLS - len(shown) * PCT_CELLS - 1)
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold")
    table.add_column("vCPU", no_wrap=True, width=LABEL_CELLS - 1)
    table.add_column(
        "% of known time", no_wrap=True, width=bar, header_style="dim", overflow="crop"
    )
    for title in shown:
        table.add_column(title, justify="right", no_wrap=True, width=PCT_CELLS - 1)
    for v in vm.vcpus:
        cells = [
            pct(sum(v.time_by_state.get(s.label, 0) for s in states[t]), v.span_ns) for t in shown
        ]
        table.add_row(f"vCPU {v.vcpu}", stacked_bar(_state_vector(v), bar, mono), *cells)
    return table


def preemptor_table(vm: VmTotals) -> Table | None:
    """The threads that took the VM's pCPUs while its vCPUs were runnable."""
    if not vm.top_preemptors:
        return None
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, header_style="bold")
    table.add_column("preempted by", no_wrap=True, max_width=32)
    table.add_column("tid", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    for p in vm.top_preemptors:
        table.add_row(
            p.comm, str(p.tid) if p.tid >= 0 else "?", format_ns(p.time_ns), f"{p.count:,}"
        )
    return table


def vm_heading(vm: VmTotals, label: str) -> Text:
    n = len(vm.vcpus)
    return Text.assemble(
        (f"VM {label}", "bold"),
        f" · {n} vCPU{'s' if n != 1 else ''}",
        "\n→ ",
        (printable(vm.verdict), "bold"),
    )


def vm_numbers(vm: VmTotals, label: str, width: int, mono: bool) -> RenderableType:
    """Heading and verdict, the vCPU table, then who preempted them (if anyone did)."""
    parts: list[RenderableType] = [vm_heading(vm, label), vcpu_table(vm, width, mono)]
    preemptors = preemptor_table(vm)
    if preemptors is not None:
        parts.append(preemptors)
    parts.append(Text(""))
    return Group(*parts)

"""Ground truth of the simulated vCPU states, in the contract's export format.

Each vCPU lane is a list of rows `(start, state, exit, source, vector, waker_tid, next_tid)`,
contiguous by construction (a row ends where the next starts; the last one ends at the
trace's last event). Rows the simulator can no longer change are streamed to a per-lane
spool file so that 10 M-event traces do not hold every interval in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, TextIO

from w2a_tui.model import WAIT_STATES, Source, State

CSV_HEADER: Final = (
    "vm_pid,vm_name,vcpu,tid,start_ns,end_ns,state,source,vector,"
    "waker_tid,waker_comm,exit_reason,next_comm\n"
)

Row = tuple[int, int, int, int, int, int, int]
NO_THREAD: Final = -1  # waker / next thread unknown
# Waker and next thread are context keys; `who(key)` gives the (tid, comm) they stand for
# (swapper/N is tid 0; a thread renamed during the trace has one key per comm).
Who = Callable[[int], tuple[int, str]]

# States whose row shows the last exit reason, and whose row shows a waker.
_SHOWS_EXIT: Final = frozenset({State.HYPERVISOR, State.PREEMPTED, State.BLOCKED} | WAIT_STATES)
_SHOWS_WAKER: Final = frozenset({State.BLOCKED, State.READY} | WAIT_STATES)
_LABEL: Final = {int(s): s.label for s in State}
_SOURCE_LABEL: Final = {int(s): s.label for s in Source}


class Lane:
    """One vCPU's truth rows; `base` is the absolute index of `rows[0]`."""

    __slots__ = ("_spool", "base", "prefix", "rows", "tid", "vcpu", "vm_pid")

    def __init__(self, vm_pid: int, vm_name: str, vcpu: int, tid: int, start_ns: int) -> None:
        self.vm_pid = vm_pid
        self.vcpu = vcpu
        self.tid = tid
        self.prefix = f"{vm_pid},{vm_name},{vcpu},{tid},"
        self.rows: list[Row] = [(start_ns, int(State.UNKNOWN), -1, 0, -1, -1, -1)]
        self.base = 0
        self._spool: TextIO = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by close()/finish())

    def spill(self, upto: int, offset: int, who: Who) -> int:
        """Write rows[:upto] (never the last row) to the spool; return how many left."""
        upto = min(upto, len(self.rows) - 1)
        if upto <= 0:
            return 0
        rows = self.rows
        self._spool.write(
            "".join(_format(self.prefix, rows[i], rows[i + 1][0], offset, who) for i in range(upto))
        )
        del rows[:upto]
        self.base += upto
        return upto

    def finish(self, out: TextIO, end_ns: int, offset: int, who: Who) -> int:
        """Append every remaining row, the last one ending at `end_ns`; return row count."""
        self.spill(len(self.rows) - 1, offset, who)
        last = self.rows[-1]
        self._spool.write(_format(self.prefix, last, max(end_ns, last[0]), offset, who))
        self._spool.seek(0)
        count = 0
        for line in self._spool:
            out.write(line)
            count += 1
        self._spool.close()
        return count


def _format(prefix: str, row: Row, end: int, offset: int, who: Who) -> str:
    start, state, exit_reason, source, vector, waker, next_tid = row
    st = State(state)
    exit_s = str(exit_reason) if st in _SHOWS_EXIT and exit_reason >= 0 else ""
    waker_s = comm_s = ""
    if st in _SHOWS_WAKER and waker != NO_THREAD:
        tid, comm_s = who(waker)
        waker_s = str(tid)
    next_s = who(next_tid)[1] if st is State.PREEMPTED and next_tid != NO_THREAD else ""
    vector_s = str(vector) if vector >= 0 else ""
    return (
        f"{prefix}{start + offset},{end + offset},{_LABEL[state]},{_SOURCE_LABEL[source]},"
        f"{vector_s},{waker_s},{comm_s},{exit_s},{next_s}\n"
    )


def write_csv(path: Path, lanes: list[Lane], end_ns: int, offset: int, who: Who) -> int:
    """Write the truth CSV, lanes sorted by (vm pid, vcpu); return the number of rows."""
    total = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(CSV_HEADER)
        for lane in sorted(lanes, key=lambda ln: (ln.vm_pid, ln.vcpu)):
            total += lane.finish(out, end_ns, offset, who)
    return total

"""The contract's export rows: one per interval, sorted by vm, vcpu, start.

Column rules (docs/vcpu-states.md, Export): `source` only for waits; `vector` only when rule 1
or 2 found one; `exit_reason` for hypervisor, preempted, blocked and waits (not `ready`,
not `guest`); `next_comm` for preempted; `waker_tid`/`waker_comm` (the sched_waking
emitter) for the intervals a wake-up ends or starts: waits, blocked and ready. `vm_name`
is empty when the trace never names the VM (the on-screen placeholder `pid N` is not a
name); an unidentified VM (no pid source at all) has a negative `vm_pid`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from w2a_tui.analysis.finish import placeholder_name
from w2a_tui.model import WAIT_STATES, AnalysisResult, State

EXPORT_COLUMNS: Final = (
    "vm_pid",
    "vm_name",
    "vcpu",
    "tid",
    "start_ns",
    "end_ns",
    "state",
    "source",
    "vector",
    "waker_tid",
    "waker_comm",
    "exit_reason",
    "next_comm",
)

# One row; None marks an empty cell.
Row = tuple[int, str, int, int, int, int, str, str, int | None, int | None, str, int | None, str]

_SHOWS_EXIT: Final = frozenset({State.HYPERVISOR, State.PREEMPTED, State.BLOCKED} | WAIT_STATES)
_SHOWS_WAKER: Final = frozenset({State.BLOCKED, State.READY} | WAIT_STATES)


def export_rows(result: AnalysisResult) -> Iterator[Row]:
    """Rows in the contract's order (lanes are already sorted by vm pid, vcpu)."""
    names = {vm.pid: "" if vm.name == placeholder_name(vm.pid) else vm.name for vm in result.vms}
    labels = {s.value: s.label for s in State}
    shows_exit = {s.value for s in _SHOWS_EXIT}
    shows_waker = {s.value for s in _SHOWS_WAKER}
    waits = {s.value for s in WAIT_STATES}
    preempted = State.PREEMPTED.value
    evidence = result.evidence
    for lane in sorted(result.lanes, key=lambda x: (x.vm_pid, x.vcpu)):
        name = names.get(lane.vm_pid, "")
        starts, states, exits, evids = lane.starts, lane.states, lane.exit_reasons, lane.evidence
        n = len(starts)
        for i in range(n):
            state = states[i]
            end = starts[i + 1] if i + 1 < n else lane.end_ns
            eid = evids[i]
            ev = evidence[eid] if eid >= 0 else None
            source = ""
            vector = None
            waker_tid = None
            waker_comm = ""
            next_comm = ""
            if ev is not None:
                if state in waits:
                    source = ev.source.label
                    vector = ev.vector if ev.vector >= 0 else None
                if state in shows_waker and ev.waker_tid >= 0:
                    waker_tid = ev.waker_tid
                    waker_comm = ev.waker_comm
                if state == preempted:
                    next_comm = ev.next_comm
            elif state in waits:
                source = "none"
            exit_reason = exits[i] if state in shows_exit and exits[i] >= 0 else None
            yield (
                lane.vm_pid,
                name,
                lane.vcpu,
                lane.tid,
                starts[i],
                end,
                labels[state],
                source,
                vector,
                waker_tid,
                waker_comm,
                exit_reason,
                next_comm,
            )

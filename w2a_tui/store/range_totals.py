"""`analyze`'s totals computed from a store, for the whole trace or a time range: what the
TUI's summary shows. The whole-trace figures equal `compute_totals` of the same analysis
(tested), because the per-VM merge and verdict are `analysis.totals`' own; only the
per-vCPU facts are read from the store's columns (no object per interval).

Over a range `[t0, t1)`: time per state is clipped to the range; wait statistics and
preemptions count the intervals that overlap it, with their whole durations (as the
store's `durations`); exits count the hypervisor intervals that overlap it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from w2a_tui.analysis.totals import (
    Preemptor,
    VcpuTotals,
    VmTotals,
    WaitStats,
    _ranked,
    _vm_totals,
)
from w2a_tui.model import WAIT_STATES, Source, State, VmInfo
from w2a_tui.store.store import StateStore

I64 = npt.NDArray[np.int64]
_WAITS = sorted(WAIT_STATES, key=int)


def range_totals(
    store: StateStore,
    lanes: Sequence[int] | None = None,
    t0: int | None = None,
    t1: int | None = None,
    *,
    top: int = 5,
) -> list[VmTotals]:
    """Per VM (in pid order) the totals of `lanes` (default all) within `[t0, t1)`."""
    chosen = sorted(range(len(store.lanes)) if lanes is None else {int(x) for x in lanes})
    whole = t0 is None and t1 is None
    waits = store.rows_in_states(chosen, _WAITS, t0, t1)
    preempted = store.rows_in_states(chosen, [State.PREEMPTED], t0, t1)
    hyp = None if whole else store.rows_in_states(chosen, [State.HYPERVISOR], t0, t1)
    by_vm: dict[int, list[tuple[VcpuTotals, I64, list[Preemptor]]]] = {}
    records = store.records
    for lane in chosen:
        info = store.lanes[lane]
        record = records[lane]
        spent = store.totals(lane, t0, t1)
        time_by_state = {s.label: int(spent[s]) for s in State if s is not State.UNKNOWN}
        span = int(spent.sum() - spent[State.UNKNOWN])
        mine = waits[0] == lane
        durations = waits[2][mine]
        if whole:
            exits = dict(record.exit_counts)
        else:
            assert hyp is not None
            exits = _count(hyp[4][(hyp[0] == lane) & (hyp[4] >= 0)])
        preemptors = _preemptors(store, preempted, lane)
        vcpu = VcpuTotals(
            vm_pid=info.vm_pid,
            vcpu=info.vcpu,
            tid=info.tid,
            comm=info.comm,
            span_ns=span,
            time_by_state=time_by_state,
            wait_by_reason={s.label.removeprefix("wait_"): time_by_state[s.label] for s in _WAITS},
            exits=exits,
            waits=WaitStats.of(durations),
            top_preemptors=preemptors[:top],
            still_waiting_ns=_still_waiting(store, lane, t0, t1),
        )
        by_vm.setdefault(info.vm_pid, []).append((vcpu, durations, preemptors))
    infos = {vm.pid: vm for vm in store.vms}
    return [
        _vm_totals(infos.get(pid) or VmInfo(pid=pid, name=f"pid {pid}"), entries, top)
        for pid, entries in sorted(by_vm.items())
    ]


def _still_waiting(store: StateStore, lane: int, t0: int | None, t1: int | None) -> int:
    """The lane's last interval, within the range, when it is a wait the trace ended in."""
    n = store.lanes[lane].n_intervals
    if not n:
        return 0
    last = store.interval(lane, n - 1)
    if last.evidence is None or last.evidence.source is not Source.OPEN:
        return 0
    lo = last.start if t0 is None else max(last.start, t0)
    hi = last.end if t1 is None else min(last.end, t1)
    return max(0, hi - lo)


def _count(values: I64) -> dict[int, int]:
    reasons, counts = np.unique(values, return_counts=True)
    return {int(r): int(c) for r, c in zip(reasons, counts, strict=True)}


def _preemptors(
    store: StateStore, rows: tuple[I64, I64, I64, I64, I64], lane: int
) -> list[Preemptor]:
    """Who took the lane's pCPU, ranked by time (as `analysis.totals`)."""
    mine = rows[0] == lane
    durations, evidence = rows[2][mine], rows[3][mine]
    time: Counter[tuple[str, int]] = Counter()
    count: Counter[tuple[str, int]] = Counter()
    if not len(durations):
        return []
    columns = store.evidence_table.columns()
    strings = store.evidence_table.strings
    known = evidence >= 0
    comm_ids = np.full(len(evidence), -1, np.int64)
    tids = np.full(len(evidence), -1, np.int64)
    comm_ids[known] = columns["next_comm"][evidence[known]]
    tids[known] = columns["next_tid"][evidence[known]]
    keys = np.stack([comm_ids, tids], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    spent = np.zeros(len(unique), np.int64)
    np.add.at(spent, inverse, durations)
    seen = np.bincount(inverse, minlength=len(unique))
    for (comm_id, tid), ns, n in zip(unique.tolist(), spent.tolist(), seen.tolist(), strict=True):
        key = ("?", -1) if comm_id < 0 else (strings[comm_id] or "?", tid)
        time[key] += ns
        count[key] += n
    return _ranked(time, count)

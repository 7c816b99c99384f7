"""`analyze`'s totals computed from a store, for the whole trace or a time range: what the
TUI's summary shows. The whole-trace figures equal `compute_totals` of the same analysis
(tested), because the per-vCPU figures, the per-VM merge and the verdict are
`analysis.totals`' own; only the lane's inputs (`LaneFigures`) are read from the store's
columns over the range (no object per interval).

Over a range `[t0, t1)`: time per state is clipped to the range; wait statistics and
preemptions count the intervals that overlap it, with their whole durations (as the
store's `durations`); exits count the hypervisor intervals that overlap it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from w2a_tui.analysis.totals import (
    LaneFigures,
    LaneTotals,
    VmTotals,
    lane_totals,
    store_preemptor_keys,
    vm_totals,
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
    preemptor_keys = store_preemptor_keys(store)
    by_vm: dict[int, list[LaneTotals]] = {}
    records = store.records
    for lane in chosen:
        info = store.lanes[lane]
        if whole:
            exits = dict(records[lane].exit_counts)
        else:
            assert hyp is not None
            exits = _count(hyp[4][(hyp[0] == lane) & (hyp[4] >= 0)])
        mine = preempted[0] == lane
        figures = LaneFigures(
            info.vm_pid,
            info.vcpu,
            info.tid,
            info.comm,
            exits,
            [int(x) for x in store.totals(lane, t0, t1)],
            waits[2][waits[0] == lane],
            preempted[2][mine],
            preempted[3][mine],
            preemptor_keys,
            _still_waiting(store, lane, t0, t1),
        )
        by_vm.setdefault(info.vm_pid, []).append(lane_totals(figures, top))
    infos = {vm.pid: vm for vm in store.vms}
    return [
        vm_totals(infos.get(pid) or VmInfo(pid=pid, name=f"pid {pid}"), entries, top)
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

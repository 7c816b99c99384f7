"""Totals of an AnalysisResult (fresh or cached): time per state, wait time per reason,
exits per reason, wait-duration distribution, top preempting threads, one verdict per VM."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.analysis.tables import exit_reason_name
from w2a_tui.model import N_STATES, WAIT_STATES, AnalysisResult, Source, State, VmInfo
from w2a_tui.store.build import ints
from w2a_tui.store.store import StateStore

# Wait-duration histogram: one bucket per decade of nanoseconds.
DECADES: Final[tuple[tuple[int, str], ...]] = (
    (1_000, "<1us"),
    (10_000, "1-10us"),
    (100_000, "10-100us"),
    (1_000_000, "0.1-1ms"),
    (10_000_000, "1-10ms"),
    (100_000_000, "10-100ms"),
    (1_000_000_000, "0.1-1s"),
    (2**63 - 1, ">=1s"),
)
_WAIT_VALUES: Final = np.array(sorted(int(s) for s in WAIT_STATES), dtype=np.uint8)


@dataclass(slots=True)
class WaitStats:
    """Number and duration distribution (ns) of wait intervals."""

    count: int = 0
    total_ns: int = 0
    mean_ns: int = 0
    p50_ns: int = 0
    p90_ns: int = 0
    p99_ns: int = 0
    max_ns: int = 0
    histogram: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, durations: np.ndarray) -> WaitStats:
        if durations.size == 0:
            return cls(histogram={label: 0 for _, label in DECADES})
        p50, p90, p99 = percentiles(durations, (50, 90, 99))
        edges = np.array([limit for limit, _ in DECADES], dtype=np.int64)
        buckets = np.bincount(np.searchsorted(edges, durations, side="right"), minlength=len(edges))
        return cls(
            count=int(durations.size),
            total_ns=int(durations.sum()),
            # total / count is what durations.mean() gives (exact float sums below 2**53 ns)
            # whatever the order of the durations.
            mean_ns=round(int(durations.sum()) / durations.size),
            p50_ns=round(float(p50)),
            p90_ns=round(float(p90)),
            p99_ns=round(float(p99)),
            max_ns=int(durations.max()),
            histogram={label: int(buckets[i]) for i, (_, label) in enumerate(DECADES)},
        )


def percentiles(values: np.ndarray, qs: tuple[int, ...]) -> list[float]:
    """np.percentile(values, qs) (its default, linear interpolation) to the last bit, for
    a non-empty 1-d integer array, without its generic machinery: that imports numpy.ma
    (6 ms) for the np.unique it calls. tests/test_cpu_costs.py compares the two."""
    if values.dtype.kind not in "iu":
        return [float(p) for p in np.percentile(values, qs)]
    n = len(values)
    virtual = [(n - 1) * (q / 100) for q in qs]
    below = [math.floor(v) for v in virtual]
    # numpy's neighbours: index -1 (the largest) for both when at or past the last one
    picks = [(b, b + 1) if v < n - 1 else (-1, -1) for v, b in zip(virtual, below, strict=True)]
    kth = sorted({k % n for pair in picks for k in pair})
    ordered = np.partition(values, kth)
    out = []
    for v, (lo, hi) in zip(virtual, picks, strict=True):
        a, b = int(ordered[lo]), int(ordered[hi])
        t = v - lo
        diff = b - a
        # numpy's _lerp: a + diff * t, or b - diff * (1 - t) from t >= 0.5 on (in float64)
        out.append(float(b) - diff * (1 - t) if t >= 0.5 else float(a) + diff * t)
    return out


@dataclass(slots=True)
class Preemptor:
    """A thread that took a vCPU's pCPU while the vCPU was runnable."""

    comm: str
    tid: int
    time_ns: int
    count: int


@dataclass(slots=True)
class VcpuTotals:
    vm_pid: int
    vcpu: int
    tid: int
    comm: str
    span_ns: int  # time with a known state (the lane minus its `unknown` parts)
    time_by_state: dict[str, int]
    wait_by_reason: dict[str, int]
    exits: dict[int, int]
    waits: WaitStats
    top_preemptors: list[Preemptor]
    # Part of the `unknown` waits: a wait still open at the trace's end (it did not wake).
    still_waiting_ns: int = 0

    def fraction(self, state: State) -> float:
        return self.time_by_state.get(state.label, 0) / self.span_ns if self.span_ns else 0.0


@dataclass(slots=True)
class VmTotals:
    pid: int
    name: str
    isa: int
    vcpus: list[VcpuTotals]
    time_by_state: dict[str, int]
    wait_by_reason: dict[str, int]
    exits: dict[int, int]
    waits: WaitStats
    top_preemptors: list[Preemptor]
    disk_vectors: list[int]
    net_vectors: list[int]
    verdict: str = ""
    still_waiting_ns: int = 0  # see VcpuTotals
    vector_chains: list[str] = field(default_factory=list)  # how each vector was learned


@dataclass(slots=True)
class Totals:
    vms: list[VmTotals]
    first_ns: int
    last_ns: int
    warnings: list[str]


def compute_totals(result: AnalysisResult | StateStore, *, top: int = 5) -> Totals:
    """Everything `analyze` prints, from a result (fresh or cached) or straight from a
    store's columns (a cached store: no Python object per interval or per evidence row)."""
    by_vm: dict[int, list[LaneTotals]] = {}
    for lane in _lanes_of(result):
        by_vm.setdefault(lane.vm_pid, []).append(lane_totals(lane, top))
    infos = {vm.pid: vm for vm in result.vms}
    vms = [
        vm_totals(infos.get(pid) or VmInfo(pid=pid, name=f"pid {pid}"), entries, top)
        for pid, entries in sorted(by_vm.items())
    ]
    return Totals(vms, result.meta.first_ns, result.meta.last_ns, list(result.warnings))


# A vCPU's totals, its wait durations and its full preemptor list (for the VM's merge).
LaneTotals = tuple[VcpuTotals, np.ndarray, list[Preemptor]]
# For the evidence ids given (-1: none), the thread that took the pCPU: its comm as an
# index into the names returned, and its tid (-1: not known).
PreemptorKeys = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, list[str]]]


@dataclass(frozen=True, slots=True)
class LaneFigures:
    """What the totals need of one lane, whichever the source (a result, a store, or a
    time range of a store: store.range_totals)."""

    vm_pid: int
    vcpu: int
    tid: int
    comm: str
    exit_counts: dict[int, int]
    by_state: list[int]  # ns per state value
    waits: np.ndarray  # durations of the wait intervals
    preempted: np.ndarray  # durations of the preempted intervals
    preempted_evidence: np.ndarray  # their evidence ids (-1: none)
    preemptor_keys: PreemptorKeys
    still_waiting_ns: int  # the last interval when it is a wait the trace ended in


def _durations(starts: npt.NDArray[np.int64], end_ns: int) -> npt.NDArray[np.int64]:
    ends = np.empty_like(starts)
    if len(starts):
        ends[:-1] = starts[1:]
        ends[-1] = end_ns
    durations: npt.NDArray[np.int64] = ends - starts
    return durations


def _lanes_of(source: AnalysisResult | StateStore) -> Iterator[LaneFigures]:
    if isinstance(source, AnalysisResult):
        yield from _result_lanes(source)
    else:
        yield from _store_lanes(source)


def _result_lanes(result: AnalysisResult) -> Iterator[LaneFigures]:
    evidence = result.evidence

    def listed(eids: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        rows = [evidence[i] if i >= 0 else None for i in eids.tolist()]
        comms = [e.next_comm if e is not None else "" for e in rows]
        names = sorted(set(comms))
        code = {name: i for i, name in enumerate(names)}
        tids = [e.next_tid if e is not None else -1 for e in rows]
        return (
            np.array([code[c] for c in comms], dtype=np.int64),
            np.array(tids, dtype=np.int64),
            names,
        )

    # Only a lane's last interval is asked about (_open_tail): those ids, not every record.
    last_eids = {int(lane.evidence[-1]) for lane in result.lanes if len(lane.evidence)}
    open_eids = {i for i in last_eids if i >= 0 and evidence[i].source is Source.OPEN}
    for lane in result.lanes:
        states = ints(lane.states)
        durations = _durations(ints(lane.starts).astype(np.int64, copy=False), lane.end_ns)
        preempted = states == int(State.PREEMPTED)
        yield LaneFigures(
            lane.vm_pid,
            lane.vcpu,
            lane.tid,
            lane.comm,
            dict(lane.exit_counts),
            _sum_by_state(states, durations),
            durations[np.isin(states, _WAIT_VALUES)],
            durations[preempted],
            ints(lane.evidence)[preempted],
            listed,
            _open_tail(states, durations, ints(lane.evidence), open_eids),
        )


def store_preemptor_keys(store: StateStore) -> PreemptorKeys:
    """The preempting thread of evidence ids, read from the store's evidence columns."""
    table = store.evidence_table.columns()
    names = [*store.evidence_table.strings, ""]  # the last one: no evidence
    next_comm = np.append(table["next_comm"].astype(np.int64), len(names) - 1)
    next_tid = np.append(table["next_tid"].astype(np.int64), -1)

    def stored(eids: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        return next_comm[eids], next_tid[eids], names  # -1 picks the appended row

    return stored


def _store_lanes(store: StateStore) -> Iterator[LaneFigures]:
    """From the store's indexes: time per state from its checkpoints, waits from its
    per-state groups; only the preempted intervals are looked for in the states column."""
    columns = store.columns()
    table = store.evidence_table.columns()
    stored = store_preemptor_keys(store)
    open_eids = set(np.flatnonzero(table["source"] == int(Source.OPEN)).tolist())
    off = columns["lane_off"]
    for i, record in enumerate(store.records):
        a, b = int(off[i]), int(off[i + 1])
        rows = np.flatnonzero(columns["states"][a:b] == int(State.PREEMPTED))
        starts = columns["starts"][a:b]
        ends = np.where(rows + 1 < b - a, starts[np.minimum(rows + 1, b - a - 1)], record.end_ns)
        yield LaneFigures(
            record.vm_pid,
            record.vcpu,
            record.tid,
            record.comm,
            dict(record.exit_counts),
            [int(x) for x in store.totals(i)],
            store.durations(i, WAIT_STATES),
            ends - starts[rows],
            columns["evidence"][a:b][rows],
            stored,
            _open_tail(
                columns["states"][a:b],
                _durations(starts.astype(np.int64, copy=False), record.end_ns),
                columns["evidence"][a:b],
                open_eids,
            ),
        )


def _open_tail(
    states: np.ndarray, durations: np.ndarray, evidence: np.ndarray, open_eids: set[int]
) -> int:
    """The lane's last interval's duration when it is a wait the trace ended in (source
    `open`), else 0."""
    if not len(states) or int(evidence[-1]) not in open_eids:
        return 0
    return int(durations[-1])


def lane_totals(lane: LaneFigures, top: int) -> LaneTotals:
    by_state = lane.by_state
    time_by_state = {s.label: by_state[s] for s in State if s is not State.UNKNOWN}
    wait_by_reason = {
        s.label.removeprefix("wait_"): time_by_state[s.label] for s in sorted(WAIT_STATES, key=int)
    }
    span = sum(by_state) - by_state[State.UNKNOWN]
    preemptors = _preemptors(lane)
    vcpu = VcpuTotals(
        vm_pid=lane.vm_pid,
        vcpu=lane.vcpu,
        tid=lane.tid,
        comm=lane.comm,
        span_ns=span,
        time_by_state=time_by_state,
        wait_by_reason=wait_by_reason,
        exits=lane.exit_counts,
        waits=WaitStats.of(lane.waits),
        top_preemptors=preemptors[:top],
        still_waiting_ns=lane.still_waiting_ns,
    )
    return vcpu, lane.waits, preemptors


def _sum_by_state(states: np.ndarray, durations: np.ndarray) -> list[int]:
    """ns per state value, exact: one pass when float64 sums stay exact (under 2**53 ns,
    104 days per lane), else one masked sum per state."""
    if int(durations.sum()) >= 2**53 or (durations < 0).any():
        return [int(durations[states == s].sum()) for s in range(N_STATES)]
    sums = np.bincount(states, weights=durations, minlength=N_STATES)
    return [int(x) for x in sums[:N_STATES]]


def _preemptors(lane: LaneFigures) -> list[Preemptor]:
    """Preempting threads by time taken, grouped by (comm, tid) with numpy."""
    time: Counter[tuple[str, int]] = Counter()
    count: Counter[tuple[str, int]] = Counter()
    if lane.preempted.size:
        comm, tid, names = lane.preemptor_keys(lane.preempted_evidence.astype(np.int64))
        tids, tid_code = np.unique(tid, return_inverse=True)
        keys, inverse = np.unique(comm * len(tids) + tid_code, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
        sums = np.add.reduceat(lane.preempted[order], bounds)
        counts = np.bincount(inverse, minlength=len(keys))
        for key, t, n in zip(keys.tolist(), sums.tolist(), counts.tolist(), strict=True):
            name, tid_at = divmod(key, len(tids))
            who = (names[name] or "?", int(tids[tid_at]))
            time[who] += t
            count[who] += n
    return _ranked(time, count)


def _ranked(time: Counter[tuple[str, int]], count: Counter[tuple[str, int]]) -> list[Preemptor]:
    order = sorted(time, key=lambda k: (-time[k], k))
    return [Preemptor(comm, tid, time[(comm, tid)], count[(comm, tid)]) for comm, tid in order]


def vm_totals(info: VmInfo, entries: list[LaneTotals], top: int) -> VmTotals:
    vcpus = [v for v, _, _ in entries]
    time_by_state: Counter[str] = Counter()
    wait_by_reason: Counter[str] = Counter()
    exits: Counter[int] = Counter()
    ptime: Counter[tuple[str, int]] = Counter()
    pcount: Counter[tuple[str, int]] = Counter()
    for v, _, all_preemptors in entries:
        time_by_state.update(v.time_by_state)
        wait_by_reason.update(v.wait_by_reason)
        exits.update(v.exits)
        for p in all_preemptors:
            ptime[(p.comm, p.tid)] += p.time_ns
            pcount[(p.comm, p.tid)] += p.count
    all_waits = np.concatenate([w for _, w, _ in entries]) if entries else np.zeros(0, np.int64)
    totals = VmTotals(
        pid=info.pid,
        name=info.name,
        isa=info.isa,
        vcpus=vcpus,
        time_by_state={s.label: time_by_state[s.label] for s in State if s is not State.UNKNOWN},
        wait_by_reason={k: wait_by_reason[k] for k in vcpus[0].wait_by_reason} if vcpus else {},
        exits=dict(sorted(exits.items(), key=lambda kv: (-kv[1], kv[0]))),
        waits=WaitStats.of(all_waits),
        top_preemptors=_ranked(ptime, pcount)[:top],
        disk_vectors=list(info.disk_vectors),
        net_vectors=list(info.net_vectors),
        still_waiting_ns=sum(v.still_waiting_ns for v in vcpus),
        vector_chains=list(info.vector_chains),
    )
    totals.verdict = verdict(totals)
    return totals


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def verdict(vm: VmTotals) -> str:
    """One line: the most striking fact about the VM's vCPUs."""
    if not vm.vcpus:
        return "no vCPU activity."
    worst = max(vm.vcpus, key=lambda v: v.fraction(State.PREEMPTED))
    if worst.fraction(State.PREEMPTED) >= 0.10:
        who = f", mostly {worst.top_preemptors[0].comm}" if worst.top_preemptors else ""
        return (
            f"vCPU {worst.vcpu} spent {_pct(worst.fraction(State.PREEMPTED))} of its time "
            f"preempted by host threads{who}."
        )
    worst = max(vm.vcpus, key=lambda v: v.fraction(State.READY))
    if worst.fraction(State.READY) >= 0.10:
        return (
            f"vCPU {worst.vcpu} waited {_pct(worst.fraction(State.READY))} of its time for a "
            "pCPU after being woken (host CPU contention)."
        )
    worst = max(vm.vcpus, key=lambda v: v.fraction(State.HYPERVISOR))
    if worst.fraction(State.HYPERVISOR) >= 0.20:
        top_exit = max(worst.exits, key=lambda r: worst.exits[r]) if worst.exits else None
        name = exit_reason_name(vm.isa, top_exit) if top_exit is not None else ""
        why = f", mostly {name or top_exit} exits" if top_exit is not None else ""
        return (
            f"vCPU {worst.vcpu} spent {_pct(worst.fraction(State.HYPERVISOR))} of its time in "
            f"the hypervisor{why}."
        )
    span = sum(v.span_ns for v in vm.vcpus)
    waited = sum(vm.wait_by_reason.values())
    if span and waited / span >= 0.5:
        reason = max(vm.wait_by_reason, key=lambda r: vm.wait_by_reason[r])
        return (
            f"mostly idle: its vCPUs waited {_pct(waited / span)} of the time, mostly for {reason}."
        )
    running = vm.time_by_state.get(State.RUNNING.label, 0)
    if running:  # no kvm_entry/kvm_exit: guest and hypervisor time are one
        share = _pct(running / span if span else 0)
        return f"healthy: its vCPUs ran (guest or hypervisor) {share} of the time."
    guest = vm.time_by_state.get(State.GUEST.label, 0)
    return f"healthy: its vCPUs ran guest code {_pct(guest / span if span else 0)} of the time."


def totals_to_json(totals: Totals) -> dict[str, Any]:
    """Stable, plain-JSON form of the totals (keys never renamed; ns integers)."""

    def waits(w: WaitStats) -> dict[str, Any]:
        return {
            "count": w.count,
            "total_ns": w.total_ns,
            "mean_ns": w.mean_ns,
            "p50_ns": w.p50_ns,
            "p90_ns": w.p90_ns,
            "p99_ns": w.p99_ns,
            "max_ns": w.max_ns,
            "histogram": w.histogram,
        }

    def preemptors(ps: list[Preemptor]) -> list[dict[str, Any]]:
        return [{"comm": p.comm, "tid": p.tid, "time_ns": p.time_ns, "count": p.count} for p in ps]

    def exits(isa: int, counts: dict[int, int]) -> list[dict[str, Any]]:
        return [
            {"reason": r, "name": exit_reason_name(isa, r), "count": c}
            for r, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    return {
        "first_ns": totals.first_ns,
        "last_ns": totals.last_ns,
        "warnings": totals.warnings,
        "vms": [
            {
                "pid": vm.pid,
                "name": vm.name,
                "isa": vm.isa,
                "verdict": vm.verdict,
                "time_by_state_ns": vm.time_by_state,
                "wait_by_reason_ns": vm.wait_by_reason,
                "exits": exits(vm.isa, vm.exits),
                "waits": waits(vm.waits),
                "top_preemptors": preemptors(vm.top_preemptors),
                "disk_vectors": vm.disk_vectors,
                "net_vectors": vm.net_vectors,
                "still_waiting_ns": vm.still_waiting_ns,
                "vector_chains": vm.vector_chains,
                "vcpus": [
                    {
                        "vcpu": v.vcpu,
                        "tid": v.tid,
                        "comm": v.comm,
                        "span_ns": v.span_ns,
                        "time_by_state_ns": v.time_by_state,
                        "wait_by_reason_ns": v.wait_by_reason,
                        "exits": exits(vm.isa, v.exits),
                        "waits": waits(v.waits),
                        "top_preemptors": preemptors(v.top_preemptors),
                        "still_waiting_ns": v.still_waiting_ns,
                    }
                    for v in vm.vcpus
                ],
            }
            for vm in totals.vms
        ],
    }

"""Turn the state machine's tracks into an AnalysisResult: classify each wait with the
VM's learned vectors, attach evidence, drop zero-length intervals, describe VMs, warn."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from w2a_tui.analysis.capabilities import limits_of_kinds
from w2a_tui.analysis.classify import classify_vector
from w2a_tui.analysis.evidence import EvidenceTable
from w2a_tui.analysis.tables import is_hlt
from w2a_tui.analysis.tracks import HYP_AFTER_EXIT, ClosedGap, VcpuTrack
from w2a_tui.events import EventKind
from w2a_tui.model import (
    WAIT_STATES,
    AnalysisResult,
    Evidence,
    LaneData,
    Reason,
    Source,
    State,
    TraceMeta,
    VmInfo,
)

_BLOCKED = int(State.BLOCKED)
# An HLT exit's interval in a trace without sched_switch: `unknown` once its exit is counted.
_HLT_UNKNOWN = HYP_AFTER_EXIT + 1


@dataclass(frozen=True, slots=True)
class AnalysisFacts:
    """What the state machine hands over once every event is fed: its vCPU tracks (with
    their open gaps), what it learned about VMs and threads, and what the trace lacked.
    finish() reads nothing else, so it can be tested with hand-made facts."""

    meta: TraceMeta
    first_ns: int  # the trace's time range (the reader's, else the events seen)
    last_ns: int
    event_count: int
    vcpus: Mapping[tuple[int, int], VcpuTrack]  # by (vm pid, vcpu_id)
    vector_table: Mapping[int, Reason]  # the guest's fixed vectors (timer, IPIs)
    learned: Mapping[int, Mapping[int, Reason]]  # per VM: vectors its threads taught
    io_tids: Mapping[int, set[int]]  # per VM
    vhost_tids: Mapping[int, set[int]]  # per VM
    guest_names: Mapping[int, str]  # VM pid -> `-name guest=NAME`
    comms: Mapping[int, str]  # tid -> latest comm
    lost: Mapping[int, Sequence[int]]  # cpu -> [count, first begin, last end, packets]
    seen_waking: bool
    seen_wakeup: bool
    seen_inj: bool
    unattributed: int  # KVM events no thread could be found for
    evidence: EvidenceTable  # records stored while feeding (preemptions)
    # The event kinds the trace showed (for its limits, capabilities.py), and per VM how
    # each learned vector was learned (devices.py).
    seen_kinds: frozenset[int] = frozenset()
    vector_chains: Mapping[int, Mapping[int, str]] | None = None


def build_result(facts: AnalysisFacts) -> AnalysisResult:
    """Close open gaps, classify every wait, and build the columnar result."""
    return ResultBuilder(facts.evidence).build(facts)


class ResultBuilder:
    """Builds lanes into the shared evidence table (identical records are stored once)."""

    def __init__(self, table: EvidenceTable) -> None:
        self.table = table

    def build(self, facts: AnalysisFacts) -> AnalysisResult:
        first, last = facts.first_ns, facts.last_ns
        lanes: list[LaneData] = []
        # Without sched_switch (`perf kvm stat record`) nothing shows what follows an HLT
        # exit: halt-polling, a wait or a preemption.
        self.hlt_unknown = bool(facts.seen_kinds) and int(EventKind.SCHED_SWITCH) not in (
            facts.seen_kinds
        )
        for (vm, _vcpu), track in sorted(facts.vcpus.items()):
            if track.gap is not None:  # still open at the end: the evidence so far decides
                track.gap.open_at_end = not track.gap.switched_in
                track.closed_gaps.append(track.gap)
                track.gap = None
            if len(track.starts) and track.starts[0] > first:
                track.starts[0] = first  # the `unknown` head starts at the trace's first event
            lanes.append(self._lane(track, facts.learned.get(vm), facts.vector_table, last))
            track.release()  # the lane holds what is kept: free the gaps before the next
        meta = _meta_with_range(facts.meta, first, last, facts.event_count)
        return AnalysisResult(
            meta=meta,
            vms=_vm_infos(facts, lanes),
            lanes=lanes,
            evidence=self.table.records,
            warnings=_warnings(facts, lanes),
        )

    def _lane(
        self,
        track: VcpuTrack,
        learned: Mapping[int, Reason] | None,
        table: Mapping[int, Reason],
        end_ns: int,
    ) -> LaneData:
        n = len(track.starts)
        evidence = array(_evidence_typecode(len(self.table) + n), [-1]) * n
        for index, eid in track.marks:
            evidence[index] = eid
        states = track.states
        for gap in track.closed_gaps:
            self._classify(gap, learned, table, states, evidence)
        if self.hlt_unknown:
            _hlt_exits_unknown(states, track.exits, track.last_isa)
        exit_counts = _count_exits(states, track.exits)
        starts, states, exits, evidence = _compact(
            track.starts, states, track.exits, evidence, end_ns
        )
        exits = _narrow_exits(exits)
        return LaneData(
            vm_pid=track.vm,
            vcpu=track.vcpu_id,
            tid=max(track.tid, -1),  # a provisional tid (thread never named) is -1
            comm=track.comm,
            end_ns=max(end_ns, starts[-1]) if len(starts) else end_ns,
            starts=starts,
            states=states,
            exit_reasons=exits,
            evidence=evidence,
            exit_counts=exit_counts,
        )

    def _classify(
        self,
        gap: ClosedGap,
        learned: Mapping[int, Reason] | None,
        table: Mapping[int, Reason],
        states: array[int],
        evidence: array[int],
    ) -> None:
        """Rules 1-4 of the contract, in order, for a wait; waker evidence for `blocked`
        (an off-CPU `unknown` gap, after lost events, only gives its `ready` the waker)."""
        # One unpacking instead of a named-tuple attribute lookup per field.
        (
            interval,
            ready_index,
            wake_ts,
            waker_tid,
            waker_reason,
            acc_vec,
            acc_tid,
            acc_class,
            inj_vec,
            waker_cpu,
            acc_cpu,
            waker_comm,
            waker_ctx,
            acc_comm,
            acc_ctx,
            is_wait,
            woken,
            open_at_end,
        ) = gap
        if woken:
            waker = Evidence(
                waker_tid=waker_tid,
                waker_comm=waker_comm,
                waker_context=waker_ctx,
                wakeup_ns=wake_ts,
                waker_cpu=waker_cpu,
            )
            evidence[ready_index] = self.table.add(waker)
            if not is_wait and states[interval] == _BLOCKED:
                evidence[interval] = evidence[ready_index]
        if not is_wait:
            return
        vector = -1
        taught = 0
        if inj_vec >= 0:
            source = Source.INJ_VIRQ
            vector = inj_vec
            taught = acc_class if acc_vec == vector else 0
        elif acc_vec >= 0:
            source = Source.APIC_ACCEPT_IRQ
            vector = acc_vec
            taught = acc_class
        elif waker_reason:
            source = Source.WAKER
        elif open_at_end and not woken:
            source = Source.OPEN  # it did not wake: no rule has anything to explain
        else:
            source = Source.NONE
        if vector >= 0:
            reason = classify_vector(vector, table, learned, taught)
        elif source is Source.WAKER:
            reason = Reason(waker_reason)
        else:
            reason = Reason.UNKNOWN
        states[interval] = int(reason)
        has_emitter = acc_vec >= 0
        record = Evidence(
            source=source,
            vector=vector,
            emitter_tid=acc_tid if has_emitter else -1,
            emitter_comm=acc_comm if has_emitter else "",
            emitter_context=acc_ctx if has_emitter else "",
            emitter_cpu=acc_cpu if has_emitter else -1,
            waker_tid=waker_tid if woken else -1,
            waker_comm=waker_comm if woken else "",
            waker_context=waker_ctx if woken else "",
            wakeup_ns=wake_ts if woken else -1,
            waker_cpu=waker_cpu if woken else -1,
        )
        evidence[interval] = self.table.add(record)


def _hlt_exits_unknown(states: array[int], exits: array[int], isa: int) -> None:
    """Intervals opened by an HLT exit become `unknown` (their exit is still counted)."""
    for i, state in enumerate(states):
        if state == HYP_AFTER_EXIT and is_hlt(isa, exits[i]):
            states[i] = _HLT_UNKNOWN


def _evidence_typecode(bound: int) -> str:
    """int32 evidence ids (half the memory of int64) unless the table could outgrow them."""
    return "i" if bound < 2**31 else "q"


def _narrow_exits(exits: array[int]) -> array[int]:
    """Exit reasons as int16 (VMX basic reasons, SVM codes) or int32 when they fit: 2 bytes
    per interval instead of 8 in the result (raw VMX reasons can carry bit 31)."""
    if not len(exits):
        return exits
    values = np.frombuffer(exits, dtype=np.int64)
    lo, hi = int(values.min()), int(values.max())
    for typecode, dtype in (("h", np.int16), ("i", np.int32)):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            out: array[int] = array(typecode)
            out.frombytes(values.astype(dtype).tobytes())
            return out
    return exits


def _count_exits(states: array[int], exits: array[int]) -> dict[int, int]:
    """Exits per raw reason, from the intervals kvm_exit opened; those become `hypervisor`."""
    if not len(states):
        return {}
    st = np.frombuffer(states, dtype=np.uint8)
    opened = st == HYP_AFTER_EXIT
    hidden = st == _HLT_UNKNOWN
    opened |= hidden
    reasons, counts = np.unique(np.frombuffer(exits, dtype=np.int64)[opened], return_counts=True)
    st[opened] = int(State.HYPERVISOR)  # writes through to the array
    st[hidden] = int(State.UNKNOWN)
    return {int(r): int(c) for r, c in zip(reasons, counts, strict=True)}


def _compact(
    starts: array[int],
    states: array[int],
    exits: array[int],
    evidence: array[int],
    end_ns: int,
) -> tuple[array[int], array[int], array[int], array[int]]:
    """Drop zero-length intervals (two transitions at one timestamp: the later wins),
    clamp anything past the trace end, and merge an interval into an identical one just
    before it (e.g. `unknown` on both sides of a dropped zero-length interval; `unknown`
    carries no exit reason or evidence worth keeping apart)."""
    n = len(starts)
    if n == 0:
        return starts, states, exits, evidence
    s = np.frombuffer(starts, dtype=np.int64)
    if n > 1 and bool(np.any(s[1:] < s[:-1])):  # never expected: readers sort by time
        s = np.maximum.accumulate(s)
    keep = np.ones(n, dtype=bool)
    keep[:-1] = s[1:] != s[:-1]
    keep &= s <= end_ns
    kept = np.flatnonzero(keep)
    if len(kept) > 1:
        st = np.asarray(states)[kept]
        ex = np.asarray(exits)[kept]
        eids = np.asarray(evidence)[kept]
        same = (st[1:] == st[:-1]) & (
            ((ex[1:] == ex[:-1]) & (eids[1:] == eids[:-1])) | (st[1:] == int(State.UNKNOWN))
        )
        keep[kept[1:][same]] = False
    if bool(keep.all()):
        return starts, states, exits, evidence
    if not bool(keep.any()):
        keep[0] = True

    def pick(col: array[int]) -> array[int]:
        out: array[int] = array(col.typecode)
        out.frombytes(np.asarray(col)[keep].tobytes())
        return out

    new_starts: array[int] = array("q")
    new_starts.frombytes(s[keep].tobytes())
    return new_starts, pick(states), pick(exits), pick(evidence)


def _meta_with_range(meta: TraceMeta, first: int, last: int, count: int) -> TraceMeta:
    """The reader's meta, with the time range and count filled in when it did not know them."""
    if meta.first_ns <= 0 or (first >= 0 and first < meta.first_ns):
        meta.first_ns = max(first, 0)
    meta.last_ns = max(meta.last_ns, last)
    if meta.event_count <= 0:
        meta.event_count = count
    return meta


def _vm_infos(facts: AnalysisFacts, lanes: list[LaneData]) -> list[VmInfo]:
    infos: list[VmInfo] = []
    for vm in sorted({lane.vm_pid for lane in lanes}):
        isa = -1
        for (pid, _vcpu), track in sorted(facts.vcpus.items()):
            if pid == vm and track.last_isa >= 0:
                isa = track.last_isa
                break
        learned = facts.learned.get(vm, {})
        chains = (facts.vector_chains or {}).get(vm, {})
        infos.append(
            VmInfo(
                pid=vm,
                name=_vm_name(facts, vm),
                isa=isa,
                main_tid=vm if vm >= 0 else -1,
                io_tids=sorted(facts.io_tids.get(vm, ())),
                vhost_tids=sorted(facts.vhost_tids.get(vm, ())),
                disk_vectors=sorted(v for v, r in learned.items() if r is Reason.DISK),
                net_vectors=sorted(v for v, r in learned.items() if r is Reason.NET),
                vector_chains=[chains[v] for v in sorted(chains)],
            )
        )
    return infos


def placeholder_name(vm: int) -> str:
    """What a VM is called on screen when the trace never shows its name."""
    return f"unidentified VM {-vm}" if vm < 0 else f"pid {vm}"


def _vm_name(facts: AnalysisFacts, vm: int) -> str:
    """`-name guest=NAME` when seen, else the main thread's comm, else a placeholder."""
    if vm < 0:
        return placeholder_name(vm)
    name = facts.guest_names.get(vm) or facts.comms.get(vm, "")
    return name or placeholder_name(vm)


def _unknown_after_start(lanes: list[LaneData]) -> tuple[int, int]:
    """(count, total ns) of `unknown` intervals past each lane's head: the time that
    lost events hid (the head is the stretch before the vCPU's first evidence)."""
    count = total = 0
    for lane in lanes:
        if len(lane) < 2:
            continue
        starts = np.asarray(lane.starts, dtype=np.int64)
        ends = np.append(starts[1:], lane.end_ns)
        hidden = np.flatnonzero(np.asarray(lane.states)[1:] == int(State.UNKNOWN)) + 1
        count += len(hidden)
        total += int((ends[hidden] - starts[hidden]).sum())
    return count, total


def _warnings(facts: AnalysisFacts, lanes: list[LaneData]) -> list[str]:
    warnings: list[str] = list(facts.meta.warnings)
    for cpu, (count, begin, end, packets) in sorted(facts.lost.items()):
        span_ms = max(end - begin, 0) / 1e6
        warnings.append(
            f"{count or 'An unknown number of'} events were lost on CPU {cpu} ({packets} "
            "packet(s) between "
            f"{begin} and {end} ns, {span_ms:.3f} ms)."
        )
    if facts.lost:
        count, total_ns = _unknown_after_start(lanes)
        warnings.append(
            f"Because of lost events, {count} vCPU interval(s) ({total_ns / 1e6:.3f} ms in "
            "all) are `unknown`: from the loss to the vCPU's next recorded event; a loss on "
            "another CPU can still hide a wake-up or a short run of a vCPU believed off-CPU."
        )
    if lanes and facts.seen_kinds:
        warnings.extend(limit.text for limit in limits_of_kinds(facts.seen_kinds))
    if any(lane.vm_pid < 0 for lane in lanes):
        warnings.append(
            "Some vCPU threads could not be tied to a VMM process (no pid context, "
            "statedump or fork event): they are grouped into unidentified VMs."
        )
    unnamed = sum(1 for lane in lanes if lane.tid < 0)
    if unnamed:
        warnings.append(
            f"{unnamed} vCPU thread(s) ran on a CPU that never switched threads during the "
            "trace, without tid context or statedump: shown with tid -1 in unidentified VMs."
        )
    if facts.unattributed:
        warnings.append(
            f"{facts.unattributed} KVM events ran on a CPU whose current thread was unknown "
            "(no tid context, and no sched_switch there yet or since lost events): they "
            "were ignored."
        )
    if lanes and not facts.seen_waking and not facts.seen_wakeup:
        warnings.append(
            "The trace has no sched_waking/sched_wakeup events: waits end at switch-in, "
            "there is no `ready` state and the waker rule cannot decide reasons."
        )
    wait_values = {int(s) for s in WAIT_STATES}
    if lanes and not facts.seen_inj and any(wait_values & set(lane.states) for lane in lanes):
        warnings.append(
            "The trace has no kvm_inj_virq events (APICv/AVIC host, or the event was not "
            "enabled): wait reasons come from kvm_apic_accept_irq and wakers only."
        )
    return warnings

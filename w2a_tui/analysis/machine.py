"""The W2A state machine of the contract (vcpu-states.md), fed with decoded event batches.

Usage: `Analyzer(meta).feed(batch)` for every batch in time order, then `.finish()`.
It needs no trace reader: unit tests and benchmarks feed hand-made tuples.

In short: a vCPU is `(vm pid, vcpu_id)`, its lane starts at its first KVM event, each
vCPU has at most one open gap (off-CPU interval awaiting its reason), waits are
classified at the end with the vectors each VM taught, and time where lost events may
hide a vCPU's transitions is `unknown`. Thread identity lives in `identity.py`, the
result is built by `finish.py` from the facts the machine hands over. The decisions the
contract leaves open, and why, are in docs/analysis.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from w2a_tui.analysis.classify import (
    HRTIMER_CONTEXT,
    NO_CLASS,
    TASK_CONTEXT,
    context_reason,
    default_vector_table,
    irq_context,
    is_iothread,
    softirq_context,
    vhost_owner,
)
from w2a_tui.analysis.devices import (
    CLASS_LABEL,
    DISK,
    NET,
    NO_CHAIN,
    ChainParts,
    DeviceChains,
    VectorVotes,
    cause_class,
    merged,
)
from w2a_tui.analysis.evidence import EvidenceTable
from w2a_tui.analysis.exitless import ExitlessEvents
from w2a_tui.analysis.finish import AnalysisFacts, build_result
from w2a_tui.analysis.identity import ThreadIdentity
from w2a_tui.analysis.runs import (
    HAS_EXIT,
    HAS_INJ,
    RUN_COUNT,
    RUN_END_STATE,
    RUN_EXITS,
    RUN_FLAGS,
    RUN_LAST_EXIT,
    RUN_LAST_ISA,
    RUN_LAST_TS,
    RUN_LEAD,
    RUN_STARTS,
    RUN_STATES,
    VCPU_RUN,
    RunClock,
    RunConflict,
)
from w2a_tui.analysis.tables import is_hlt
from w2a_tui.analysis.tracks import (
    HYP_AFTER_EXIT,
    CpuTrack,
    Gap,
    PendingAccept,
    VcpuTrack,
    WakeInfo,
    is_runnable,
)
from w2a_tui.events import (
    ACCEPT_APICID,
    ACCEPT_VECTOR,
    CPU,
    ENTRY_VCPU,
    EXEC_TID,
    EXIT_ISA,
    EXIT_REASON,
    EXIT_VCPU,
    FORK_CHILD_TID,
    FORK_PARENT_TID,
    INJ_SOFT,
    INJ_VECTOR,
    IRQ_NAME,
    IRQ_NUMBER,
    KIND,
    LOST_BEGIN,
    LOST_COUNT,
    LOST_END,
    PID,
    PROCNAME,
    SOFTIRQ_VECTOR,
    SWITCH_NEXT_COMM,
    SWITCH_NEXT_TID,
    SWITCH_PREV_COMM,
    SWITCH_PREV_STATE,
    SWITCH_PREV_TID,
    TID,
    TS,
    WAKE_TID,
    Batch,
    Event,
    EventKind,
)
from w2a_tui.model import AnalysisResult, Evidence, Reason, State, TraceMeta

_K_ENTRY: Final = int(EventKind.KVM_ENTRY)
_K_EXIT: Final = int(EventKind.KVM_EXIT)
_K_SWITCH: Final = int(EventKind.SCHED_SWITCH)
_GUEST: Final = int(State.GUEST)
_HYP: Final = int(State.HYPERVISOR)
_K_WAKING: Final = int(EventKind.SCHED_WAKING)
_K_WAKEUP: Final = int(EventKind.SCHED_WAKEUP)
_K_INJ: Final = int(EventKind.KVM_INJ_VIRQ)
_K_LOST: Final = int(EventKind.LOST_EVENTS)
_RUNNING: Final = int(State.RUNNING)
_K_ACCEPT: Final = int(EventKind.KVM_APIC_ACCEPT_IRQ)
_UNKNOWN: Final = int(State.UNKNOWN)
_READY: Final = int(State.READY)
_PREEMPTED: Final = int(State.PREEMPTED)
_BLOCKED: Final = int(State.BLOCKED)
_WAIT_UNKNOWN: Final = int(State.WAIT_UNKNOWN)
_MAX_CONTEXT_DEPTH: Final = 16

# Every kind the analysis reads: readers may skip decoding the others.
NEEDED_KINDS: Final = frozenset(
    {
        EventKind.KVM_ENTRY,
        EventKind.KVM_EXIT,
        EventKind.KVM_INJ_VIRQ,
        EventKind.KVM_APIC_ACCEPT_IRQ,
        EventKind.SCHED_SWITCH,
        EventKind.SCHED_WAKING,
        EventKind.SCHED_WAKEUP,
        EventKind.SCHED_PROCESS_FORK,
        EventKind.SCHED_PROCESS_EXEC,
        EventKind.STATEDUMP_PROCESS_STATE,
        EventKind.IRQ_HANDLER_ENTRY,
        EventKind.IRQ_HANDLER_EXIT,
        EventKind.SOFTIRQ_ENTRY,
        EventKind.SOFTIRQ_EXIT,
        EventKind.HRTIMER_EXPIRE_ENTRY,
        EventKind.HRTIMER_EXPIRE_EXIT,
        EventKind.LOST_EVENTS,
        EventKind.KVM_VCPU_WAKEUP,
        EventKind.KVM_HALT_POLL_NS,
        EventKind.KVM_PIO,
        EventKind.KVM_USERSPACE_EXIT,
        EventKind.BLOCK_RQ_COMPLETE,
        EventKind.NETIF_RECEIVE_SKB,
    }
)


class Analyzer(ExitlessEvents):
    """Streams events through the per-vCPU state machine; memory per vCPU is its lane plus
    one open gap."""

    def __init__(self, meta: TraceMeta, vector_table: Mapping[int, Reason] | None = None) -> None:
        self.meta = meta
        self.vector_table: dict[int, Reason] = (
            dict(vector_table) if vector_table is not None else default_vector_table()
        )
        self.cpus: dict[int, CpuTrack] = {}
        self.identity = ThreadIdentity(self.cpus)
        # The identity's tables, bound here for the hot loop and the rules.
        self.by_tid = self.identity.by_tid
        self.vcpus = self.identity.vcpus
        self.comms = self.identity.comms
        self.votes = VectorVotes()
        self.io_tids: dict[int, set[int]] = {}  # named by rule 3's wakers
        self.vhost_tids: dict[int, set[int]] = {}
        self.lost: dict[int, list[int]] = {}  # cpu -> [count, first begin, last end, packets]
        # CPUs whose lost-events window is open (no event recorded there since).
        self.open_lost: dict[int, CpuTrack] = {}
        self.lost_vcpu_spans = 0  # vCPU intervals turned `unknown` by lost events
        self.first_ns = -1
        self.last_ns = -1
        self.event_count = 0
        self.seen_waking = False
        self.seen_wakeup = False
        self.seen_inj = False
        self.seen_entry = False
        self.seen_exit = False
        self.seen_kinds: set[int] = set()  # the rarer kinds the handlers saw
        self.chains = DeviceChains()
        self.evidence = EvidenceTable()
        self._irq_labels: dict[tuple[Any, Any], str] = {}
        self._softirq_labels: dict[Any, str] = {}
        self._handlers = {
            int(EventKind.KVM_APIC_ACCEPT_IRQ): self._on_accept_irq,
            int(EventKind.SCHED_PROCESS_FORK): self._on_fork,
            int(EventKind.SCHED_PROCESS_EXEC): self._on_exec,
            int(EventKind.STATEDUMP_PROCESS_STATE): self.identity.on_statedump,
            int(EventKind.IRQ_HANDLER_ENTRY): self._on_irq_entry,
            int(EventKind.SOFTIRQ_ENTRY): self._on_softirq_entry,
            int(EventKind.HRTIMER_EXPIRE_ENTRY): self._on_hrtimer_entry,
            int(EventKind.IRQ_HANDLER_EXIT): self._on_context_exit,
            int(EventKind.SOFTIRQ_EXIT): self._on_context_exit,
            int(EventKind.HRTIMER_EXPIRE_EXIT): self._on_context_exit,
            int(EventKind.LOST_EVENTS): self._on_lost,
            int(EventKind.KVM_VCPU_WAKEUP): self._on_vcpu_wakeup,
            int(EventKind.KVM_HALT_POLL_NS): self._on_halt_poll,
            int(EventKind.KVM_PIO): self._on_vcpu_event,
            int(EventKind.KVM_USERSPACE_EXIT): self._on_vcpu_event,
            int(EventKind.BLOCK_RQ_COMPLETE): self._on_block_complete,
            int(EventKind.NETIF_RECEIVE_SKB): self._on_receive_skb,
            VCPU_RUN: self._on_run,
        }
        # Where packed runs (runs.py) end, for the check that no other CPU touches their
        # thread meanwhile; empty (and never consulted) when the reader packs nothing.
        self.run_clock = RunClock()
        self.run_until = self.run_clock.until  # empty: no _touch needed (the hot handlers)

    # ------------------------------------------------------------------ hot loop

    def feed(self, batch: Batch) -> None:
        """Consume one time-ordered batch. The three most frequent kinds are inlined, with
        literal tuple indexes (see events.py for their names: 0 TS, 1 CPU, 2 KIND, 3 TID;
        exit 6 EXIT_REASON, 7 EXIT_ISA; switch 6 PREV_COMM, 7 PREV_TID, 9 NEXT_COMM,
        10 NEXT_TID; waking 7 WAKE_TID): a named global costs a lookup per event."""
        if not batch:
            return
        if self.first_ns < 0:
            self.first_ns = batch[0][0]
        last = batch[-1][0]
        if last > self.last_ns:
            self.last_ns = last
        self.event_count += len(batch)
        self._consume(batch)

    def _consume(self, batch: Batch | tuple[Event, ...]) -> None:
        """The hot loop of `feed` (see there), without its per-batch bookkeeping."""
        by_tid = self.by_tid
        cpus = self.cpus
        comms = self.comms
        handlers = self._handlers
        open_lost = self.open_lost
        current_tid = self.identity.current_tid
        chains = self.chains
        on_waking = chains.on_waking
        device_work = chains.device_work
        last_accept = chains.last_accept
        # Constants as locals: cheaper than a global per event.
        k_exit, k_entry, hyp_after_exit, guest = _K_EXIT, _K_ENTRY, HYP_AFTER_EXIT, _GUEST
        k_switch, k_inj, k_waking, k_wakeup = _K_SWITCH, _K_INJ, _K_WAKING, _K_WAKEUP
        for ev in batch:
            kind = ev[2]
            if open_lost and ev[1] in open_lost and kind != _K_LOST:
                open_lost.pop(ev[1]).lost_end = ev[0]  # the first event recorded after a loss
            if kind == k_exit:
                tid = ev[3]
                if tid < 0:
                    tid = current_tid(ev[1])
                try:  # a KeyError is rare (a thread's first KVM event): no .get() call
                    v = by_tid[tid]
                except KeyError:
                    v = None
                if v is None or v.gap is not None or v.cpu != ev[1] or v.exitless:
                    self._exit_slow(ev, tid, v)
                    continue
                r = ev[6]
                v.last_exit = r
                v.last_isa = ev[7]
                v.starts.append(ev[0])
                v.states.append(hyp_after_exit)
                v.exits.append(r)
                v.state = hyp_after_exit
            elif kind == k_entry:
                tid = ev[3]
                if tid < 0:
                    tid = current_tid(ev[1])
                try:
                    v = by_tid[tid]
                except KeyError:
                    v = None
                if v is None or v.gap is not None or v.vcpu_id < 0 or v.cpu != ev[1] or v.exitless:
                    self._entry_slow(ev, tid, v)
                elif v.state != guest:
                    v.starts.append(ev[0])
                    v.states.append(guest)
                    v.exits.append(-1)
                    v.state = guest
            elif kind == k_switch:
                c = cpus.get(ev[1])
                if c is None:
                    c = self.identity.new_cpu(ev[1])
                prev = ev[7]
                nxt = ev[10]
                # Every thread's latest comm (one dict store): QEMU renames its main
                # thread after exec (libvirt's `process=qemu:NAME`), the last name wins.
                comms[prev] = ev[6]
                if c.tid < -1:  # the provisional thread of earlier KVM events is `prev`
                    self.identity.adopt(c.tid, prev, ev[6])
                c.tid = nxt
                c.comm = ev[9]
                c.since = ev[0]
                if c.labels:
                    c.reset_contexts()
                c.task_pending = None
                if device_work:
                    chains.on_switch(ev[1])
                v = by_tid.get(prev)
                if v is not None:
                    self._switch_out(v, ev)
                v = by_tid.get(nxt)
                if v is not None:
                    self._switch_in(v, ev)
            elif kind == k_inj:
                self.seen_inj = True
                tid = ev[3]
                if tid < 0:
                    tid = current_tid(ev[1])
                v = by_tid.get(tid)
                if v is not None and v.gap is not None:
                    self._inj_virq(v, ev)
            elif kind == k_waking:
                self.seen_waking = True
                c = cpus.get(ev[1])
                if c is not None:
                    on_waking(ev[0], ev[1], c, ev[7], ev[3] if ev[3] >= 0 else c.tid, c.comm)
                if last_accept:
                    self._accept_wake(ev)
                v = by_tid.get(ev[7])
                if v is not None:
                    if v.gap is not None or v.cpu < 0:
                        self._wake(ev, v)
                    else:
                        self._early_wake(v, ev)
            elif kind == k_wakeup:
                self.seen_wakeup = True
                if not self.seen_waking:
                    c = cpus.get(ev[1])
                    if c is not None:
                        on_waking(ev[0], ev[1], c, ev[7], ev[3] if ev[3] >= 0 else c.tid, c.comm)
                    if last_accept:
                        self._accept_wake(ev)
                    v = by_tid.get(ev[7])
                    if v is not None:
                        if v.gap is not None or v.cpu < 0:
                            self._wake(ev, v)
                        else:
                            self._early_wake(v, ev)
            else:
                handler = handlers.get(kind)
                if handler is not None:
                    handler(ev)

    def feed_all(self, batches: Iterable[Batch]) -> Analyzer:
        for batch in batches:
            self.feed(batch)
        return self

    def _on_run(self, ev: Event) -> None:
        """A packed run (runs.py): its lead as any kvm_entry, then the lane columns of the
        events after it in one go, when the lead left the vCPU running in its guest on
        that CPU (the state the columns were computed from)."""
        self._run_lead(ev[RUN_LEAD])
        self.event_count += ev[RUN_COUNT]
        last = ev[RUN_LAST_TS]
        if last > self.last_ns:
            self.last_ns = last
        flags = ev[RUN_FLAGS]
        if flags & HAS_INJ:
            self.seen_inj = True
        tid, cpu = ev[TID], ev[CPU]
        v = self.by_tid.get(tid)
        if v is None:  # a thread the analysis dropped: its events change nothing
            if flags & HAS_EXIT:
                self.seen_exit = True
            return
        if v.gap is not None or v.cpu != cpu or v.exitless or v.vcpu_id < 0 or v.state != _GUEST:
            raise RunConflict(f"thread {tid} is not in its guest after its kvm_entry")
        v.starts.frombytes(ev[RUN_STARTS])
        v.states.frombytes(ev[RUN_STATES])
        v.exits.frombytes(ev[RUN_EXITS])
        v.state = ev[RUN_END_STATE]
        if flags & HAS_EXIT:
            v.last_exit = ev[RUN_LAST_EXIT]
            v.last_isa = ev[RUN_LAST_ISA]
        self.run_clock.started(tid, last, cpu)

    def _run_lead(self, lead: Event) -> None:
        """A run's lead, as `_consume` takes a kvm_entry (a lead always names its thread);
        written out: a call of `_consume` per run cost 10 % of the analysis."""
        open_lost = self.open_lost
        if open_lost and lead[CPU] in open_lost:
            open_lost.pop(lead[CPU]).lost_end = lead[TS]
        tid = lead[TID]
        v = self.by_tid.get(tid)
        if v is None or v.gap is not None or v.vcpu_id < 0 or v.cpu != lead[CPU] or v.exitless:
            self._entry_slow(lead, tid, v)
        elif v.state != _GUEST:
            v.starts.append(lead[TS])
            v.states.append(_GUEST)
            v.exits.append(-1)
            v.state = _GUEST

    def _touch(self, tid: int, ev: Event) -> None:
        """`ev` acts on thread `tid`: it must not fall inside a packed run of it."""
        if self.run_clock.until:
            self.run_clock.check(tid, ev[TS], ev[CPU])

    # ------------------------------------------------------------------ vCPU transitions

    def _exit_slow(self, ev: Event, tid: int, v: VcpuTrack | None) -> None:
        self._touch(tid, ev)
        ts, cpu, reason = ev[TS], ev[CPU], ev[EXIT_REASON]
        self.seen_exit = True
        if v is None:
            v = self._new_track(ev, tid, ev[EXIT_VCPU])
            if v is None:
                return
        elif v.exitless:
            self._leave_exitless(v, ev[EXIT_VCPU])
        if v.cpu != cpu:  # it runs here: a switch-in (or switch-out) was not seen
            self._resync(v, cpu, ts)
        if v.gap is not None:
            self._close_gap(v, v.gap)
        v.last_exit = reason
        v.last_isa = ev[EXIT_ISA]
        v.push(ts, HYP_AFTER_EXIT, reason)

    def _entry_slow(self, ev: Event, tid: int, v: VcpuTrack | None) -> None:
        self._touch(tid, ev)
        ts, cpu, vcpu_id = ev[TS], ev[CPU], ev[ENTRY_VCPU]
        self.seen_entry = True
        if v is None:
            v = self._new_track(ev, tid, vcpu_id)
            if v is None:
                return
        else:
            if v.exitless:
                self._leave_exitless(v, vcpu_id)
            if v.vcpu_id < 0:
                v = self.identity.bind(v, vcpu_id)
        if v.cpu != cpu:
            self._resync(v, cpu, ts)
        if v.gap is not None:
            self._close_gap(v, v.gap)
        if v.state != _GUEST:
            v.push(ts, _GUEST, -1)

    def _leave_exitless(self, v: VcpuTrack, vcpu_id: int) -> None:
        """The track's first kvm_entry/kvm_exit: from now on the contract's full rules. In
        a trace with those events its `running` time before them is `unknown` (guest or
        hypervisor), as for any vCPU before its first entry/exit."""
        v.exitless = False
        states = v.states
        for i in range(len(states)):
            if states[i] == _RUNNING:
                states[i] = _UNKNOWN
        if v.state == _RUNNING:
            v.state = _UNKNOWN
        if v.gap is not None and v.gap.candidate:
            self._close_gap(v, v.gap)
        if v.vcpu_id < 0 <= vcpu_id:
            self.identity.bind(v, vcpu_id)

    def _new_track(self, ev: Event, tid: int, vcpu_id: int) -> VcpuTrack | None:
        return self.identity.new_track(ev[TS], ev[CPU], ev, tid, vcpu_id, self.first_ns)

    def _switch_out(self, v: VcpuTrack, ev: Event) -> None:
        if self.run_until:
            self._touch(ev[SWITCH_PREV_TID], ev)
        ts, cpu = ev[TS], ev[CPU]
        if v.cpu != cpu:
            self._resync(v, cpu, ts)
        v.cpu = -1
        runnable = is_runnable(ev[SWITCH_PREV_STATE])
        gap = v.gap
        # A wait switched back in stays open over a preemption before the next kvm_entry:
        # rule 1's window runs from the switch-in to that entry.
        if gap is not None and not (runnable and gap.is_wait and gap.switched_in):
            self._close_gap(v, gap)
        if ev[SWITCH_PREV_COMM]:
            v.comm = ev[SWITCH_PREV_COMM]
        if runnable:
            v.early_wake = None
            index = v.push(ts, _PREEMPTED, v.last_exit)
            evidence = Evidence(next_tid=ev[SWITCH_NEXT_TID], next_comm=ev[SWITCH_NEXT_COMM])
            v.marks.append((index, self.evidence.intern(evidence)))
            return
        early = v.early_wake
        v.early_wake = None
        is_wait = v.last_exit >= 0 and is_hlt(v.last_isa, v.last_exit)
        if v.exitless:
            gap = self._candidate_out(v, ts)
        elif v.last_exit < 0:  # no exit seen yet: wait or blocked cannot be told apart
            index = v.push(ts, _UNKNOWN, -1) if v.state != _UNKNOWN else len(v.starts) - 1
            gap = v.gap = Gap(index, False)  # still off-CPU: a wake-up proves `ready`
        else:
            index = v.push(ts, _WAIT_UNKNOWN if is_wait else _BLOCKED, v.last_exit)
            gap = v.gap = Gap(index, is_wait)
        if early is not None and early[0] == gap.index:  # woken during its switch-out
            self._mark_woken(v, gap, ts, early[1])

    def _switch_in(self, v: VcpuTrack, ev: Event) -> None:
        if self.run_until:
            self._touch(ev[SWITCH_NEXT_TID], ev)
        if ev[SWITCH_NEXT_COMM]:
            v.comm = ev[SWITCH_NEXT_COMM]
        v.cpu = ev[CPU]
        gap = v.gap
        if gap is not None:
            if gap.is_wait:
                gap.switched_in = True
            else:
                self._close_gap(v, gap)
        v.push(ev[TS], _RUNNING if v.exitless else _HYP, v.last_exit)

    def _resync(self, v: VcpuTrack, cpu: int, ts: int) -> None:
        """The thread shows up on `cpu` while we believed it off-CPU or elsewhere: the
        switch-in was lost, inside that CPU's last lost-events window. From that window's
        begin (or the belief's start, if later) to now nothing is known."""
        c = self.cpus.get(cpu)
        start = v.starts[-1] if len(v.starts) else ts
        if c is not None and c.lost_begin >= 0 and (c.lost_end < 0 or c.lost_end >= start):
            if v.state != _UNKNOWN:
                v.push(max(c.lost_begin, start), State.UNKNOWN, -1)
                self.lost_vcpu_spans += 1
            if v.gap is not None:
                self._close_gap(v, v.gap)
        v.cpu = cpu

    def _lose_track(self, v: VcpuTrack, ts: int) -> None:
        """Events of the CPU this thread runs on are being lost: from `ts` on it may exit,
        enter, block or migrate unseen."""
        if v.gap is not None:
            self._close_gap(v, v.gap)
        if v.state != _UNKNOWN:
            v.push(ts, State.UNKNOWN, -1)
            self.lost_vcpu_spans += 1
        v.gap = Gap(len(v.starts) - 1, False)  # a wake-up would still prove `ready`
        v.last_exit = -1
        v.cpu = -1

    def _close_gap(self, v: VcpuTrack, gap: Gap) -> None:
        if gap.candidate:
            self._not_a_halt(v, gap)
        v.closed_gaps.append(gap)
        v.gap = None

    def _inj_virq(self, v: VcpuTrack, ev: Event) -> None:
        """Rule 1: the first non-soft injection after the switch-in closes the wait."""
        soft = ev[INJ_SOFT]
        if soft == 1 or soft is True:  # soft injections say nothing about the wake-up
            return
        gap = v.gap
        if gap is not None and gap.is_wait:
            gap.inj_vec = ev[INJ_VECTOR]
            self._close_gap(v, gap)

    # ------------------------------------------------------------------ wake-ups

    def _wake(self, ev: Event, v: VcpuTrack) -> None:
        """`v`, the track of the woken thread (WAKE_TID), is woken."""
        if self.run_until:
            self._touch(ev[WAKE_TID], ev)
        gap = v.gap
        if gap is not None and gap.candidate and gap.switched_in and v.cpu >= 0:
            self._early_wake(v, ev)  # a halt candidate runs again: as for a thread on-CPU
            return
        if gap is None or gap.woken:
            # Only a sleeping task is woken: believed runnable (preempted, or woken
            # already), it must have run and blocked again inside lost events.
            if not self._rewake(v, ev[TS]):
                return
            gap = v.gap
        if gap is None or gap.switched_in:
            return
        self._mark_woken(v, gap, ev[TS], self._waker(v, ev))

    def _waker(self, v: VcpuTrack, ev: Event) -> WakeInfo:
        """Who woke `v` and in which context (rule 3), taking the accepts that context
        emitted for the VM it wakes (rule 2 attribution)."""
        c = self.cpus.get(ev[CPU])
        if c is None:
            c = self.identity.new_cpu(ev[CPU])
        if c.labels:
            context = c.labels[-1]
            pending = c.pending[-1]
            c.pending[-1] = None
        else:
            context = TASK_CONTEXT
            pending = c.task_pending
            c.task_pending = None
        if pending:
            for item in pending:
                if not self._may_target(v, item):
                    continue
                if item.taught:
                    thread = item.tid if item.context == TASK_CONTEXT else -1
                    self._learn(v.vm, item.vector, item.taught, thread, item.chain)
                self._apply_accept(v.vm, item)
        waker_tid = ev[TID] if ev[TID] >= 0 else max(c.tid, -1)
        waker_comm = ev[PROCNAME] or self.identity.comm_of(waker_tid, c)
        waker_pid = ev[PID] if ev[PID] >= 0 else self.identity.tid2pid.get(waker_tid, -1)
        if context == TASK_CONTEXT and waker_tid == waker_pid and waker_comm:
            self.comms.setdefault(waker_tid, waker_comm)
        reason = self._waker_reason(v, context, waker_tid, waker_comm, waker_pid, ev[TS])
        return (waker_tid, waker_comm, context, reason, ev[CPU])

    @staticmethod
    def _may_target(v: VcpuTrack, accept: PendingAccept) -> bool:
        """Whether a held accept may be for a vCPU of the VM whose vCPU `v` its emitter
        wakes: never another VM's; in a VM not known yet, only `v` itself."""
        vm = accept.vm
        if vm >= 0 and v.vm >= 0 and vm != v.vm:
            return False
        return not (vm >= 0 or v.vm < 0) or accept.apicid == v.vcpu_id

    def _mark_woken(self, v: VcpuTrack, gap: Gap, ts: int, waker: WakeInfo) -> None:
        gap.woken = True
        gap.wake_ts = ts
        gap.waker_tid, gap.waker_comm, gap.waker_ctx, gap.waker_reason, gap.waker_cpu = waker
        if not self.open_lost:
            gap.ready_index = v.push(ts, _READY, -1)
        elif v.state != _UNKNOWN:  # a CPU losing events may switch it in unseen
            gap.ready_index = v.push(ts, _UNKNOWN, -1)
        else:
            gap.ready_index = len(v.starts) - 1

    def _early_wake(self, v: VcpuTrack, ev: Event) -> None:
        """A thread still on its CPU is woken: it set itself sleeping and is on its way
        to schedule(). If its next switch-out still reports it blocked (ttwu ran after
        __schedule read the state), it was woken before it left: `ready` from then on.
        Remembered with the lane length, so any kvm_exit/entry since voids it."""
        if self.run_until:
            self._touch(ev[WAKE_TID], ev)
        v.early_wake = (len(v.starts), self._waker(v, ev))

    def _rewake(self, v: VcpuTrack, ts: int) -> bool:
        """`unknown` from the first lost-events window that may hide the run (or from the
        belief's start, if later) to this wake-up; False when no window explains it."""
        if v.cpu >= 0:  # believed on a CPU: a task may be woken just before it sleeps
            return False
        start = v.starts[-1] if len(v.starts) else ts
        begin = self._lost_since(start)
        if begin < 0:
            return False
        if v.gap is not None:
            self._close_gap(v, v.gap)
        if v.state != _UNKNOWN:
            v.push(max(begin, start), State.UNKNOWN, -1)
            self.lost_vcpu_spans += 1
        v.gap = Gap(len(v.starts) - 1, False)
        return True

    def _lost_since(self, ts: int) -> int:
        """The earliest begin of a CPU's last lost-events window still open at `ts`, or -1."""
        begins = [
            c.lost_begin
            for c in self.cpus.values()
            if c.lost_begin >= 0 and (c.lost_end < 0 or c.lost_end >= ts)
        ]
        return min(begins) if begins else -1

    def _waker_reason(
        self, v: VcpuTrack, context: str, tid: int, comm: str, pid: int, ts: int
    ) -> int:
        """Rule 3: the context of the wake-up event."""
        if context != TASK_CONTEXT:
            reason = context_reason(context)
            return int(reason) if reason is not None else 0
        cls = cause_class(self.chains.cause_of(tid, ts))
        if cls in (DISK, NET) and self.by_tid.get(tid) is None:
            return cls  # a thread the device woke (devices.py), whatever its name
        if vhost_owner(comm) >= 0 or comm.startswith("vhost-"):
            self.vhost_tids.setdefault(v.vm, set()).add(tid)
            return int(Reason.NET)
        if tid == v.vm or (is_iothread(comm) and pid in (v.vm, -1)):
            if tid != v.vm:
                self.io_tids.setdefault(v.vm, set()).add(tid)
            return int(Reason.DISK)
        other = self.by_tid.get(tid)
        if other is not None and other is not v and other.vm == v.vm:
            return int(Reason.TASK)
        return 0

    # ------------------------------------------------------------------ accepted interrupts

    def _on_accept_irq(self, ev: Event) -> None:
        ts, cpu = ev[TS], ev[CPU]
        c = self.identity.cpu(cpu)
        tid = ev[TID] if ev[TID] >= 0 else c.tid
        comm = ev[PROCNAME] or self.identity.comm_of(tid, c)
        apicid = ev[ACCEPT_APICID]
        vec = ev[ACCEPT_VECTOR]
        if not (self.seen_exit or self.seen_entry):  # vCPUs found by accept -> wake (exitless.py)
            self.chains.last_accept[cpu] = (ts, apicid, tid, len(c.labels))
        self.seen_kinds.add(_K_ACCEPT)
        if c.labels:  # interrupt context: the VM is the one whose vCPU it wakes next
            cause = self.chains.context_cause(ts, cpu, c)
            cls = cause_class(cause)
            chain = (vec, CLASS_LABEL[cls], "", cause) if cls else NO_CHAIN
            label = c.labels[-1]
            item = PendingAccept(ts, apicid, vec, tid, comm, label, cpu, -1, cls, chain, NO_CLASS)
            pending = c.pending[-1]
            if pending is None:
                c.pending[-1] = [item]
            else:
                pending.append(item)
            return
        pid = ev[PID] if ev[PID] >= 0 else self.identity.tid2pid.get(tid, -1)
        if tid == pid and comm:  # a main thread names its VM
            self.comms.setdefault(tid, comm)
        source = self.by_tid.get(tid)
        if source is not None and source.tid != tid:
            source = None  # a thread replaced by another on that vCPU
        owner = vhost_owner(comm)
        if owner >= 0:
            vm = owner
        elif source is not None and (source.vcpu_id >= 0 or pid < 0):
            vm = source.vm  # a vCPU thread: its VM, a pseudo VM too
        else:
            vm = pid
        known_vm = vm >= 0 or (source is not None and source.vcpu_id >= 0)
        sender = source.vcpu_id if source is not None else -1
        cls, chain, own = self.chains.delivery_class(ts, tid, comm, vm, vec, apicid, sender)
        if known_vm and cls != NO_CLASS:
            self._learn(vm, vec, cls, tid, chain)
        if known_vm and (vm, apicid) in self.vcpus:
            accept = PendingAccept(
                ts, apicid, vec, tid, comm, TASK_CONTEXT, cpu, vm, NO_CLASS, NO_CHAIN, own
            )
            self._apply_accept(vm, accept)
            return
        if owner >= 0 or (known_vm and vm in self.identity.vm_pids) or is_iothread(comm):
            # A thread of a VM: never another VM's accept (what it teaches is learned
            # above). Held for the vCPU it wakes only while some vCPU is not tied to its
            # VM yet (a statedump after the first events): that vCPU may be the target.
            if not self.identity.pseudo_vms:
                return
            item = PendingAccept(
                ts, apicid, vec, tid, comm, TASK_CONTEXT, cpu, vm, NO_CLASS, NO_CHAIN, own
            )
        else:  # a shared host thread (kworker) or another process: the vCPU it wakes next
            item = PendingAccept(ts, apicid, vec, tid, comm, TASK_CONTEXT, cpu, -1, cls, chain, own)
        if c.task_pending is None:
            c.task_pending = [item]
        else:
            c.task_pending.append(item)

    def _learn(
        self, vm: int, vec: int, cls: int, tid: int, chain: ChainParts | None = NO_CHAIN
    ) -> None:
        """Teach the VM a vector (`tid`: the delivering thread, -1 for an interrupt context);
        what most deliveries teach wins (devices.VectorVotes)."""
        self.votes.vote(vm, vec, cls, tid, chain)

    def _apply_accept(self, vm: int, accept: PendingAccept) -> None:
        """Rule 2 candidate: the last accept (by time) for that vCPU between switch-out and
        wake-up. Accepts held until their interrupt context wakes a vCPU arrive here late,
        so an earlier held accept never displaces a later one applied directly."""
        target = self.vcpus.get((vm, accept.apicid))
        if target is None:
            return
        gap = target.gap
        if gap is None or not gap.is_wait or gap.woken or gap.switched_in:
            return
        if accept.ts < gap.acc_ts:
            return
        gap.acc_ts = accept.ts
        gap.acc_vec = accept.vector
        gap.acc_tid = accept.tid
        gap.acc_comm = accept.comm
        gap.acc_ctx = accept.context
        gap.acc_class = accept.own_class
        gap.acc_cpu = accept.cpu

    # ------------------------------------------------------------------ contexts

    def _push_context(self, ev: Event, label: str) -> None:
        c = self.identity.cpu(ev[CPU])
        if len(c.labels) >= _MAX_CONTEXT_DEPTH:  # exits were lost: start afresh
            c.reset_contexts()
        c.labels.append(label)
        c.pending.append(None)
        self.seen_kinds.add(ev[KIND])

    def _on_hrtimer_entry(self, ev: Event) -> None:
        self._push_context(ev, HRTIMER_CONTEXT)

    def _on_softirq_entry(self, ev: Event) -> None:
        vec = ev[SOFTIRQ_VECTOR]
        label = self._softirq_labels.get(vec)
        if label is None:
            label = self._softirq_labels[vec] = softirq_context(vec)
        self._push_context(ev, label)

    def _on_irq_entry(self, ev: Event) -> None:
        key = (ev[IRQ_NUMBER], ev[IRQ_NAME])
        label = self._irq_labels.get(key)
        if label is None:
            label = self._irq_labels[key] = irq_context(*key)
        self._push_context(ev, label)

    def _on_block_complete(self, ev: Event) -> None:
        self.seen_kinds.add(ev[KIND])
        self.chains.on_device_work(ev[CPU], self.identity.cpu(ev[CPU]), DISK)

    def _on_receive_skb(self, ev: Event) -> None:
        self.seen_kinds.add(ev[KIND])
        self.chains.on_device_work(ev[CPU], self.identity.cpu(ev[CPU]), NET)

    def _on_context_exit(self, ev: Event) -> None:
        c = self.cpus.get(ev[CPU])
        if c is not None and c.labels:
            c.labels.pop()
            c.pending.pop()

    # ------------------------------------------------------------------ identity

    def _on_exec(self, ev: Event) -> None:
        self._touch(ev[TID], ev)
        self._touch(ev[EXEC_TID], ev)
        self.identity.on_exec(ev, ev[CPU])

    def _on_fork(self, ev: Event) -> None:
        self._touch(ev[FORK_PARENT_TID], ev)
        self._touch(ev[FORK_CHILD_TID], ev)
        self.identity.on_fork(ev)


    def irq_names(self) -> set[str]:
        """Names of the hardware interrupts handled in the trace (for guest detection)."""
        return {str(name) for _, name in self._irq_labels if name}

    def trace_first_ns(self) -> int:
        """The first event seen so far (the reader's exact figure is applied at the end)."""
        return self.first_ns

    def trace_range(self) -> tuple[int, int]:
        """[first, last] event of the trace: the reader's meta once it has read everything
        (its `event_count` is set), else the events this analyzer saw."""
        first, last = self.first_ns, self.last_ns
        meta = self.meta
        if meta.event_count > 0:
            if 0 <= meta.first_ns < first or first < 0:
                first = meta.first_ns
            last = max(last, meta.last_ns)
        return first, last

    # ------------------------------------------------------------------ lost events

    def _on_lost(self, ev: Event) -> None:
        """Warn, and stop trusting what runs on that CPU (see the module docstring)."""
        ts, cpu = ev[TS], ev[CPU]
        count, begin, end = ev[LOST_COUNT], ev[LOST_BEGIN], ev[LOST_END]
        c = self.identity.cpu(cpu)
        if cpu not in self.open_lost:  # consecutive losses extend one window
            c.lost_begin = ts
            c.lost_end = -1
            self.open_lost[cpu] = c
        c.tid = -1  # the switches were maybe lost: who runs here is unknown until the next
        c.comm = ""
        for v in {id(t): t for t in self.by_tid.values()}.values():
            if v.cpu == cpu:
                self._lose_track(v, ts)
            elif v.state == _READY:  # it may be switched in there unseen
                v.push(ts, State.UNKNOWN, -1)
                self.lost_vcpu_spans += 1
        entry = self.lost.get(cpu)
        if entry is None:
            self.lost[cpu] = [count, begin, end, 1]
        else:
            entry[0] += count
            entry[2] = max(entry[2], end)
            entry[3] += 1
        c.reset_contexts()
        c.task_pending = None

    # ------------------------------------------------------------------ result

    def finish(self) -> AnalysisResult:
        """Close open gaps, classify every wait, and build the columnar result."""
        first, last = self.trace_range()
        ident = self.identity
        ident.resolve_provisional()
        facts = AnalysisFacts(
            meta=self.meta,
            first_ns=first,
            last_ns=last,
            event_count=self.event_count,
            vcpus=ident.vcpus,
            vector_table=self.vector_table,
            learned=self.votes.learned(),
            io_tids=merged(self.io_tids, self.votes.device_threads(DISK), without_vm=True),
            vhost_tids=merged(self.vhost_tids, self.votes.device_threads(NET)),
            guest_names=ident.guest_names,
            comms=ident.comms,
            lost=self.lost,
            seen_waking=self.seen_waking,
            seen_wakeup=self.seen_wakeup,
            seen_inj=self.seen_inj,
            unattributed=ident.unattributed,
            evidence=self.evidence,
            seen_kinds=frozenset(self._kinds_seen()),
            vector_chains=self.votes.chains(),
        )
        return build_result(facts)

    def _kinds_seen(self) -> set[int]:
        """The kinds the trace showed: the flags of the hot loop, and the handlers' set."""
        kinds = set(self.seen_kinds)
        flags = {
            EventKind.KVM_ENTRY: self.seen_entry or self.seen_exit,
            EventKind.KVM_EXIT: self.seen_entry or self.seen_exit,
            EventKind.SCHED_SWITCH: any(c.since >= 0 for c in self.cpus.values()),
            EventKind.SCHED_WAKING: self.seen_waking,
            EventKind.SCHED_WAKEUP: self.seen_wakeup,
            EventKind.KVM_INJ_VIRQ: self.seen_inj,
        }
        kinds.update(int(kind) for kind, seen in flags.items() if seen)
        return kinds


def analyze_events(
    batches: Iterable[Batch],
    meta: TraceMeta,
    *,
    vector_table: Mapping[int, Reason] | None = None,
) -> AnalysisResult:
    """The whole analysis over decoded batches (no reader needed)."""
    return Analyzer(meta, vector_table).feed_all(batches).finish()

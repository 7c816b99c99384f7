"""The W2A state machine of the contract (vcpu-states.md), fed with decoded event batches.

Usage: `Analyzer(meta).feed(batch)` for every batch in time order, then `.finish()`.
It needs no trace reader: unit tests and benchmarks feed hand-made tuples.

Design notes (decisions the contract leaves open):
- Identity: a vCPU is `(vm pid, vcpu_id)`; its thread is found through the `tid` context,
  else the per-CPU current thread (`sched_switch.next_tid`, seeded by a statedump `RUN`
  status when a CPU has not switched yet). The VM pid comes from the `pid` context, else
  `lttng_statedump_process_state` / `sched_process_fork`; when neither knows the thread,
  vCPU threads are grouped into pseudo VMs with negative pids and a warning says so.
- Events of a thread before its first KVM event are ignored: until then nothing says the
  thread runs a vCPU (comms like `CPU 1/KVM` are hints only), and the contract starts a
  lane at the vCPU's first evidence, normally its first `kvm_entry`. The lane is
  `unknown` before that. A thread whose first KVM event is a `kvm_exit` (the trace began
  while its guest ran) is followed from that exit, and bound to its vCPU at the `vcpu_id`
  of the exit (newer kernels) or of its next `kvm_entry`. This also keeps sched_switch
  between non-vCPU threads cheap: no per-thread bookkeeping.
- Only one gap (off-CPU interval awaiting its reason) is open per vCPU. If a vCPU blocks
  again before its next `kvm_entry`, the previous wait is closed with rules 2-4.
- Device vectors learned anywhere in the trace classify every wait of that VM: a VM's
  device vectors do not change while it runs, and an injection may precede the first
  accept that teaches its vector (trace start, lost events).
- `ready` carries no exit reason (the contract lists exit reasons for hypervisor,
  preempted, blocked and waits only).
- sched_wakeup is used only while no sched_waking has been seen: in a trace that has
  both, sched_waking always comes first for a given wake-up.
- A wake-up of a thread still on its CPU (it set itself sleeping, ttwu raced with its
  schedule()) counts only if its next switch-out is blocking with no kvm_exit/entry in
  between: it then leaves the CPU already woken, `ready` from the switch-out. A runnable
  switch-out (woken before __schedule read the state) is `preempted`, as the contract says.
- Rule 1's window runs from the switch-in to the next kvm_entry, across a preemption on
  the way; a blocking switch-out before any entry closes the wait (rules 2-4) and opens
  a new one (kvm_vcpu_block loops on spurious wake-ups without a new exit).
- An accept emitted in task context by a thread of a VM (its vhost, a known VM pid, an
  `IO` thread, any non-main thread of a process) belongs to that VM; only a thread that
  is nobody's (kworker, idle) waits to see which vCPU it wakes. A vector learned as a
  device (disk/net) is not relearned as `task` (vCPU threads re-deliver device interrupts).
- Without tid context, KVM events on a CPU whose current thread is not known yet (no
  switch or statedump there) get a provisional thread; the CPU's next sched_switch names
  it (prev_tid). One never named is kept as tid -1 in an unidentified VM, with a warning.
- hrtimer expiry is `timer` whatever the function: LTTng records `function` as an address.

Lost events (the tracer discarded events on a CPU; babeltrace2 reports the count and a
time range). A ring buffer drops events only while no sub-buffer is free, so on a CPU the
missing events lie between the window's begin and the first event recorded after it on
that CPU. Kernel facts then resynchronise each vCPU instead of trusting stale beliefs:
- a vCPU whose thread ran on that CPU when the window began becomes `unknown` from the
  window's begin: it may have exited, entered, blocked or migrated without a trace. Its
  last exit is forgotten (a later blocking switch-out without an exit seen since stays
  `unknown`: wait or blocked cannot be told apart), but a wake-up still proves `ready`;
- its next recorded event resynchronises it: `kvm_exit` proves it was in the guest and is
  now in the hypervisor, `kvm_entry` that it is in the guest, a switch-out that it was on
  that CPU (runnable -> `preempted`), a switch-in that it was off-CPU;
- a woken thread (`ready`) may be switched in on a CPU while that CPU loses events: it is
  `unknown` from the window's begin (or its wake-up, if a window is open then) to its
  next event;
- a thread believed off-CPU (or on another CPU) that emits a KVM event or a switch-out on
  a CPU had its switch-in lost there: its state is `unknown` from that CPU's last window
  (or from its last known transition, if later) to the event. Without such a window the
  contradiction is not explained by lost events and the event alone resynchronises it.
Decision (honesty over agreement): time a vCPU spends where its events may be missing is
`unknown` — the contract's "no evidence" — rather than a guess. Off-CPU states are still
claimed from the events seen: a window on another CPU can hide a wake-up (the wait then
ends at the switch-in, with no `ready`) or a whole short run of the thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from w2a_tui.analysis.classify import (
    HRTIMER_CONTEXT,
    NO_CLASS,
    TASK_CLASS,
    TASK_CONTEXT,
    context_reason,
    default_vector_table,
    guest_name,
    irq_context,
    is_iothread,
    softirq_context,
    thread_class,
    vhost_owner,
)
from w2a_tui.analysis.finish import ResultBuilder
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
from w2a_tui.events import Batch, Event, EventKind
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
_UNKNOWN: Final = int(State.UNKNOWN)
_READY: Final = int(State.READY)
_MAX_CONTEXT_DEPTH: Final = 16
_STATEDUMP_RUN: Final = 6  # lttng_process_status LTTNG_RUN
_DEVICE_REASONS: Final = (Reason.DISK, Reason.NET)
# Provisional tids of vCPU threads not named yet (no tid context); -1 means "no thread".
_FIRST_ANONYMOUS_TID: Final = -2

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
    }
)


class Analyzer:
    """Streams events through the per-vCPU state machine; memory per vCPU is its lane plus
    one open gap."""

    def __init__(self, meta: TraceMeta, vector_table: Mapping[int, Reason] | None = None) -> None:
        self.meta = meta
        self.vector_table: dict[int, Reason] = (
            dict(vector_table) if vector_table is not None else default_vector_table()
        )
        self.by_tid: dict[int, VcpuTrack] = {}
        self.vcpus: dict[tuple[int, int], VcpuTrack] = {}
        self.vm_pids: set[int] = set()  # pids of the VMs with a vCPU seen so far
        self.cpus: dict[int, CpuTrack] = {}
        self.tid2pid: dict[int, int] = {}
        self.comms: dict[int, str] = {}
        self.guest_names: dict[int, str] = {}
        self.learned: dict[int, dict[int, Reason]] = {}
        self.io_tids: dict[int, set[int]] = {}
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
        self.unattributed = 0
        self._next_anonymous = _FIRST_ANONYMOUS_TID
        self.dropped_threads: set[int] = set()
        self.pseudo_vms: list[int] = []
        self.builder = ResultBuilder()
        self._irq_labels: dict[tuple[Any, Any], str] = {}
        self._softirq_labels: dict[Any, str] = {}
        self._handlers = {
            int(EventKind.KVM_APIC_ACCEPT_IRQ): self._on_accept_irq,
            int(EventKind.SCHED_PROCESS_FORK): self._on_fork,
            int(EventKind.SCHED_PROCESS_EXEC): self._on_exec,
            int(EventKind.STATEDUMP_PROCESS_STATE): self._on_statedump,
            int(EventKind.IRQ_HANDLER_ENTRY): self._on_irq_entry,
            int(EventKind.SOFTIRQ_ENTRY): self._on_softirq_entry,
            int(EventKind.HRTIMER_EXPIRE_ENTRY): self._on_hrtimer_entry,
            int(EventKind.IRQ_HANDLER_EXIT): self._on_context_exit,
            int(EventKind.SOFTIRQ_EXIT): self._on_context_exit,
            int(EventKind.HRTIMER_EXPIRE_EXIT): self._on_context_exit,
            int(EventKind.LOST_EVENTS): self._on_lost,
        }

    # ------------------------------------------------------------------ hot loop

    def feed(self, batch: Batch) -> None:
        """Consume one time-ordered batch. The three most frequent kinds are inlined."""
        if not batch:
            return
        if self.first_ns < 0:
            self.first_ns = batch[0][0]
        last = batch[-1][0]
        if last > self.last_ns:
            self.last_ns = last
        self.event_count += len(batch)
        by_tid = self.by_tid
        cpus = self.cpus
        comms = self.comms
        handlers = self._handlers
        open_lost = self.open_lost
        for ev in batch:
            kind = ev[2]
            if open_lost and ev[1] in open_lost and kind != _K_LOST:
                open_lost.pop(ev[1]).lost_end = ev[0]  # the first event recorded after a loss
            if kind == _K_EXIT:
                tid = ev[3]
                if tid < 0:
                    tid = self._current_tid(ev[1])
                v = by_tid.get(tid)
                if v is None or v.gap is not None or v.cpu != ev[1]:
                    self._exit_slow(ev, tid, v)
                    continue
                r = ev[6]
                v.last_exit = r
                v.last_isa = ev[7]
                v.sa(ev[0])
                v.st(HYP_AFTER_EXIT)
                v.ex(r)
                v.state = HYP_AFTER_EXIT
            elif kind == _K_ENTRY:
                tid = ev[3]
                if tid < 0:
                    tid = self._current_tid(ev[1])
                v = by_tid.get(tid)
                if v is None or v.gap is not None or v.vcpu_id < 0 or v.cpu != ev[1]:
                    self._entry_slow(ev, tid, v)
                elif v.state != _GUEST:
                    v.sa(ev[0])
                    v.st(_GUEST)
                    v.ex(-1)
                    v.state = _GUEST
            elif kind == _K_SWITCH:
                c = cpus.get(ev[1])
                if c is None:
                    c = self._new_cpu(ev[1])
                prev = ev[7]
                nxt = ev[10]
                # Every thread's latest comm (one dict store): QEMU renames its main
                # thread after exec (libvirt's `process=qemu:NAME`), the last name wins.
                comms[prev] = ev[6]
                if c.tid < -1:  # the provisional thread of earlier KVM events is `prev`
                    self._adopt(c.tid, prev, ev)
                c.tid = nxt
                c.comm = ev[9]
                c.since = ev[0]
                if c.labels:
                    c.reset_contexts()
                c.task_pending = None
                v = by_tid.get(prev)
                if v is not None:
                    self._switch_out(v, ev)
                v = by_tid.get(nxt)
                if v is not None:
                    self._switch_in(v, ev)
            elif kind == _K_INJ:
                self.seen_inj = True
                tid = ev[3]
                if tid < 0:
                    tid = self._current_tid(ev[1])
                v = by_tid.get(tid)
                if v is not None and v.gap is not None:
                    self._inj_virq(v, ev)
            elif kind == _K_WAKING:
                self.seen_waking = True
                v = by_tid.get(ev[7])
                if v is not None:
                    if v.gap is not None or v.cpu < 0:
                        self._wake(ev)
                    else:
                        self._early_wake(v, ev)
            elif kind == _K_WAKEUP:
                self.seen_wakeup = True
                if not self.seen_waking:
                    v = by_tid.get(ev[7])
                    if v is not None:
                        if v.gap is not None or v.cpu < 0:
                            self._wake(ev)
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

    # ------------------------------------------------------------------ vCPU transitions

    def _exit_slow(self, ev: Event, tid: int, v: VcpuTrack | None) -> None:
        if v is None:
            v = self._new_track(ev, tid, ev[8])
            if v is None:
                return
        if v.cpu != ev[1]:  # it runs here: a switch-in (or switch-out) was not seen
            self._resync(v, ev[1], ev[0])
        if v.gap is not None:
            self._close_gap(v, v.gap)
        r = ev[6]
        v.last_exit = r
        v.last_isa = ev[7]
        v.push(ev[0], HYP_AFTER_EXIT, r)

    def _entry_slow(self, ev: Event, tid: int, v: VcpuTrack | None) -> None:
        self.seen_entry = True
        if v is None:
            v = self._new_track(ev, tid, ev[6])
            if v is None:
                return
        elif v.vcpu_id < 0:
            v = self._bind(v, ev[6])
        if v.cpu != ev[1]:
            self._resync(v, ev[1], ev[0])
        if v.gap is not None:
            self._close_gap(v, v.gap)
        if v.state != _GUEST:
            v.push(ev[0], _GUEST, -1)

    def _switch_out(self, v: VcpuTrack, ev: Event) -> None:
        if v.cpu != ev[1]:
            self._resync(v, ev[1], ev[0])
        v.cpu = -1
        runnable = is_runnable(ev[8])
        gap = v.gap
        # A wait switched back in stays open over a preemption before the next kvm_entry:
        # rule 1's window runs from the switch-in to that entry.
        if gap is not None and not (runnable and gap.is_wait and gap.switched_in):
            self._close_gap(v, gap)
        if ev[6]:
            v.comm = ev[6]
        ts = ev[0]
        if runnable:
            v.early_wake = None
            index = v.push(ts, State.PREEMPTED, v.last_exit)
            evidence = Evidence(next_tid=ev[10], next_comm=ev[9])
            v.marks.append((index, self.builder.intern(evidence)))
            return
        early = v.early_wake
        v.early_wake = None
        is_wait = v.last_exit >= 0 and is_hlt(v.last_isa, v.last_exit)
        if v.last_exit < 0:  # no exit seen yet: wait or blocked cannot be told apart
            index = v.push(ts, State.UNKNOWN, -1) if v.state != _UNKNOWN else len(v.starts) - 1
            v.gap = Gap(index, False)  # still off-CPU: a wake-up proves `ready`
        else:
            index = v.push(ts, State.WAIT_UNKNOWN if is_wait else State.BLOCKED, v.last_exit)
            v.gap = Gap(index, is_wait)
        if early is not None and early[0] == index:  # woken during its switch-out
            self._mark_woken(v, v.gap, ts, early[1])

    def _switch_in(self, v: VcpuTrack, ev: Event) -> None:
        if ev[9]:
            v.comm = ev[9]
        v.cpu = ev[1]
        gap = v.gap
        if gap is not None:
            if gap.is_wait:
                gap.switched_in = True
            else:
                self._close_gap(v, gap)
        v.push(ev[0], _HYP, v.last_exit)

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
        v.closed_gaps.append(gap)
        v.gap = None

    def _inj_virq(self, v: VcpuTrack, ev: Event) -> None:
        """Rule 1: the first non-soft injection after the switch-in closes the wait."""
        if ev[7] == 1 or ev[7] is True:  # soft injections say nothing about the wake-up
            return
        gap = v.gap
        if gap is not None and gap.is_wait:
            gap.inj_vec = ev[6]
            self._close_gap(v, gap)

    # ------------------------------------------------------------------ wake-ups

    def _wake(self, ev: Event) -> None:
        wakee = ev[7]
        v = self.by_tid.get(wakee)
        if v is None:
            return
        gap = v.gap
        if gap is None or gap.woken:
            # Only a sleeping task is woken: believed runnable (preempted, or woken
            # already), it must have run and blocked again inside lost events.
            if not self._rewake(v, ev[0]):
                return
            gap = v.gap
        if gap is None or gap.switched_in:
            return
        self._mark_woken(v, gap, ev[0], self._waker(v, ev))

    def _waker(self, v: VcpuTrack, ev: Event) -> WakeInfo:
        """Who woke `v` and in which context (rule 3), taking the accepts that context
        emitted for the VM it wakes (rule 2 attribution)."""
        c = self._cpu(ev[1])
        if c.labels:
            context = c.labels[-1]
            pending = c.pending[-1]
            c.pending[-1] = None
        else:
            context = TASK_CONTEXT
            pending = c.task_pending
            c.task_pending = None
        if pending:
            for ts, apicid, vec, etid, ecomm, ectx in pending:
                self._apply_accept(ts, v.vm, apicid, vec, etid, ecomm, ectx, NO_CLASS)
        waker_tid = ev[3] if ev[3] >= 0 else max(c.tid, -1)
        waker_comm = ev[5] or self._comm_of(waker_tid, c)
        waker_pid = ev[4] if ev[4] >= 0 else self.tid2pid.get(waker_tid, -1)
        if context == TASK_CONTEXT and waker_tid == waker_pid and waker_comm:
            self.comms.setdefault(waker_tid, waker_comm)
        reason = self._waker_reason(v, context, waker_tid, waker_comm, waker_pid)
        return (waker_tid, waker_comm, context, reason)

    def _mark_woken(self, v: VcpuTrack, gap: Gap, ts: int, waker: WakeInfo) -> None:
        gap.woken = True
        gap.wake_ts = ts
        gap.waker_tid, gap.waker_comm, gap.waker_ctx, gap.waker_reason = waker
        if not self.open_lost:
            gap.ready_index = v.push(ts, State.READY, -1)
        elif v.state != _UNKNOWN:  # a CPU losing events may switch it in unseen
            gap.ready_index = v.push(ts, State.UNKNOWN, -1)
        else:
            gap.ready_index = len(v.starts) - 1

    def _early_wake(self, v: VcpuTrack, ev: Event) -> None:
        """A thread still on its CPU is woken: it set itself sleeping and is on its way
        to schedule(). If its next switch-out still reports it blocked (ttwu ran after
        __schedule read the state), it was woken before it left: `ready` from then on.
        Remembered with the lane length, so any kvm_exit/entry since voids it."""
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

    def _waker_reason(self, v: VcpuTrack, context: str, tid: int, comm: str, pid: int) -> int:
        """Rule 3: the context of the wake-up event."""
        if context != TASK_CONTEXT:
            reason = context_reason(context)
            return int(reason) if reason is not None else 0
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
        c = self._cpu(ev[1])
        tid = ev[3] if ev[3] >= 0 else c.tid
        comm = ev[5] or self._comm_of(tid, c)
        apicid = ev[6]
        vec = ev[7]
        if c.labels:  # interrupt context: the VM is the one whose vCPU it wakes next
            item: PendingAccept = (ev[0], apicid, vec, tid, comm, c.labels[-1])
            pending = c.pending[-1]
            if pending is None:
                c.pending[-1] = [item]
            else:
                pending.append(item)
            return
        pid = ev[4] if ev[4] >= 0 else self.tid2pid.get(tid, -1)
        if tid == pid and comm:  # a main thread names its VM
            self.comms.setdefault(tid, comm)
        owner = vhost_owner(comm)
        vm = owner if owner >= 0 else pid
        source = self.by_tid.get(tid)
        other_vcpu = source is not None and source.vm == vm and source.vcpu_id != apicid
        cls = thread_class(tid, comm, vm, is_other_vcpu=other_vcpu) if vm >= 0 else NO_CLASS
        if cls != NO_CLASS:
            self._learn(vm, vec, cls, tid, comm)
        if vm >= 0 and (vm, apicid) in self.vcpus:
            self._apply_accept(ev[0], vm, apicid, vec, tid, comm, TASK_CONTEXT, cls)
        elif owner >= 0 or vm in self.vm_pids or 0 <= pid != tid or is_iothread(comm):
            return  # a thread of a VM (or of a user process): never another VM's accept
        else:  # a shared host thread (kworker): the vCPU it wakes names the VM
            item = (ev[0], apicid, vec, tid, comm, TASK_CONTEXT)
            if c.task_pending is None:
                c.task_pending = [item]
            else:
                c.task_pending.append(item)

    def _learn(self, vm: int, vec: int, cls: int, tid: int, comm: str) -> None:
        """Teach the VM a vector. A device class is never overwritten by `task`: a vCPU
        thread also re-delivers device interrupts (IOAPIC EOI of a level-triggered line),
        while a device thread never sends IPIs."""
        learned = self.learned.setdefault(vm, {})
        if cls == TASK_CLASS and learned.get(vec) in _DEVICE_REASONS:
            return
        learned[vec] = Reason(cls)
        if cls == int(Reason.NET):
            self.vhost_tids.setdefault(vm, set()).add(tid)
        elif cls == int(Reason.DISK) and tid != vm:
            self.io_tids.setdefault(vm, set()).add(tid)

    def _apply_accept(
        self,
        ts: int,
        vm: int,
        apicid: int,
        vec: int,
        tid: int,
        comm: str,
        context: str,
        cls: int,
    ) -> None:
        """Rule 2 candidate: the last accept (by time) for that vCPU between switch-out and
        wake-up. Accepts held until their interrupt context wakes a vCPU arrive here late,
        so an earlier held accept never displaces a later one applied directly."""
        target = self.vcpus.get((vm, apicid))
        if target is None:
            return
        gap = target.gap
        if gap is None or not gap.is_wait or gap.woken or gap.switched_in:
            return
        if ts < gap.acc_ts:
            return
        gap.acc_ts = ts
        gap.acc_vec = vec
        gap.acc_tid = tid
        gap.acc_comm = comm
        gap.acc_ctx = context
        gap.acc_class = cls

    # ------------------------------------------------------------------ contexts

    def _push_context(self, ev: Event, label: str) -> None:
        c = self._cpu(ev[1])
        if len(c.labels) >= _MAX_CONTEXT_DEPTH:  # exits were lost: start afresh
            c.reset_contexts()
        c.labels.append(label)
        c.pending.append(None)

    def _on_hrtimer_entry(self, ev: Event) -> None:
        self._push_context(ev, HRTIMER_CONTEXT)

    def _on_softirq_entry(self, ev: Event) -> None:
        label = self._softirq_labels.get(ev[6])
        if label is None:
            label = self._softirq_labels[ev[6]] = softirq_context(ev[6])
        self._push_context(ev, label)

    def _on_irq_entry(self, ev: Event) -> None:
        key = (ev[6], ev[7])
        label = self._irq_labels.get(key)
        if label is None:
            label = self._irq_labels[key] = irq_context(ev[6], ev[7])
        self._push_context(ev, label)

    def _on_context_exit(self, ev: Event) -> None:
        c = self.cpus.get(ev[1])
        if c is not None and c.labels:
            c.labels.pop()
            c.pending.pop()

    # ------------------------------------------------------------------ identity

    def _on_fork(self, ev: Event) -> None:
        # parent_comm, parent_tid, parent_pid, child_comm, child_tid, child_pid
        child_tid = ev[10]
        if child_tid >= 0:
            if ev[11] >= 0:
                self.tid2pid[child_tid] = ev[11]
            if ev[9]:
                self.comms[child_tid] = ev[9]
        if ev[7] >= 0:
            if ev[8] >= 0:
                self.tid2pid.setdefault(ev[7], ev[8])
            if ev[6]:
                self.comms.setdefault(ev[7], ev[6])

    def _on_exec(self, ev: Event) -> None:
        filename = str(ev[6])
        tid = ev[7] if ev[7] >= 0 else (ev[3] if ev[3] >= 0 else self._current_tid(ev[1]))
        if tid < 0:
            return
        self.comms[tid] = filename.rsplit("/", 1)[-1][:15]
        name = guest_name(filename)
        if name:
            self.guest_names[self._pid_of(tid, ev)] = name

    def _on_statedump(self, ev: Event) -> None:
        tid, pid, name, status, cpu = ev[6], ev[7], str(ev[8]), ev[9], ev[10]
        if tid < 0:
            return
        if pid >= 0:
            self.tid2pid[tid] = pid
        if name:
            self.comms[tid] = name
            guest = guest_name(name)
            if guest and pid >= 0:
                self.guest_names[pid] = guest
        running = status == _STATEDUMP_RUN or (isinstance(status, str) and status.endswith("RUN"))
        if running and isinstance(cpu, int) and cpu >= 0:
            c = self._cpu(cpu)
            if c.since < 0:  # no sched_switch seen there yet
                c.tid = tid
                c.comm = name

    def _pid_of(self, tid: int, ev: Event) -> int:
        if ev[3] == tid and ev[4] >= 0:
            return int(ev[4])
        return self.tid2pid.get(tid, tid)

    def _new_cpu(self, cpu: int) -> CpuTrack:
        c = self.cpus[cpu] = CpuTrack()
        return c

    def _cpu(self, cpu: int) -> CpuTrack:
        c = self.cpus.get(cpu)
        return c if c is not None else self._new_cpu(cpu)

    def _current_tid(self, cpu: int) -> int:
        c = self.cpus.get(cpu)
        return c.tid if c is not None else -1

    def _comm_of(self, tid: int, c: CpuTrack) -> str:
        if c.tid == tid and c.comm:
            return c.comm
        v = self.by_tid.get(tid)
        if v is not None and v.comm:
            return v.comm
        return self.comms.get(tid, "")

    def _new_track(self, ev: Event, tid: int, vcpu_id: int) -> VcpuTrack | None:
        """First KVM event of a thread: it is a vCPU thread from now on.

        Without a tid context, on a CPU whose current thread is not known yet, the thread
        gets a provisional tid (below -1) until that CPU's next sched_switch names it."""
        if tid == -1 and ev[3] < 0 and ev[1] >= 0:
            tid = self._next_anonymous
            self._next_anonymous -= 1
            self._cpu(ev[1]).tid = tid
        if tid < 0 and tid >= -1:
            self.unattributed += 1
            return None
        if tid in self.dropped_threads:
            return None
        pid = ev[4] if ev[3] == tid and ev[4] >= 0 else self.tid2pid.get(tid, -1)
        c = self.cpus.get(ev[1])
        comm = ev[5] or (self._comm_of(tid, c) if c is not None else self.comms.get(tid, ""))
        track = VcpuTrack(pid, -1, tid, comm)
        track.cpu = ev[1]
        # Always an `unknown` head (maybe empty): finish() moves it to the trace's first event.
        track.push(min(self.first_ns, ev[0]), State.UNKNOWN, -1)
        self.by_tid[tid] = track
        if vcpu_id >= 0:
            return self._bind(track, vcpu_id)
        return track

    def _adopt(self, anonymous: int, tid: int, ev: Event) -> None:
        """A CPU whose thread was unknown switches out `tid`: every event recorded there
        since its provisional thread appeared is that thread's (a switch would have been
        recorded, and lost events reset the CPU's thread to unknown)."""
        track = self.by_tid.pop(anonymous, None)
        if track is None:
            return
        if tid < 0 or tid in self.by_tid or tid in self.dropped_threads:
            # Known elsewhere already: contradictory, the provisional lane is dropped.
            if self.vcpus.get((track.vm, track.vcpu_id)) is track:
                del self.vcpus[(track.vm, track.vcpu_id)]
            self.unattributed += len(track.starts)
            return
        track.tid = tid
        if ev[6]:
            track.comm = ev[6]
        self.by_tid[tid] = track
        pid = self.tid2pid.get(tid, -1)
        if pid < 0 or track.vm >= 0:
            return
        if track.vcpu_id < 0:
            track.vm = pid
        elif (pid, track.vcpu_id) not in self.vcpus:
            del self.vcpus[(track.vm, track.vcpu_id)]
            track.vm = pid
            self.vcpus[(pid, track.vcpu_id)] = track
            self.vm_pids.add(pid)

    def _bind(self, track: VcpuTrack, vcpu_id: int) -> VcpuTrack:
        """Give a track its vcpu_id (and a pseudo VM when the pid is unknown)."""
        vm = track.vm
        if vm < 0:
            vm = self._pseudo_vm(vcpu_id)
            track.vm = vm
        existing = self.vcpus.get((vm, vcpu_id))
        if existing is not None and existing is not track:
            # Another thread already runs this vCPU (thread replaced, or weak identity):
            # keep one lane per vCPU and follow the new thread from now on.
            self.by_tid[track.tid] = existing
            existing.tid = track.tid
            self.dropped_threads.add(track.tid)
            return existing
        track.vcpu_id = vcpu_id
        self.vcpus[(vm, vcpu_id)] = track
        self.vm_pids.add(vm)
        return track

    def _pseudo_vm(self, vcpu_id: int) -> int:
        for vm in self.pseudo_vms:
            if (vm, vcpu_id) not in self.vcpus:
                return vm
        vm = -1 - len(self.pseudo_vms)
        self.pseudo_vms.append(vm)
        return vm

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
        count, begin, end = ev[6], ev[7], ev[8]
        cpu = ev[1]
        c = self._cpu(cpu)
        if cpu not in self.open_lost:  # consecutive losses extend one window
            c.lost_begin = ev[0]
            c.lost_end = -1
            self.open_lost[cpu] = c
        c.tid = -1  # the switches were maybe lost: who runs here is unknown until the next
        c.comm = ""
        for v in {id(t): t for t in self.by_tid.values()}.values():
            if v.cpu == cpu:
                self._lose_track(v, ev[0])
            elif v.state == _READY:  # it may be switched in there unseen
                v.push(ev[0], State.UNKNOWN, -1)
                self.lost_vcpu_spans += 1
        entry = self.lost.get(ev[1])
        if entry is None:
            self.lost[ev[1]] = [count, begin, end, 1]
        else:
            entry[0] += count
            entry[2] = max(entry[2], end)
            entry[3] += 1
        c.reset_contexts()
        c.task_pending = None

    # ------------------------------------------------------------------ result

    def finish(self) -> AnalysisResult:
        """Close open gaps, classify every wait, and build the columnar result."""
        return self.builder.build(self)


def analyze_events(
    batches: Iterable[Batch],
    meta: TraceMeta,
    *,
    vector_table: Mapping[int, Reason] | None = None,
) -> AnalysisResult:
    """The whole analysis over decoded batches (no reader needed)."""
    return Analyzer(meta, vector_table).feed_all(batches).finish()

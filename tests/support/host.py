"""A tiny builder of decoded-event tuples for the analysis tests.

    h = Host()
    h.thread(101, 100, "CPU 0/KVM")
    h.exit(10, cpu=0, tid=101, reason=12)
    ...
    result = h.analyze()
    assert lane_states(result, 100, 0) == [(10, 20, "hypervisor"), ...]

Times are plain integers (ns). With `contexts=False` the tuples carry no tid/pid/procname,
as in a trace recorded without `lttng add-context`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from w2a_tui.analysis import analyze_events
from w2a_tui.events import Event, EventKind
from w2a_tui.model import AnalysisResult, Evidence, LaneData, Reason, TraceMeta

K = EventKind
RUNNING = 0
SLEEPING = 1  # TASK_INTERRUPTIBLE
PREEMPTED_MARK = 0x100  # TASK_REPORT_MAX, shown as `R+`


class Host:
    """Collects events in the order they are written (tests write them in time order)."""

    def __init__(self, *, contexts: bool = True) -> None:
        self.contexts = contexts
        self.events: list[Event] = []
        self.threads: dict[int, tuple[int, str]] = {0: (0, "swapper/0")}
        self.current: dict[int, int] = {}

    def thread(self, tid: int, pid: int, comm: str) -> Host:
        self.threads[tid] = (pid, comm)
        return self

    def runs(self, cpu: int, tid: int) -> Host:
        """Declare what already runs on `cpu` (for the tid/pid contexts of later events)."""
        self.current[cpu] = tid
        return self

    def _ev(self, ts: int, cpu: int, kind: EventKind, tid: int, *payload: Any) -> Host:
        if tid < 0:
            tid = self.current.get(cpu, -1)
        pid, comm = self.threads.get(tid, (-1, ""))
        if self.contexts:
            self.events.append((ts, cpu, int(kind), tid, pid, comm, *payload))
        else:
            self.events.append((ts, cpu, int(kind), -1, -1, "", *payload))
        return self

    # KVM ---------------------------------------------------------------------------
    def entry(self, ts: int, cpu: int, tid: int, vcpu: int) -> Host:
        return self._ev(ts, cpu, K.KVM_ENTRY, tid, vcpu)

    def exit(self, ts: int, cpu: int, tid: int, reason: int, isa: int = 1, vcpu: int = -1) -> Host:
        return self._ev(ts, cpu, K.KVM_EXIT, tid, reason, isa, vcpu)

    def inj(self, ts: int, cpu: int, tid: int, vec: int, soft: int = 0) -> Host:
        return self._ev(ts, cpu, K.KVM_INJ_VIRQ, tid, vec, soft)

    def accept(self, ts: int, cpu: int, tid: int, apicid: int, vec: int) -> Host:
        """`tid` = the current thread on `cpu` (-1: whatever the builder knows runs there)."""
        return self._ev(ts, cpu, K.KVM_APIC_ACCEPT_IRQ, tid, apicid, vec, 0, 0)

    def vcpu_wakeup(self, ts: int, cpu: int, tid: int, waited: bool = True) -> Host:
        return self._ev(ts, cpu, K.KVM_VCPU_WAKEUP, tid, 1000, int(waited))

    def halt_poll(self, ts: int, cpu: int, tid: int, vcpu: int) -> Host:
        return self._ev(ts, cpu, K.KVM_HALT_POLL_NS, tid, vcpu, 10000)

    def userspace_exit(self, ts: int, cpu: int, tid: int) -> Host:
        return self._ev(ts, cpu, K.KVM_USERSPACE_EXIT, tid, 2)

    def block_complete(self, ts: int, cpu: int) -> Host:
        return self._ev(ts, cpu, K.BLOCK_RQ_COMPLETE, -1, 4096)

    def receive_skb(self, ts: int, cpu: int) -> Host:
        return self._ev(ts, cpu, K.NETIF_RECEIVE_SKB, -1, 540)

    # scheduler ---------------------------------------------------------------------
    def switch(self, ts: int, cpu: int, prev: int, state: int, nxt: int) -> Host:
        prev_comm = self.threads.get(prev, (-1, ""))[1]
        next_comm = self.threads.get(nxt, (-1, ""))[1]
        self._ev(ts, cpu, K.SCHED_SWITCH, prev, prev_comm, prev, state, next_comm, nxt)
        self.current[cpu] = nxt
        return self

    def waking(
        self, ts: int, cpu: int, waker: int, wakee: int, kind: EventKind = K.SCHED_WAKING
    ) -> Host:
        comm = self.threads.get(wakee, (-1, ""))[1]
        return self._ev(ts, cpu, kind, waker, comm, wakee, cpu)

    def wakeup(self, ts: int, cpu: int, waker: int, wakee: int) -> Host:
        return self.waking(ts, cpu, waker, wakee, K.SCHED_WAKEUP)

    def statedump(self, ts: int, tid: int, status: int = 5, cpu: int = 0) -> Host:
        pid, comm = self.threads[tid]
        return self._ev(ts, cpu, K.STATEDUMP_PROCESS_STATE, -1, tid, pid, comm, status, cpu)

    def fork(self, ts: int, cpu: int, parent: int, child: int) -> Host:
        ppid, pcomm = self.threads[parent]
        cpid, ccomm = self.threads[child]
        return self._ev(
            ts, cpu, K.SCHED_PROCESS_FORK, parent, pcomm, parent, ppid, ccomm, child, cpid
        )

    def exec(self, ts: int, cpu: int, tid: int, filename: str) -> Host:
        return self._ev(ts, cpu, K.SCHED_PROCESS_EXEC, tid, filename, tid)

    # interrupt contexts ----------------------------------------------------------
    def hrtimer_entry(self, ts: int, cpu: int) -> Host:
        return self._ev(ts, cpu, K.HRTIMER_EXPIRE_ENTRY, -1, 0xFFFF1234, "apic_timer_fn")

    def hrtimer_exit(self, ts: int, cpu: int) -> Host:
        return self._ev(ts, cpu, K.HRTIMER_EXPIRE_EXIT, -1, 0xFFFF1234)

    def softirq_entry(self, ts: int, cpu: int, vec: int) -> Host:
        return self._ev(ts, cpu, K.SOFTIRQ_ENTRY, -1, vec)

    def softirq_exit(self, ts: int, cpu: int, vec: int) -> Host:
        return self._ev(ts, cpu, K.SOFTIRQ_EXIT, -1, vec)

    def irq_entry(self, ts: int, cpu: int, irq: int, name: str) -> Host:
        return self._ev(ts, cpu, K.IRQ_HANDLER_ENTRY, -1, irq, name)

    def irq_exit(self, ts: int, cpu: int, irq: int) -> Host:
        return self._ev(ts, cpu, K.IRQ_HANDLER_EXIT, -1, irq)

    def lost(self, ts: int, cpu: int, count: int, end: int) -> Host:
        self.events.append((ts, cpu, int(K.LOST_EVENTS), -1, -1, "", count, ts, end))
        return self

    def mark(self, ts: int, cpu: int = 0) -> Host:
        """An event the analysis ignores, to set the trace's first or last timestamp."""
        self.events.append((ts, cpu, int(K.KVM_USERSPACE_EXIT), -1, -1, "", 0))
        return self

    # running -----------------------------------------------------------------------
    def analyze(
        self, table: Mapping[int, Reason] | None = None, batch_size: int = 7
    ) -> AnalysisResult:
        """Feed the events in small batches (so batch boundaries are exercised too)."""
        events = sorted(self.events, key=lambda e: e[0])
        batches = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
        return analyze_events(batches, TraceMeta(path="<built>"), vector_table=table)


def lane(result: AnalysisResult, vm: int, vcpu: int) -> LaneData:
    for candidate in result.lanes:
        if candidate.vm_pid == vm and candidate.vcpu == vcpu:
            return candidate
    raise AssertionError(f"no lane ({vm}, {vcpu}) in {[(x.vm_pid, x.vcpu) for x in result.lanes]}")


def lane_states(result: AnalysisResult, vm: int, vcpu: int) -> list[tuple[int, int, str]]:
    """[(start, end, state label)] of a lane."""
    data = lane(result, vm, vcpu)
    from w2a_tui.model import State

    return [(data.starts[i], data.end_of(i), State(data.states[i]).label) for i in range(len(data))]


def interval_at(
    result: AnalysisResult, vm: int, vcpu: int, t: int
) -> tuple[str, int, Evidence | None]:
    """(state label, exit reason, evidence) of the interval covering `t`."""
    from w2a_tui.model import State

    data = lane(result, vm, vcpu)
    for i in range(len(data)):
        if data.starts[i] <= t < data.end_of(i):
            eid = data.evidence[i]
            return (
                State(data.states[i]).label,
                data.exit_reasons[i],
                result.evidence[eid] if eid >= 0 else None,
            )
    raise AssertionError(f"t={t} outside lane ({vm}, {vcpu})")

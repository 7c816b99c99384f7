"""vCPUs of traces without kvm_entry/kvm_exit (a PVM host, or the events not enabled).

Their threads are still found: they emit kvm_vcpu_wakeup, kvm_halt_poll_ns (which names
the vCPU), kvm_userspace_exit or kvm_pio, or they are the thread woken right after a
kvm_apic_accept_irq for their APIC id. Such an *exit-less* track is `running` while on a
CPU (guest or hypervisor, undistinguished). A blocking switch-out opens a wait candidate:
it collects accepts and its wake-up like any wait, and becomes a wait when the thread's next
KVM event is kvm_vcpu_wakeup (the halt ended), `blocked` when it is another one or when the
thread blocks again first. A track turns ordinary at its first kvm_entry/kvm_exit.
"""

from __future__ import annotations

from typing import Final

from w2a_tui.analysis.devices import ACCEPT_WAKE_NS, DeviceChains
from w2a_tui.analysis.identity import ThreadIdentity
from w2a_tui.analysis.tracks import CpuTrack, Gap, VcpuTrack
from w2a_tui.events import CPU, HALT_POLL_VCPU, TID, TS, WAKE_COMM, WAKE_TID, Event
from w2a_tui.model import State

_RUNNING: Final = int(State.RUNNING)
_BLOCKED: Final = int(State.BLOCKED)


class ExitlessEvents:
    """Mixin of the Analyzer: the KVM events other than entry/exit, and the wait
    candidates of exit-less tracks. Uses the analyzer's identity, CPUs and gaps."""

    identity: ThreadIdentity
    by_tid: dict[int, VcpuTrack]
    cpus: dict[int, CpuTrack]
    chains: DeviceChains
    first_ns: int
    seen_entry: bool
    seen_exit: bool
    seen_kinds: set[int]

    def _resync(self, v: VcpuTrack, cpu: int, ts: int) -> None:
        raise NotImplementedError

    def _close_gap(self, v: VcpuTrack, gap: Gap) -> None:
        raise NotImplementedError

    def _touch(self, tid: int, ev: Event) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ events

    def _exitless_track(self, ev: Event, vcpu_id: int = -1) -> VcpuTrack | None:
        """The vCPU track of the thread emitting `ev` (created, `running`, if new)."""
        ts, cpu = ev[TS], ev[CPU]
        self.seen_kinds.add(ev[2])
        tid = ev[TID] if ev[TID] >= 0 else self.identity.current_tid(cpu)
        if tid == 0:
            return None  # the idle task runs no vCPU
        self._touch(tid, ev)
        v = self.by_tid.get(tid)
        if v is None:
            v = self.identity.new_track(ts, cpu, ev, tid, -1, self.first_ns)
            if v is None:
                return None
            v.exitless = True
            v.push(ts, _RUNNING, -1)
        elif v.exitless and v.cpu != cpu:
            self._resync(v, cpu, ts)
        if vcpu_id >= 0 and v.vcpu_id < 0:
            v = self.identity.bind(v, vcpu_id)
        return v

    def _on_vcpu_wakeup(self, ev: Event) -> None:
        """The halt ended: an open candidate is a wait."""
        v = self._exitless_track(ev)
        if v is None or not v.exitless:
            return
        gap = v.gap
        if gap is not None and gap.candidate:
            gap.candidate = False
            if gap.switched_in:
                self._close_gap(v, gap)

    def _on_halt_poll(self, ev: Event) -> None:
        """Emitted on the way into or out of a halt: names the vCPU, decides nothing."""
        self._exitless_track(ev, ev[HALT_POLL_VCPU])

    def _on_vcpu_event(self, ev: Event) -> None:
        """kvm_userspace_exit / kvm_pio: the thread runs guest I/O, it was not halted."""
        v = self._exitless_track(ev)
        if v is not None and v.exitless and v.gap is not None and v.gap.switched_in:
            self._close_gap(v, v.gap)

    # ------------------------------------------------------------------ state machine

    def _candidate_out(self, v: VcpuTrack, ts: int) -> Gap:
        """A blocking switch-out of an exit-less track: a wait candidate."""
        index = v.push(ts, State.WAIT_UNKNOWN, -1)
        gap = v.gap = Gap(index, True)
        gap.candidate = True
        return gap

    def _not_a_halt(self, v: VcpuTrack, gap: Gap) -> None:
        """A candidate closed before any kvm_vcpu_wakeup: the thread blocked elsewhere."""
        gap.candidate = False
        gap.is_wait = False
        v.states[gap.index] = _BLOCKED

    def _accept_wake(self, ev: Event) -> None:
        """A thread woken right after an accept on the same CPU runs that APIC id's vCPU:
        bind a track that has no vcpu_id yet, or (in traces without kvm_entry/kvm_exit)
        create the track of a thread not seen before."""
        cpu = ev[CPU]
        accept = self.chains.last_accept.pop(cpu, None)
        if accept is None or ev[TS] - accept[0] > ACCEPT_WAKE_NS:
            return
        _, apicid, emitter, depth = accept
        c = self.cpus.get(cpu)
        waker = ev[TID] if ev[TID] >= 0 else (c.tid if c is not None else -1)
        if c is None or waker != emitter or len(c.labels) != depth:
            return  # not the same thread and context: not "right after"
        source = self.by_tid.get(emitter)
        if source is not None and source.vcpu_id == apicid:
            return  # a vCPU accepting for itself wakes no thread of that vCPU
        tid = ev[WAKE_TID]
        v = self.by_tid.get(tid)
        if v is None:
            if self.seen_entry or self.seen_exit or tid <= 0:
                return
            v = self.identity.new_track(ev[TS], -1, ev, tid, -1, self.first_ns)
            if v is None:
                return
            v.exitless = True
            v.cpu = -1
            v.comm = ev[WAKE_COMM]
        if v.vcpu_id < 0:
            self.identity.bind(v, apicid)

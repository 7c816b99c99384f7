"""A vCPU off the guest: halt-polling, blocking, timers, interrupts accepted and
delivered, wake-ups, and the wait reason the contract gives each wait."""

from __future__ import annotations

from typing import TYPE_CHECKING

from w2a_tui.model import Source, State
from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import (
    APIC_TIMER_FN,
    TASK_VECTORS,
    TIMER_VECTORS,
    US,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    E_HRTIMER,
    E_MAIN,
    E_OTHER,
    E_SOFTIRQ_BLOCK,
    E_SOFTIRQ_NET,
    E_VCPU,
    E_VHOST,
    GUEST,
    HYPER,
    M_BLOCKED,
    M_POLL,
    M_PREEMPTED,
    M_RUN,
    M_WAIT,
    RUNNING,
    SLEEPING,
    Cpu,
    Thread,
    Vcpu,
    Vm,
    Wait,
)

if TYPE_CHECKING:
    from w2a_tui.sim.scheduler import Scheduler
    from w2a_tui.sim.vcpu_run import VcpuRun


class VcpuWait(Part):
    """Drives a vCPU while it halts or waits, and settles why it waited."""

    sched: Scheduler
    guest: VcpuRun

    def wire(self, *, sched: Scheduler, guest: VcpuRun) -> None:
        """The parts this one calls."""
        self.sched = sched
        self.guest = guest

    def after_hlt(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        if v.pending or v.timer_pending:
            self._vcpu_resume_from_halt(v, cpu, t)
            return
        if not self._timer_armed(v):
            self.arm_timer(v, t + int(self.rng.uniform(*v.vm.sc.idle_timer_us) * US))
        # Without halt-polling the thread still checks for events right before schedule():
        # a ~1 us window in which a delivered interrupt cancels the block.
        poll_ns = self.sc.halt_poll_ns or self.d(300, 900)
        v.mode = M_POLL
        v.poll_tok += 1
        self.at(t + poll_ns, self._poll_end, v, v.poll_tok)

    def _timer_armed(self, v: Vcpu) -> bool:
        return v.timer_tok > 0

    def arm_timer(self, v: Vcpu, due: int) -> None:
        v.timer_tok = abs(v.timer_tok) + 1
        self.at(due, self._timer_fire, v, v.timer_tok)

    def _disarm_timer(self, v: Vcpu) -> None:
        v.timer_tok = -abs(v.timer_tok) - 1

    def _poll_end(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.poll_tok or v.mode != M_POLL:
            return
        cpu = self.cpus[v.thread.cpu]
        if self.postponed(cpu, t, self._poll_end, v, tok):
            return
        if v.pending or v.timer_pending:
            self._vcpu_resume_from_halt(v, cpu, self.begin(cpu, t))
            return
        self.block_halted(v, cpu, self.begin(cpu, t))

    def block_halted(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        v.poll_tok += 1
        v.mode = M_WAIT
        self.block(v, cpu, t, halted=True)

    def block(self, v: Vcpu, cpu: Cpu, t: int, halted: bool) -> None:
        self.sched.block(cpu, max(t, cpu.fixed_ts), v.thread)

    def switched_out(self, v: Vcpu, cpu: Cpu, t: int, prev_state: int, nxt: Thread) -> None:
        v.plan_tok += 1  # whatever the thread was about to do resumes at switch-in
        if prev_state & 0xFF:
            halted = v.mode == M_WAIT
            state = State.WAIT_UNKNOWN if halted else State.BLOCKED
            self.row(v, t, int(state))
            if v.known:
                v.wait = Wait(row=v.lane.base + len(v.lane.rows) - 1, halted=halted)
        else:
            v.mode = M_PREEMPTED
            self.row(v, t, int(State.PREEMPTED), next_tid=nxt.ctx)
        v.kick_due = False

    def woken(self, v: Vcpu, t: int, waker: int, waker_kind: int) -> None:
        """The wake-up ends the wait (then `ready`), unless the trace cannot show it."""
        w = v.wait
        assert w is not None
        w.woken = True
        w.wake_ts = t
        if not self.wake_events:
            return  # without wake-up events the wait lasts until switch-in
        w.waker_tid = waker
        w.waker_kind = waker_kind
        if not w.halted:
            rows = v.lane.rows
            i = w.row - v.lane.base
            rows[i] = (*rows[i][:5], waker, rows[i][6])
        self.row(v, t, int(State.READY), waker=waker)

    def accept(self, cpu: Cpu, t: int, v: Vcpu, vec: int, emitter: int) -> int:
        """kvm_apic_accept_irq for `v` in `cpu`'s current context, then deliver it."""
        self.emit(cpu, t, tp.KVM_ACCEPT_IRQ, v.vid, 0, 0, vec, 0)
        t_accept = t
        vm = v.vm
        if emitter == E_MAIN:
            vm.learned_disk.add(vec)
        elif emitter == E_VHOST:
            vm.learned_net.add(vec)
        t += self.d(200, 700)
        w = v.wait
        # Rule 2 window: switch-out .. wake-up (switch-in when the trace has no wake-ups).
        in_window = w is not None and v.thread.switch_out <= t_accept
        after_wake = w is not None and self.wake_events and w.woken and w.wake_ts < t_accept
        if v.mode == M_WAIT and w is not None and in_window and not after_wake:
            w.accept = (vec, emitter)
        # Pending until the next kvm_entry (which injects it, or, with APICv, the guest
        # takes it from the posted-interrupt descriptor without kvm_inj_virq).
        if t <= self.core.now:
            self._add_pending(t, v, vec)
        else:
            self.at(t, self._add_pending, v, vec)
        if v.mode == M_WAIT and v.thread.run == SLEEPING:
            if vec not in TIMER_VECTORS:
                self._disarm_timer(v)
            return self.sched.wake(cpu, t, v.thread, emitter)
        if v.mode == M_POLL:
            v.poll_tok += 1
            if vec not in TIMER_VECTORS:
                self._disarm_timer(v)
            self.at(t + self.d(500, 1500), self._poll_wake, v, v.poll_tok)
        elif v.mode == M_RUN and not v.kick_due:
            self.at(t + self.d(800, 2000), self._kick, v, v.plan_tok)
        return t

    def _add_pending(self, t: int, v: Vcpu, vec: int) -> None:
        if vec not in v.pending:
            v.pending.append(vec)

    def _kick(self, t: int, v: Vcpu, tok: int) -> None:
        """kvm_vcpu_kick of a running vCPU: exit (if in guest), inject, re-enter."""
        if v.mode != M_RUN or v.thread.run != RUNNING or not v.pending:
            return
        cpu = self.cpus[v.thread.cpu]
        if cpu.cur is not v.thread:
            return
        if self.postponed(cpu, t, self._kick, v, tok):
            return
        if self.sc.apicv:
            v.pending.clear()  # posted: the running guest takes it without an exit
            return
        t = self.begin(cpu, t)
        if v.kick_due:
            return  # an interrupt exit is already being handled; its re-entry injects
        if v.phase == GUEST:
            self.guest.exit(v, cpu, t, self.x["ext_intr"])
            t += self.d(500, 1200)
        self.guest.enter(v, cpu, t + self.d(300, 900))

    def _poll_wake(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.poll_tok or v.mode != M_POLL:
            return
        cpu = self.cpus[v.thread.cpu]
        if self.postponed(cpu, t, self._poll_wake, v, tok):
            return
        self._vcpu_resume_from_halt(v, cpu, self.begin(cpu, t))

    def _vcpu_resume_from_halt(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        v.poll_tok += 1
        v.mode = M_RUN
        if v.timer_pending:
            v.timer_pending = False
            self.emit(cpu, t, tp.KVM_ACCEPT_IRQ, v.vid, 0, 0, self.sc.timer_vector, 0)
            if not self.sc.apicv:
                v.pending.append(self.sc.timer_vector)
            t += self.d(300, 800)
        self.guest.enter(v, cpu, t)

    def _timer_fire(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.timer_tok:
            return
        if self.postponed(self.cpus[v.thread.cpu], t, self._timer_fire, v, tok):
            return
        v.timer_tok = -tok
        if v.mode not in (M_WAIT, M_POLL) or (v.mode == M_WAIT and v.thread.run != SLEEPING):
            return
        cpu = self.cpus[v.thread.cpu]
        t = self.sched.irq_enter(cpu, t)
        hrtimer = 0xFFFF9A1F00000000 + v.thread.tid * 0x1000 + 0x2A8
        self.emit(cpu, t, tp.HRTIMER_ENTRY, hrtimer, t, APIC_TIMER_FN)
        t += self.d(300, 800)
        if self.sc.timer_accept == "hrtimer":
            t = self.accept(cpu, t, v, self.sc.timer_vector, E_HRTIMER)
        else:
            v.timer_pending = True
            if v.mode == M_WAIT:
                t = self.sched.wake(cpu, t, v.thread, E_HRTIMER)
            else:
                v.poll_tok += 1
                self.at(t + self.d(500, 1500), self._poll_wake, v, v.poll_tok)
        self.emit(cpu, max(t, cpu.fixed_ts) + self.d(200, 600), tp.HRTIMER_EXIT, hrtimer)
        self.sched.irq_leave(cpu, cpu.fixed_ts + self.d(300, 800))

    def switched_in(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """Back on a pCPU: hypervisor until kvm_entry; settle the reason of the wait."""
        self.row(v, t, HYPER)
        w = v.wait
        v.wait = None
        prev_mode = v.mode
        v.mode = M_RUN
        t += self.d(2 * US, 8 * US)
        if prev_mode == M_BLOCKED:
            t += self.d(3 * US, 10 * US)  # finish the userspace exit
        if v.timer_pending:
            v.timer_pending = False
            self.emit(cpu, t, tp.KVM_ACCEPT_IRQ, v.vid, 0, 0, self.sc.timer_vector, 0)
            if not self.sc.apicv:
                v.pending.append(self.sc.timer_vector)
            t += self.d(300, 800)
        inj = max(v.pending) if v.pending and not self.sc.apicv else -1
        if w is not None and w.halted:
            self._resolve(v, w, inj)
        self.guest.enter(v, cpu, t)

    def _resolve(self, v: Vcpu, w: Wait, inj: int, at_end: bool = False) -> None:
        """Apply the contract's rules to a finished (or, `at_end`, still open) wait."""
        if inj >= 0:
            source, vector, reason = Source.INJ_VIRQ, inj, self._classify(v.vm, inj, -1)
        elif w.accept is not None:
            vector, emitter = w.accept
            source, reason = Source.APIC_ACCEPT_IRQ, self._classify(v.vm, vector, emitter)
        elif w.woken and self.wake_events and w.waker_kind != E_OTHER:
            source, vector = Source.WAKER, -1
            reason = {
                E_HRTIMER: State.WAIT_TIMER,
                E_VHOST: State.WAIT_NET,
                E_SOFTIRQ_NET: State.WAIT_NET,
                E_MAIN: State.WAIT_DISK,
                E_SOFTIRQ_BLOCK: State.WAIT_DISK,
                E_VCPU: State.WAIT_TASK,
            }[w.waker_kind]
        elif at_end and not (w.woken and self.wake_events):
            # It did not wake (or, without wake-up events, the wait lasts until switch-in):
            # still waiting when the trace ended.
            source, vector, reason = Source.OPEN, -1, State.WAIT_UNKNOWN
        else:
            source, vector, reason = Source.NONE, -1, State.WAIT_UNKNOWN
        rows = v.lane.rows
        i = w.row - v.lane.base
        start, _, exit_reason, _, _, _, _ = rows[i]
        waker = w.waker_tid if w.woken else -1
        rows[i] = (start, int(reason), exit_reason, int(source), vector, waker, -1)

    def _classify(self, vm: Vm, vec: int, emitter: int) -> State:
        if vec in TIMER_VECTORS:
            return State.WAIT_TIMER
        if vec in TASK_VECTORS:
            return State.WAIT_TASK
        if vec in vm.learned_disk or emitter == E_MAIN:
            return State.WAIT_DISK
        if vec in vm.learned_net or emitter == E_VHOST:
            return State.WAIT_NET
        if emitter == E_VCPU:
            return State.WAIT_TASK
        return State.WAIT_UNKNOWN

    def finish_open_waits(self) -> None:
        """A wait still open at the end keeps the reason its evidence so far gives."""
        for vm in self.vms:
            for v in vm.vcpus:
                if v.wait is not None and v.wait.halted:
                    self._resolve(v, v.wait, -1, at_end=True)

"""A CFS-like scheduler (switches, wake-ups, slices, preemption, idle balance) and the
interrupt entry/exit that makes a running guest leave to the host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import (
    MIN_GRANULARITY_NS,
    SCHED_LATENCY_NS,
    TICK_NS,
    TICK_SCHED_TIMER_FN,
    US,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    GUEST,
    HYPER,
    M_POLL,
    M_RUN,
    NEWBORN,
    RUNNABLE,
    RUNNING,
    SLEEPING,
    Cpu,
    Kind,
    Thread,
)

if TYPE_CHECKING:
    from w2a_tui.sim.vcpu_run import VcpuRun
    from w2a_tui.sim.vcpu_wait import VcpuWait
    from w2a_tui.sim.vm_launch import VmLauncher
    from w2a_tui.sim.workers import Workers


class Scheduler(Part):
    """Decides which thread runs on each pCPU, and when."""

    guest: VcpuRun
    waits: VcpuWait
    workers: Workers
    launcher: VmLauncher

    def wire(
        self, *, guest: VcpuRun, waits: VcpuWait, workers: Workers, launcher: VmLauncher
    ) -> None:
        """The parts this one calls."""
        self.guest = guest
        self.waits = waits
        self.workers = workers
        self.launcher = launcher

    def _switch(self, cpu: Cpu, t: int, nxt: Thread, prev_state: int) -> None:
        """sched_switch on `cpu` at `t` from its current thread to `nxt`."""
        prev = cpu.cur
        self.emit(
            cpu, t, tp.SCHED_SWITCH,
            prev.comm_b, prev.tid, prev.prio, prev_state, nxt.comm_b, nxt.tid, nxt.prio,
        )  # fmt: skip
        prev.switch_out = t
        pv = prev.vcpu
        if pv is not None:
            self.waits.switched_out(pv, cpu, t, prev_state, nxt)
        cpu.cur = nxt
        cpu.slice_tok += 1
        cpu.slice_armed = False
        if nxt in cpu.rq:
            cpu.rq.remove(nxt)
        nxt.run = RUNNING
        nxt.cpu = cpu.id
        nxt.switch_in = t
        nv = nxt.vcpu
        if nv is not None and nv.starting == NEWBORN:
            nv.plan_tok += 1
            self.at(t + self.d(3 * US, 10 * US), self.launcher.vcpu_birth, nv, nv.plan_tok)
        elif nv is not None:
            nv.starting = 0
            self.waits.switched_in(nv, cpu, t)
        elif nxt.kind is not Kind.IDLE and nxt.kind is not Kind.BATCH:
            nxt.step_tok += 1
            self.at(t + self.d(1 * US, 3 * US), self.workers.step, nxt, nxt.step_tok)
        if cpu.rq:
            self.ensure_slice(cpu, t)

    def _pick_next(self, cpu: Cpu, t: int) -> Thread:
        if cpu.rq:
            return cpu.rq.pop(0)

        def stealable(th: Thread) -> bool:
            allowed = th.allowed is None or cpu.id in th.allowed
            return allowed and th.switch_out + US <= t

        # Idle balance: pull a waiting runnable thread from the busiest other CPU.
        best: Cpu | None = None
        for other in self.cpus:
            bigger = best is None or len(other.rq) > len(best.rq)
            if other is not cpu and bigger and any(stealable(th) for th in other.rq):
                best = other
        if best is not None:
            for th in best.rq:
                if stealable(th):
                    best.rq.remove(th)
                    return th
        return cpu.idle

    def block(self, cpu: Cpu, t: int, th: Thread, state: int = tp.TASK_INTERRUPTIBLE) -> None:
        th.run = SLEEPING
        self._switch(cpu, t, self._pick_next(cpu, t), state)

    def _preempt(self, cpu: Cpu, t: int) -> None:
        cur = cpu.cur
        if not cpu.rq:
            return
        nxt = cpu.rq.pop(0)
        if cur.kind is not Kind.IDLE:
            cur.run = RUNNABLE
            cpu.rq.append(cur)
        self._switch(cpu, t, nxt, 0 if cur.kind is Kind.IDLE else self.profile.preempt_state)

    def ensure_slice(self, cpu: Cpu, t: int) -> None:
        if cpu.slice_armed or cpu.cur.kind is Kind.IDLE:
            return
        cpu.slice_armed = True
        slice_ns = max(MIN_GRANULARITY_NS, SCHED_LATENCY_NS // (1 + len(cpu.rq)))
        due = max(t, cpu.cur.switch_in + slice_ns)
        due = (due // TICK_NS + 1) * TICK_NS + cpu.id * 37 * US
        self.at(due, self._tick, cpu, cpu.slice_tok)

    def _tick(self, t: int, cpu: Cpu, tok: int) -> None:
        if tok != cpu.slice_tok or not cpu.rq:
            cpu.slice_armed = False if tok == cpu.slice_tok else cpu.slice_armed
            return
        if self.postponed(cpu, t, self._tick, cpu, tok):
            return
        t = self.irq_enter(cpu, t)
        self.emit(
            cpu, t, tp.HRTIMER_ENTRY, 0xFFFF9A1F3FC1B8E0 + cpu.id * 0x40, t, TICK_SCHED_TIMER_FN
        )
        self.emit(cpu, t + 900, tp.HRTIMER_EXIT, 0xFFFF9A1F3FC1B8E0 + cpu.id * 0x40)
        self._resched_now(cpu, t + 1500)

    def _should_preempt(self, cur: Thread, woken: Thread) -> bool:
        if cur.kind is Kind.BATCH:
            return woken.kind is not Kind.BATCH
        if cur.kind is Kind.VCPU:
            if woken.kind is Kind.KWORKER:
                return True
            if woken.kind in (Kind.MAIN, Kind.IOTHREAD, Kind.VHOST):
                return self.rng.random() < 0.3
        return False

    def wake(self, cpu: Cpu, t: int, th: Thread, waker_kind: int) -> int:
        """`cpu`'s current context wakes `th` at `t`; returns the time after the events."""
        if th.run != SLEEPING:
            return t
        if self.wake_events:
            self.emit(cpu, t, tp.SCHED_WAKING, th.comm_b, th.tid, th.prio, th.cpu)
        target = self.select_cpu(th)
        v = th.vcpu
        if v is not None and v.wait is not None and not v.wait.woken:
            self.waits.woken(v, t, cpu.cur.ctx, waker_kind)
        t2 = t + self.d(300, 900)
        if self.wake_events:
            self.emit(cpu, t2, tp.SCHED_WAKEUP, th.comm_b, th.tid, th.prio, target.id)
        th.run = RUNNABLE
        # Other CPUs see the wake-up only from its time on (the handler may run ahead of
        # the simulation clock on its own CPU).
        if t2 <= self.core.now and th.switch_out + US <= t2:
            self.enqueue(t2, th, target)
        else:
            self.at(t2, self.enqueue, th, target)
        return t2 + self.d(200, 600)

    def enqueue(self, t2: int, th: Thread, target: Cpu) -> None:
        if th.switch_out + US > t2:
            # The wake-up raced with the thread's own switch-out: queue it once it is off.
            self.at(th.switch_out + US, self.enqueue, th, target)
            return
        target.rq.append(th)
        if target.cur.kind is Kind.IDLE:
            if not target.resched_armed:
                target.resched_armed = True
                self.at(t2 + self.d(2 * US, 20 * US), self.resched, target)
        elif self._should_preempt(target.cur, th):
            if not target.resched_armed:
                target.resched_armed = True
                self.at(t2 + self.d(1 * US, 4 * US), self.resched, target)
        else:
            self.ensure_slice(target, t2)

    def select_cpu(self, th: Thread) -> Cpu:
        prev = self.cpus[th.cpu]
        allowed = th.allowed
        if prev.cur.kind is Kind.IDLE and not prev.rq:
            return prev
        n = len(self.cpus)
        for k in range(1, n):
            c = self.cpus[(th.cpu + k) % n]
            if (allowed is None or c.id in allowed) and c.cur.kind is Kind.IDLE and not c.rq:
                return c
        return prev

    def resched(self, t: int, cpu: Cpu) -> None:
        if self.postponed(cpu, t, self.resched, cpu):
            return
        cpu.resched_armed = False
        t = self.begin(cpu, t)
        if not cpu.rq:
            return
        cur = cpu.cur
        v = cur.vcpu
        if v is not None and v.phase == GUEST:
            # The reschedule IPI makes the guest exit first.
            self.guest.exit(v, cpu, t, self.x["ext_intr"])
            t += self.d(800, 2000)
        self._resched_now(cpu, t)

    def _resched_now(self, cpu: Cpu, t: int) -> None:
        """Give the CPU to the first queued thread, as schedule() would at `t`."""
        cur = cpu.cur
        v = cur.vcpu
        if not cpu.rq:
            if v is not None and v.phase == HYPER and v.mode == M_RUN:
                self.guest.enter(v, cpu, t + self.d(500, 1500))
            return
        if v is not None and v.mode == M_POLL:
            # need_resched ends halt-polling: the vCPU blocks as it would have anyway.
            self.waits.block_halted(v, cpu, t)
            return
        self._preempt(cpu, t)

    def irq_enter(self, cpu: Cpu, t: int) -> int:
        t = self.begin(cpu, t)
        v = cpu.cur.vcpu
        if v is not None and v.phase == GUEST:
            self.guest.exit(v, cpu, t, self.x["ext_intr"])
            v.kick_due = True
            t += self.d(400, 900)
        return t

    def irq_leave(self, cpu: Cpu, t: int) -> None:
        v = cpu.cur.vcpu
        if v is not None and v.kick_due:
            v.kick_due = False
            if cpu.resched_armed and cpu.rq:
                return  # the pending reschedule decides what runs next
            self.guest.enter(v, cpu, t + self.d(500, 1500))

"""The trace's first moments: where every vCPU and batch thread is when tracing starts,
the LTTng statedump that lists them, and the periodic host activity being set going."""

from __future__ import annotations

from typing import TYPE_CHECKING

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import (
    US,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    GUEST,
    HYPER,
    INITIAL_STATES,
    M_PREEMPTED,
    M_RUN,
    RUNNABLE,
    RUNNING,
    SLEEPING,
    Kind,
    Thread,
    Vcpu,
)

if TYPE_CHECKING:
    from w2a_tui.sim.scheduler import Scheduler
    from w2a_tui.sim.vcpu_run import VcpuRun
    from w2a_tui.sim.vcpu_wait import VcpuWait
    from w2a_tui.sim.vm_launch import VmLauncher
    from w2a_tui.sim.workers import Workers


class Startup(Part):
    """Sets the host going at the trace's start."""

    sched: Scheduler
    guest: VcpuRun
    waits: VcpuWait
    workers: Workers
    launcher: VmLauncher

    def wire(
        self,
        *,
        sched: Scheduler,
        guest: VcpuRun,
        waits: VcpuWait,
        workers: Workers,
        launcher: VmLauncher,
    ) -> None:
        """The parts this one calls."""
        self.sched = sched
        self.guest = guest
        self.waits = waits
        self.workers = workers
        self.launcher = launcher

    def start(self) -> None:
        """Place everything, emit the statedump and schedule the first periodic work."""
        sc, rng, t = self.sc, self.rng, self.core.t0
        cpu0 = self.cpus[0]
        cpu0.cur = self.core.sessiond
        self.core.sessiond.run = RUNNING
        # Batch threads: running on their CPU or queued behind another batch thread.
        for b in self.core.batch:
            cpu = self.cpus[b.cpu]
            if cpu.cur.kind is Kind.IDLE:
                cpu.cur = b
                b.run = RUNNING
            else:
                cpu.rq.append(b)
                b.run = RUNNABLE
                self.sched.ensure_slice(cpu, t)
        if sc.initial:
            running = [v for vm in self.vms if vm.launch == 0 for v in vm.vcpus]
            for k, v in enumerate(running):
                self._place(v, sc.initial[k % len(sc.initial)], t)
        # The statedump, emitted by lttng-sessiond on CPU 0 in its session-start call, lists
        # every thread alive. On a busy host it reaches the VMs' threads only after their
        # first events (`statedump_delay_us`).
        self.emit(cpu0, t, tp.STATEDUMP_START)
        ts = t + 2 * US + int(sc.statedump_delay_us * US)
        for th in self.threads.values():
            if not th.born:
                continue
            # Live: as the thread is when listed (lttng-modules); else as at the start.
            at_start = None if sc.statedump_live else (self._run_status(th), th.cpu)
            self.at(ts, self._statedump_thread, th, at_start)
            ts += self.d(300, 900)
        self.at(ts, self._statedump_end)
        cpu0.fixed_ts = ts  # lttng-sessiond holds CPU 0 until the dump ends
        self.at(ts + 5 * US, self._sessiond_sleep)
        # A halted vCPU has its LAPIC timer armed; the others run already.
        for vm in self.vms:
            for v in vm.vcpus:
                if v.at_start == "halted":
                    v.wait = None
                    self.waits.arm_timer(v, ts + int(rng.uniform(50, 800) * US))
                else:
                    self._run_placed(v, t)
        for cpu in self.cpus:
            self.at(
                t + int(rng.uniform(0.1, 1.0) * sc.kworker_period_us * US), self.workers.kwork, cpu
            )
        for vm in self.vms:
            if vm.sc.main_loop_period_us > 0 and vm.started:
                self.at(t + self.exp_ns(vm.sc.main_loop_period_us * US), self.workers.main_loop, vm)
        for vm in self.vms:
            if vm.sc.net_rx_per_s > 0 and vm.started:
                self.at(t + self.exp_ns(1e9 / vm.sc.net_rx_per_s), self.workers.net_rx_tick, vm)
        for vm in self.vms:
            if not vm.started:
                self.at(vm.launch, self.launcher.launch, vm)

    def _place(self, v: Vcpu, where: str, t: int) -> None:
        """Put a vCPU where it is when the trace begins (before the statedump sees it).
        A vCPU meant to be on a busy CPU waits in its run queue instead (`preempted`)."""
        if where not in INITIAL_STATES:
            raise ValueError(f"unknown initial vCPU state {where!r}")
        th = v.thread
        cpu = self.cpus[th.cpu]
        if where in ("guest", "hypervisor") and cpu.cur.kind is not Kind.IDLE:
            where = "preempted"
        v.at_start = where
        if where in ("guest", "hypervisor"):
            cpu.cur = th
            th.run = RUNNING
            th.switch_in = t
            v.mode = M_RUN
            v.phase = GUEST if where == "guest" else HYPER
        elif where == "preempted":
            th.run = RUNNABLE
            cpu.rq.append(th)
            v.mode = M_PREEMPTED
            v.phase = HYPER

    def _run_placed(self, v: Vcpu, t: int) -> None:
        """Set a placed vCPU going: the guest runs on (its first kvm_exit is its first
        evidence); the hypervisor injects the pending timer tick and enters; a preempted
        one waits for its CPU."""
        cpu = self.cpus[v.thread.cpu]
        if v.at_start == "guest":
            self.guest.plan(v, cpu, t)
        elif v.at_start == "hypervisor":
            if not self.sc.apicv:
                v.pending.append(self.sc.timer_vector)
            v.plan_tok += 1
            self.at(t + self.d(2 * US, 20 * US), self._first_entry, v, v.plan_tok)
        elif cpu.cur.kind is Kind.IDLE:
            cpu.resched_armed = True
            self.at(t + self.d(2 * US, 20 * US), self.sched.resched, cpu)
        else:
            self.sched.ensure_slice(cpu, t)

    def _first_entry(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.plan_tok or v.mode != M_RUN or v.phase != HYPER:
            return
        cpu = self.cpus[v.thread.cpu]
        if cpu.cur is not v.thread or self.postponed(cpu, t, self._first_entry, v, tok):
            return
        self.guest.enter(v, cpu, self.begin(cpu, t))

    def _run_status(self, th: Thread) -> int:
        """lttng_process_status: WAIT (5) asleep, WAIT_CPU (2) queued, RUN (6) running,
        or, live as lttng-modules writes it, WAIT_CPU for running and queued alike."""
        if th.run == SLEEPING:
            return 5
        return 6 if th.run == RUNNING and not self.sc.statedump_live else 2

    def _statedump_thread(self, t: int, th: Thread, at_start: tuple[int, int] | None) -> None:
        """One `lttng_statedump_process_state`, listing `th` with its status and CPU."""
        cpu0 = self.cpus[0]
        held = cpu0.fixed_ts
        status, cpu = at_start if at_start is not None else (self._run_status(th), th.cpu)
        kthread = 1 if th.ppid == 2 or th.tid == 2 else 0
        self.emit(
            cpu0, t, tp.STATEDUMP_PROCESS,
            th.tid, th.tid, th.pid, th.pid, th.ppid, th.ppid, th.comm_b,
            kthread, 5 if status == 5 else 0, 0, status, cpu,
        )  # fmt: skip
        cpu0.fixed_ts = max(held, t)

    def _statedump_end(self, t: int) -> None:
        cpu0 = self.cpus[0]
        held = cpu0.fixed_ts
        self.emit(cpu0, t, tp.STATEDUMP_END)
        cpu0.fixed_ts = max(held, t)

    def _sessiond_sleep(self, t: int) -> None:
        cpu = self.cpus[0]
        if self.postponed(cpu, t, self._sessiond_sleep):
            return
        if cpu.cur is self.core.sessiond:
            self.sched.block(cpu, self.begin(cpu, t), self.core.sessiond)

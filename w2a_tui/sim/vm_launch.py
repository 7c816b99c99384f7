"""A VM launched during the trace: libvirtd forks QEMU, which execs, renames itself,
forks its helper and vCPU threads, and lets the guest run at `cont`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import (
    HRTIMER_WAKEUP_FN,
    US,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    AWAIT_START,
    E_MAIN,
    E_OTHER,
    M_RUN,
    RUNNABLE,
    SLEEPING,
    Cpu,
    Thread,
    Vcpu,
    Vm,
)

if TYPE_CHECKING:
    from w2a_tui.sim.scheduler import Scheduler
    from w2a_tui.sim.vcpu_run import VcpuRun
    from w2a_tui.sim.workers import Workers


class VmLauncher(Part):
    """Launches a VM while tracing, as libvirtd and QEMU do."""

    sched: Scheduler
    guest: VcpuRun
    workers: Workers

    def wire(self, *, sched: Scheduler, guest: VcpuRun, workers: Workers) -> None:
        """The parts this one calls."""
        self.sched = sched
        self.guest = guest
        self.workers = workers

    def launch(self, t: int, vm: Vm) -> None:
        """libvirtd's RPC worker wakes (its poll times out) to start the VM's QEMU."""
        worker = self.core.libvirt_worker
        assert worker is not None
        cpu = self.cpus[worker.cpu]
        if self.postponed(cpu, t, self.launch, vm):
            return
        t = self.sched.irq_enter(cpu, t)
        hrtimer = 0xFFFFA3C0C0000000 + worker.tid * 0x100
        self.emit(cpu, t, tp.HRTIMER_ENTRY, hrtimer, t, HRTIMER_WAKEUP_FN)
        worker.work.append(("spawn", vm))
        t = self.sched.wake(cpu, t + 400, worker, E_OTHER)
        self.emit(cpu, max(t, cpu.fixed_ts) + 300, tp.HRTIMER_EXIT, hrtimer)
        self.sched.irq_leave(cpu, cpu.fixed_ts + 500)

    def fork(self, cpu: Cpu, t: int, parent: Thread, child: Thread) -> int:
        """`parent` (current on `cpu`) forks `child`, which inherits its comm, and wakes it
        (sched_wakeup_new, no sched_waking); returns the time after the events."""
        ns = tp.PID_NS_INIT_INUM
        self.emit(
            cpu, t, tp.SCHED_PROCESS_FORK,
            parent.comm_b, parent.tid, parent.pid, ns,
            child.comm_b, child.tid, (child.tid,), child.pid, ns,
        )  # fmt: skip
        child.born = True
        child.switch_out = t - US  # it exists from now on, runnable
        target = self.sched.select_cpu(child)
        t2 = t + self.d(1 * US, 3 * US)
        self.emit(cpu, t2, tp.SCHED_WAKEUP_NEW, child.comm_b, child.tid, child.prio, target.id)
        child.run = RUNNABLE
        if t2 <= self.core.now:
            self.sched.enqueue(t2, child, target)
        else:
            self.at(t2, self.sched.enqueue, child, target)
        return t2 + self.d(200, 600)

    def startup_work(self, vm: Vm) -> list[tuple[Any, ...]]:
        """What the new QEMU main thread does before the guest runs: exec, the call_rcu
        thread, prctl(PR_SET_NAME, "qemu:NAME"), vhost-net (kthreadd forks `vhost-<pid>`),
        an iothread, one thread per vCPU, machine setup (firmware, ROMs), then `cont`."""
        work: list[tuple[Any, ...]] = [("exec",), ("fork", vm.call_rcu), ("rename",)]
        work.append(("kthread", vm.vhost))
        if vm.io is not vm.main:
            work.append(("fork", vm.io))
        work += [("fork", v.thread) for v in vm.vcpus]
        work += [("init",), ("cont", vm)]
        return work

    def vcpu_birth(self, t: int, v: Vcpu, tok: int) -> None:
        """A new vCPU thread names itself `CPU n/KVM` and creates its KVM vCPU."""
        th = v.thread
        cpu = self.cpus[th.cpu]
        if tok != v.plan_tok or cpu.cur is not th:
            return
        if self.postponed(cpu, t, self.vcpu_birth, v, tok):
            return
        t = self.begin(cpu, t)
        if th.stage < len(th.names) - 1:
            th.rename()
        v.plan_tok += 1  # KVM_CREATE_VCPU and the vCPU's setup take a while
        self.at(t + self.d(20 * US, 60 * US), self._vcpu_created, v, v.plan_tok)

    def _vcpu_created(self, t: int, v: Vcpu, tok: int) -> None:
        """Enter the guest if QEMU's `cont` came already, else wait for it."""
        th = v.thread
        cpu = self.cpus[th.cpu]
        if tok != v.plan_tok or cpu.cur is not th:
            return
        if self.postponed(cpu, t, self._vcpu_created, v, tok):
            return
        t = self.begin(cpu, t)
        if v.vm.started:
            v.starting = 0
            v.mode = M_RUN
            self.guest.enter(v, cpu, t)
        else:
            v.starting = AWAIT_START
            self.sched.block(cpu, t, th)

    def start_vm(self, cpu: Cpu, t: int, vm: Vm) -> int:
        """QEMU's `cont`: wake the vCPU threads waiting for it; the VM's timers start."""
        vm.started = True
        for v in vm.vcpus:
            if v.starting == AWAIT_START and v.thread.run == SLEEPING:
                t = self.sched.wake(cpu, t, v.thread, E_MAIN)
        if vm.sc.main_loop_period_us > 0:
            self.at(t + self.exp_ns(vm.sc.main_loop_period_us * US), self.workers.main_loop, vm)
        if vm.sc.net_rx_per_s > 0:
            self.at(t + self.exp_ns(1e9 / vm.sc.net_rx_per_s), self.workers.net_rx_tick, vm)
        return t

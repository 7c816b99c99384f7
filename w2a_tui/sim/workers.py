"""Host worker threads and devices: QEMU's main loop and iothread, vhost-net, kworkers,
disk and NIC interrupts, and the work queue each thread steps through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import (
    HRTIMER_WAKEUP_FN,
    QEMU_BINARY,
    SOFTIRQ_BLOCK,
    SOFTIRQ_NET_RX,
    SOFTIRQ_TIMER,
    US,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    E_MAIN,
    E_OTHER,
    E_SOFTIRQ_BLOCK,
    E_SOFTIRQ_NET,
    E_VHOST,
    RUNNING,
    SLEEPING,
    Cpu,
    Thread,
    Vcpu,
    Vm,
)
from w2a_tui.sim.scenarios import Scenario

if TYPE_CHECKING:
    from w2a_tui.sim.scheduler import Scheduler
    from w2a_tui.sim.vcpu_wait import VcpuWait
    from w2a_tui.sim.vm_launch import VmLauncher


class Workers(Part):
    """Runs the host threads that serve the guests."""

    sched: Scheduler
    waits: VcpuWait
    launcher: VmLauncher

    def wire(self, *, sched: Scheduler, waits: VcpuWait, launcher: VmLauncher) -> None:
        """The parts this one calls."""
        self.sched = sched
        self.waits = waits
        self.launcher = launcher

    def queue_work(self, cpu: Cpu, t: int, th: Thread, item: tuple[Any, ...], kind: int) -> int:
        th.work.append(item)
        return self.sched.wake(cpu, t, th, kind)

    def step(self, t: int, th: Thread, tok: int) -> None:
        if tok != th.step_tok or th.run != RUNNING:
            return
        cpu = self.cpus[th.cpu]
        if cpu.cur is not th:
            return
        if self.postponed(cpu, t, self.step, th, tok):
            return
        t = self.begin(cpu, t)
        if not th.work:
            self.sched.block(cpu, t, th)
            return
        item = th.work.pop(0)
        op = item[0]
        d = self.d(3 * US, 10 * US)
        if op == "submit":
            d = self.d(8 * US, 25 * US)
            self.at(t + self._disk_latency(item[1].vm.sc), self._disk_irq, item[1])
        elif op == "complete":
            v = item[1]
            emitter = E_MAIN
            t = self.waits.accept(cpu, t, v, v.vm.disk_vec, emitter)
        elif op == "tx":
            d = self.d(4 * US, 12 * US)
            self.at(t + int(self.rng.uniform(40, 600) * US), self._net_rx, item[1].vm, item[1])
        elif op == "rx":
            v = item[1]
            t = self.waits.accept(cpu, t, v, v.vm.net_vec, E_VHOST)
        elif op == "loop":
            lo, hi = th.vm.sc.main_loop_work_us if th.vm is not None else (30.0, 120.0)
            d = self.d(int(lo * US), int(hi * US))
        elif op == "bql":
            v = item[1]
            if v.thread.run == SLEEPING:
                t = self.sched.wake(cpu, t, v.thread, E_MAIN)
        elif op == "spawn":  # libvirtd forks QEMU's main thread
            vm = item[1]
            vm.main.work = self.launcher.startup_work(vm)
            t = self.launcher.fork(cpu, t, th, vm.main)
        elif op == "exec":
            self.emit(cpu, t, tp.SCHED_PROCESS_EXEC, QEMU_BINARY, th.tid, th.tid)
            th.rename()
            d = self.d(300 * US, 900 * US)  # loading the binary and its libraries
        elif op == "rename":
            th.rename()
        elif op == "fork":
            t = self.launcher.fork(cpu, t, th, item[1])
        elif op == "kthread":  # kthread_create: kthreadd forks it
            t = self.queue_work(cpu, t, self.threads[2], ("fork", item[1]), E_OTHER)
        elif op == "init":
            d = self.d(2000 * US, 5000 * US)
        elif op == "cont":
            t = self.launcher.start_vm(cpu, t, item[1])
        th.step_tok += 1
        self.at(max(t, cpu.fixed_ts) + d, self.step, th, th.step_tok)

    def _disk_latency(self, sc: Scenario) -> int:
        """Time from a request's submission to its completion interrupt."""
        if sc.slow_disk_prob > 0 and self.rng.random() < sc.slow_disk_prob:
            return int(self.rng.uniform(*sc.slow_disk_us) * US)
        return int(self.rng.uniform(*sc.disk_latency_us) * US)

    def _disk_irq(self, t: int, v: Vcpu) -> None:
        vm = v.vm
        cpu = self.cpus[vm.irq_cpu]
        if self.postponed(cpu, t, self._disk_irq, v):
            return
        t = self.sched.irq_enter(cpu, t)
        name = f"nvme0q{vm.index + 1}".encode()
        self.emit(cpu, t, tp.IRQ_ENTRY, vm.disk_irq, name)
        self.emit(cpu, t + 400, tp.SOFTIRQ_RAISE, SOFTIRQ_BLOCK)
        self.emit(cpu, t + 900, tp.IRQ_EXIT, vm.disk_irq, 1)
        self.emit(cpu, t + 1500, tp.SOFTIRQ_ENTRY, SOFTIRQ_BLOCK)
        t = self.queue_work(cpu, t + 2500, vm.io, ("complete", v), E_SOFTIRQ_BLOCK)
        self.emit(cpu, t + 300, tp.SOFTIRQ_EXIT, SOFTIRQ_BLOCK)
        self.sched.irq_leave(cpu, t + 800)

    def _net_rx(self, t: int, vm: Vm, v: Vcpu) -> None:
        cpu = self.cpus[(vm.irq_cpu + 1) % len(self.cpus)]
        if self.postponed(cpu, t, self._net_rx, vm, v):
            return
        t = self.sched.irq_enter(cpu, t)
        self.emit(cpu, t, tp.IRQ_ENTRY, vm.nic_irq, b"enp3s0f0-TxRx-1")
        self.emit(cpu, t + 400, tp.SOFTIRQ_RAISE, SOFTIRQ_NET_RX)
        self.emit(cpu, t + 800, tp.IRQ_EXIT, vm.nic_irq, 1)
        self.emit(cpu, t + 1300, tp.SOFTIRQ_ENTRY, SOFTIRQ_NET_RX)
        t = self.queue_work(cpu, t + 3000, vm.vhost, ("rx", v), E_SOFTIRQ_NET)
        self.emit(cpu, t + 300, tp.SOFTIRQ_EXIT, SOFTIRQ_NET_RX)
        self.sched.irq_leave(cpu, t + 800)

    def net_rx_tick(self, t: int, vm: Vm) -> None:
        v = vm.vcpus[self.rng.randrange(len(vm.vcpus))]
        self._net_rx(t, vm, v)
        self.at(t + self.exp_ns(1e9 / vm.sc.net_rx_per_s), self.net_rx_tick, vm)

    def main_loop(self, t: int, vm: Vm) -> None:
        """The QEMU main loop's ppoll times out: it runs its timers holding the BQL."""
        main = vm.main
        cpu = self.cpus[main.cpu]
        if self.postponed(cpu, t, self.main_loop, vm):
            return
        t = self.sched.irq_enter(cpu, t)
        hrtimer = 0xFFFFA3C0C0000000 + main.tid * 0x100
        self.emit(cpu, t, tp.HRTIMER_ENTRY, hrtimer, t, HRTIMER_WAKEUP_FN)
        main.work.append(("loop",))
        t = self.sched.wake(cpu, t + 400, main, E_OTHER)
        self.emit(cpu, max(t, cpu.fixed_ts) + 300, tp.HRTIMER_EXIT, hrtimer)
        self.sched.irq_leave(cpu, cpu.fixed_ts + 500)
        self.at(t + self.exp_ns(vm.sc.main_loop_period_us * US), self.main_loop, vm)

    def kwork(self, t: int, cpu: Cpu) -> None:
        kw = self.core.kworkers[cpu.id]
        if self.postponed(cpu, t, self.kwork, cpu):
            return
        t = self.sched.irq_enter(cpu, t)
        self.emit(cpu, t, tp.SOFTIRQ_ENTRY, SOFTIRQ_TIMER)
        kw.work.append(("kwork",))
        t = self.sched.wake(cpu, t + 1200, kw, E_OTHER)
        self.emit(cpu, max(t, cpu.fixed_ts) + 300, tp.SOFTIRQ_EXIT, SOFTIRQ_TIMER)
        self.sched.irq_leave(cpu, cpu.fixed_ts + 700)
        period = self.sc.kworker_period_us * US
        self.at(t + int(self.rng.uniform(0.5, 1.5) * period), self.kwork, cpu)

"""A discrete-event simulator of a KVM host: pCPUs, a CFS-like scheduler, QEMU processes,
host noise, and guests that run, exit, halt and get woken by timers, IPIs, disk and net.

It emits the kernel events a real host would emit, in the order KVM emits them, onto
per-CPU buffers (`(ts, class_id, ctx_tid, *payload)`), and records for every vCPU the
state the contract (docs/vcpu-states.md) assigns, from those very events.

Speed: guest exits that interact with nothing are *planned* ahead in one tight loop
(written straight to the CPU buffer and the truth lane) up to the vCPU's next
interacting action; anything that later touches that CPU earlier cuts the plan at its
time (`_begin`). Guest behaviour is memoryless, so a cut plan is simply redrawn.

Layout (one job per module; this module puts them together):
  constants.py   exit codes, noise-exit mix, vectors, kernel addresses, scheduler timings
  entities.py    Thread, Vcpu, Vm, Cpu, Wait and their state / mode / waker codes
  core.py        SimCore: state, event heap, emit, plan cutting, truth rows, run, flush
  host_setup.py  the host, QEMU processes and vCPU threads as the trace finds them
  startup.py     where everything is at the trace's start, the statedump, periodic work
  vm_launch.py   a VM that libvirtd launches during the trace (fork, exec, rename, cont)
  scheduler.py   the CFS-like scheduler and interrupt entry/exit
  vcpu_run.py    a vCPU in the guest: exits planned ahead and its interacting actions
  vcpu_wait.py   a vCPU halted or blocked: polling, timers, interrupts, wait reasons
  workers.py     QEMU main loop / iothread, vhost, kworkers, disk and NIC interrupts
"""

from __future__ import annotations

from w2a_tui.sim.host_setup import HostSetupMixin
from w2a_tui.sim.scheduler import SchedulerMixin
from w2a_tui.sim.startup import StartupMixin
from w2a_tui.sim.vcpu_run import VcpuRunMixin
from w2a_tui.sim.vcpu_wait import VcpuWaitMixin
from w2a_tui.sim.vm_launch import VmLaunchMixin
from w2a_tui.sim.workers import WorkersMixin


class Simulator(
    HostSetupMixin,
    StartupMixin,
    VmLaunchMixin,
    SchedulerMixin,
    VcpuRunMixin,
    VcpuWaitMixin,
    WorkersMixin,
):
    """Runs one scenario; `run()` returns when simulated time is over."""

"""A discrete-event simulator of a KVM host: pCPUs, a CFS-like scheduler, QEMU processes,
host noise, and guests that run, exit, halt and get woken by timers, IPIs, disk and net.

It emits the kernel events a real host would emit, in the order KVM emits them, onto
per-CPU buffers (`(ts, class_id, ctx_tid, *payload)`), and records for every vCPU the
state the contract (docs/vcpu-states.md) assigns, from those very events.

Speed: guest exits that interact with nothing are *planned* ahead in one tight loop
(written straight to the CPU buffer and the truth lane) up to the vCPU's next
interacting action; anything that later touches that CPU earlier cuts the plan at its
time (`SimCore.begin`). Guest behaviour is memoryless, so a cut plan is simply redrawn.

Layout (one job per module; this module puts them together):
  constants.py   exit codes, noise-exit mix, vectors, kernel addresses, scheduler timings
  entities.py    Thread, Vcpu, Vm, Cpu, Wait and their state / mode / waker codes
  core.py        SimCore: state, event heap, emit, plan cutting, truth rows, run, flush;
                 Part: what every collaborating object below keeps of the core
  host_setup.py  HostSetup: the host, QEMU processes and vCPU threads as the trace finds them
  startup.py     Startup: where everything is at the trace's start, the statedump, periodic work
  vm_launch.py   VmLauncher: a VM that libvirtd launches during the trace (fork, exec, rename, cont)
  scheduler.py   Scheduler: the CFS-like scheduler and interrupt entry/exit
  vcpu_run.py    VcpuRun: a vCPU in the guest, exits planned ahead and its interacting actions
  vcpu_wait.py   VcpuWait: a vCPU halted or blocked, polling, timers, interrupts, wait reasons
  workers.py     Workers: QEMU main loop / iothread, vhost, kworkers, disk and NIC interrupts
"""

from __future__ import annotations

from collections.abc import Callable

from w2a_tui.sim.core import SimCore
from w2a_tui.sim.entities import Vm
from w2a_tui.sim.host_setup import HostSetup
from w2a_tui.sim.scheduler import Scheduler
from w2a_tui.sim.startup import Startup
from w2a_tui.sim.vcpu_run import VcpuRun
from w2a_tui.sim.vcpu_wait import VcpuWait
from w2a_tui.sim.vm_launch import VmLauncher
from w2a_tui.sim.workers import Workers


class Simulator:
    """Runs one scenario; `run()` returns when simulated time is over."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        HostSetup(core).build()
        sched = Scheduler(core)
        guest = VcpuRun(core)
        waits = VcpuWait(core)
        workers = Workers(core)
        launcher = VmLauncher(core)
        self.startup = startup = Startup(core)
        sched.wire(guest=guest, waits=waits, workers=workers, launcher=launcher)
        guest.wire(waits=waits, workers=workers)
        waits.wire(sched=sched, guest=guest)
        workers.wire(sched=sched, waits=waits, launcher=launcher)
        launcher.wire(sched=sched, guest=guest, workers=workers)
        startup.wire(sched=sched, guest=guest, waits=waits, workers=workers, launcher=launcher)
        self.waits = waits
        self.t_end = core.t_end
        self.clock_offset = core.clock_offset
        self.vms: list[Vm] = core.vms

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Set the host going, then run the events until simulated time is over
        (`progress`: see SimCore.run)."""
        self.startup.start()
        self.core.run(progress)

    def who(self, key: int) -> tuple[int, str]:
        """The tid and comm of a context key."""
        return self.core.who(key)

    def contexts(self) -> dict[int, tuple[int, int, bytes]]:
        """pid/tid/procname of every context key, for the CTF writer."""
        return self.core.contexts()

    def last_ts(self) -> int:
        """The time of the trace's last event."""
        return self.core.last_ts()

    def flush(self, now: int, final: bool = False) -> None:
        """Hand every event and truth row that can no longer change to the sinks."""
        self.core.flush(now, final)

    def finish_open_waits(self) -> None:
        """A wait still open at the end keeps the reason its evidence so far gives."""
        self.waits.finish_open_waits()

"""What the simulator moves around: host threads, vCPUs, VMs and pCPUs, with the codes
for their run state, vCPU mode and who woke them (rules 2 and 3 of the contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from w2a_tui.model import State
from w2a_tui.sim.constants import PoolExit
from w2a_tui.sim.scenarios import Scenario
from w2a_tui.sim.truth import Lane


class Kind(IntEnum):
    IDLE = 0
    VCPU = 1
    MAIN = 2
    IOTHREAD = 3
    VHOST = 4
    KWORKER = 5
    BATCH = 6
    TOOL = 7


SLEEPING, RUNNABLE, RUNNING = 0, 1, 2
NO_TID: Final = -1  # "no thread" in truth rows
IDLE_KEY: Final = -2  # context key of swapper/N is IDLE_KEY - N
# Context key of a thread's earlier comm (before exec / prctl renamed it): RENAMED_KEY -
# 4 * tid - stage. A thread's current comm always has the key `tid`.
RENAMED_KEY: Final = -(1 << 30)
# vCPU modes.
M_RUN, M_POLL, M_WAIT, M_BLOCKED, M_PREEMPTED = range(5)
# A vCPU thread born in the trace: not yet named `CPU n/KVM`, then waiting for `cont`.
NEWBORN, AWAIT_START = 1, 2
INITIAL_STATES: Final = ("halted", "guest", "hypervisor", "preempted")
# Who emitted an accept / woke a thread, for the contract's rules 2 and 3.
E_VCPU, E_MAIN, E_VHOST, E_HRTIMER, E_SOFTIRQ_BLOCK, E_SOFTIRQ_NET, E_OTHER = range(7)

GUEST, HYPER = int(State.GUEST), int(State.HYPERVISOR)


@dataclass(slots=True, eq=False)
class Thread:
    tid: int
    pid: int
    ppid: int
    comm: str
    kind: Kind
    cpu: int
    prio: int = 20
    run: int = SLEEPING
    allowed: tuple[int, ...] | None = None  # None: any CPU
    vm: Vm | None = None
    vcpu: Vcpu | None = None
    work: list[tuple[Any, ...]] = field(default_factory=list)
    step_tok: int = 0
    switch_in: int = 0
    switch_out: int = 0  # time of the last switch-out: no switch-in anywhere before it
    ctx: int = 0  # key of the pid/tid/procname context: the tid, or IDLE_KEY - cpu
    comm_b: bytes = b""
    names: tuple[str, ...] = ()  # successive comms of a thread born in the trace
    stage: int = 0  # index of the current comm in `names`
    born: bool = True  # False until forked (threads of a VM launched during the trace)

    def __post_init__(self) -> None:
        self.comm_b = self.comm.encode()[:15]
        self.ctx = self.tid if self.kind is not Kind.IDLE else IDLE_KEY - self.cpu

    def name_key(self, stage: int) -> int:
        """The context key of this thread while it carries `names[stage]`."""
        return self.tid if stage >= len(self.names) - 1 else RENAMED_KEY - 4 * self.tid - stage

    def rename(self) -> None:
        """exec or prctl(PR_SET_NAME): the next comm in `names`."""
        self.stage += 1
        self.comm = self.names[self.stage]
        self.comm_b = self.comm.encode()[:15]
        self.ctx = self.name_key(self.stage)


@dataclass(slots=True, eq=False)
class Wait:
    """The open off-CPU interval of a vCPU that blocked (after HLT or in userspace)."""

    row: int  # absolute row index in the lane
    halted: bool
    accept: tuple[int, int] | None = None  # rule 2: (vector, emitter kind), last in window
    woken: bool = False
    wake_ts: int = 0
    waker_tid: int = -1
    waker_kind: int = E_OTHER


@dataclass(slots=True, eq=False)
class Vcpu:
    vm: Vm
    vid: int
    thread: Thread
    lane: Lane
    exits: list[PoolExit]
    pool_i: int = 0
    mode: int = M_WAIT
    phase: int = HYPER
    last_exit: int = -1
    known: bool = False  # False until the first kvm_entry (the lane is `unknown` before)
    pending: list[int] = field(default_factory=list)
    wait: Wait | None = None
    timer_pending: bool = False  # timer fired, the vCPU thread accepts it after switch-in
    hlt_soon: bool = False
    plan_tok: int = 0
    plan_buf0: int = -1  # index in the CPU buffer where the live plan starts (-1: none)
    plan_row0: int = 0
    poll_tok: int = 0
    timer_tok: int = 0
    kick_due: bool = False
    starting: int = 0  # NEWBORN / AWAIT_START for a vCPU thread born in the trace
    at_start: str = "halted"  # where it was when the trace began (INITIAL_STATES)


@dataclass(slots=True, eq=False)
class Vm:
    index: int
    pid: int
    name: str
    sc: Scenario  # the scenario with this VM's own guest behaviour
    main: Thread
    io: Thread  # the disk-completion thread: main thread or `IO iothread0`
    vhost: Thread
    disk_vec: int
    net_vec: int
    disk_irq: int
    nic_irq: int
    irq_cpu: int
    vcpus: list[Vcpu] = field(default_factory=list)
    learned_disk: set[int] = field(default_factory=set)
    learned_net: set[int] = field(default_factory=set)
    launch: int = 0  # when libvirtd launches it (0: it ran before the trace)
    started: bool = True  # False until its main thread lets the vCPUs run (QMP `cont`)
    call_rcu: Thread | None = None


@dataclass(slots=True, eq=False)
class Cpu:
    id: int
    idle: Thread
    cur: Thread
    buf: list[tuple[Any, ...]] = field(default_factory=list)
    rq: list[Thread] = field(default_factory=list)
    fixed_ts: int = 0
    plan: Vcpu | None = None
    slice_tok: int = 0
    slice_armed: bool = False
    resched_armed: bool = False

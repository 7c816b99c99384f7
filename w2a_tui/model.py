"""The analysis result: vCPU states, wait evidence, lanes. Shared by analysis, store and UIs.

See docs/vcpu-states.md (the contract) for what each state and source means.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final


class State(IntEnum):
    """vCPU state of one interval. Values are stable: they are stored in caches."""

    UNKNOWN = 0
    GUEST = 1
    HYPERVISOR = 2
    PREEMPTED = 3
    READY = 4
    BLOCKED = 5
    WAIT_TIMER = 6
    WAIT_TASK = 7
    WAIT_DISK = 8
    WAIT_NET = 9
    WAIT_UNKNOWN = 10
    # On a CPU, guest or hypervisor undistinguished: traces without kvm_entry/kvm_exit.
    RUNNING = 11

    @property
    def label(self) -> str:
        """The contract's spelling (`wait_timer`, `guest`, ...)."""
        return self.name.lower()

    @property
    def is_wait(self) -> bool:
        return self in WAIT_STATES

    @classmethod
    def from_label(cls, label: str) -> State:
        return cls[label.upper()]


N_STATES: Final = len(State)
WAIT_STATES: Final = frozenset(
    {State.WAIT_TIMER, State.WAIT_TASK, State.WAIT_DISK, State.WAIT_NET, State.WAIT_UNKNOWN}
)


class Reason(IntEnum):
    """Why a wait ended; maps 1:1 onto the wait_* states."""

    TIMER = 6
    TASK = 7
    DISK = 8
    NET = 9
    UNKNOWN = 10

    @property
    def state(self) -> State:
        return State(int(self))

    @property
    def label(self) -> str:
        return self.name.lower()


class Source(IntEnum):
    """Which rule of the contract decided a wait's reason (empty for non-waits)."""

    EMPTY = 0
    INJ_VIRQ = 1
    APIC_ACCEPT_IRQ = 2
    WAKER = 3
    NONE = 4
    OPEN = 5  # rule 4's case of a wait still open when the trace ended: it did not wake

    @property
    def label(self) -> str:
        return "" if self is Source.EMPTY else self.name.lower()


# Not frozen: a frozen dataclass sets each of its 13 fields through object.__setattr__, about
# 1 us per record, and finish() builds two per wake-up (tens of thousands per million
# events). Records are never changed once built (they are interned by value: hashable).
@dataclass(slots=True, unsafe_hash=True)
class Evidence:
    """What decided an interval's state: kept for waits, `blocked`, `ready` and `preempted`.

    `-1` / `""` mean "not known". Contexts are short strings: `task`, `hrtimer`,
    `softirq:NET_RX`, `irq:42:virtio1-req.0`. In an interrupt context the tid/comm are the
    thread the interrupt happened to interrupt on that CPU, not a cause.
    """

    source: Source = Source.EMPTY
    vector: int = -1
    # Rule 2: the thread (or interrupt context) that emitted kvm_apic_accept_irq.
    emitter_tid: int = -1
    emitter_comm: str = ""
    emitter_context: str = ""
    emitter_cpu: int = -1
    # The wake-up (sched_waking, else sched_wakeup) of the vCPU thread.
    waker_tid: int = -1
    waker_comm: str = ""
    waker_context: str = ""
    wakeup_ns: int = -1
    waker_cpu: int = -1
    # `preempted`: the thread that took the pCPU.
    next_tid: int = -1
    next_comm: str = ""


NO_EVIDENCE: Final = -1
NO_EXIT: Final = -1


@dataclass(slots=True)
class LaneData:
    """One vCPU's intervals as columns, contiguous: interval i is [starts[i], starts[i+1])
    and the last one ends at `end_ns`. `evidence[i]` indexes `AnalysisResult.evidence`
    (-1: none); `exit_reasons[i]` is the last exit's raw reason (-1: none)."""

    vm_pid: int
    vcpu: int
    tid: int
    comm: str
    end_ns: int = 0
    starts: array[int] = field(default_factory=lambda: array("q"))
    states: array[int] = field(default_factory=lambda: array("B"))
    exit_reasons: array[int] = field(default_factory=lambda: array("q"))
    evidence: array[int] = field(default_factory=lambda: array("q"))
    # Exit counts by raw exit reason.
    exit_counts: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.starts)

    def end_of(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.end_ns


@dataclass(slots=True)
class VmInfo:
    """A VM is a QEMU (or other VMM) process."""

    pid: int
    name: str
    isa: int = -1  # 1 = VMX, 2 = SVM, -1 = unknown (traces without the `isa` field)
    main_tid: int = -1
    io_tids: list[int] = field(default_factory=list)
    vhost_tids: list[int] = field(default_factory=list)
    disk_vectors: list[int] = field(default_factory=list)
    net_vectors: list[int] = field(default_factory=list)
    # How each learned device vector was learned, one line each:
    # `0x43 net <- minivm tid 31791 <- softirq NET_RX on CPU 0`.
    vector_chains: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TraceMeta:
    """Facts about the trace the result came from."""

    path: str
    trace_dirs: list[str] = field(default_factory=list)
    hostname: str = ""
    tracer: str = ""
    kernel: str = ""
    cpus: list[int] = field(default_factory=list)
    first_ns: int = 0
    last_ns: int = 0
    event_count: int = 0
    lost_events: int = 0
    has_pid_tid: bool = False
    # What the reader found wrong but could read past (e.g. an empty stream file).
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AnalysisResult:
    """Everything the analysis found: the VMs, one lane per vCPU (sorted by vm pid, vcpu),
    the shared evidence table, and warnings the user must see (lost events, weak identity)."""

    meta: TraceMeta
    vms: list[VmInfo] = field(default_factory=list)
    lanes: list[LaneData] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

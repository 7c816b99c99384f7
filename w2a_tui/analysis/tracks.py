"""Mutable per-vCPU, per-gap and per-CPU records of the state machine (slots, no dicts).

A vCPU track owns its growing lane columns; a gap is the one open off-CPU interval of a
vCPU whose state or evidence is still being gathered; a CPU track knows which thread runs
there and in which interrupt context (for rule 2 attribution and rule 3).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterator
from typing import Any, Final, NamedTuple

from w2a_tui.model import State

# Internal state code of a `hypervisor` interval opened by a kvm_exit (vs. by a switch-in):
# finish() counts exits from it, then stores plain HYPERVISOR. Not a State value.
HYP_AFTER_EXIT: Final = len(State)


class PendingAccept(NamedTuple):
    """A `kvm_apic_accept_irq` held until its emitter (an interrupt context, or a thread
    whose VM does not name the target) wakes a vCPU: rule 2 then applies it there."""

    ts: int
    apicid: int
    vector: int
    tid: int  # the emitter's
    comm: str
    context: str  # the emitter's context label (classify.TASK_CONTEXT for a thread)
    cpu: int  # the emitter's CPU
    # -1 when the vCPU the emitter wakes next names the VM, else the emitter's own VM
    # (an accept held while its target vCPU is not tied to that VM yet).
    vm: int
    taught: int  # class its delivery teaches the VM once known (devices.py), 0 = none
    # How that was learned, for the drill-down: devices.chain_text's arguments, or None.
    chain: tuple[int, str, str, Any] | None
    own_class: int  # class it gives this very wait (rule 2's emitter), 0 = none


# (waker tid, waker comm, waker context, rule-3 reason value or 0, waker cpu)
WakeInfo = tuple[int, str, str, int, int]


class Gap:
    """An off-CPU interval after a blocking switch-out: a wait (last exit HLT), `blocked`,
    or `unknown` (no exit seen since the trace start or since lost events).

    Indexes point into the owner's lane columns; `-1` means "not seen".
    """

    __slots__ = (
        "acc_class",
        "acc_comm",
        "acc_cpu",
        "acc_ctx",
        "acc_tid",
        "acc_ts",
        "acc_vec",
        "candidate",
        "index",
        "inj_vec",
        "is_wait",
        "open_at_end",
        "ready_index",
        "switched_in",
        "wake_ts",
        "waker_comm",
        "waker_cpu",
        "waker_ctx",
        "waker_reason",
        "waker_tid",
        "woken",
    )

    def __init__(self, index: int, is_wait: bool) -> None:
        self.index = index
        self.is_wait = is_wait
        self.woken = False
        self.switched_in = False
        self.ready_index = -1
        self.wake_ts = -1
        self.waker_tid = -1
        self.waker_comm = ""
        self.waker_ctx = ""
        self.waker_reason = 0  # a Reason value from rule 3, 0 = none
        self.waker_cpu = -1
        self.acc_vec = -1
        self.acc_ts = -1  # when the rule-2 candidate was emitted: the latest one wins
        self.acc_tid = -1
        self.acc_comm = ""
        self.acc_ctx = ""
        self.acc_class = 0
        self.acc_cpu = -1
        self.inj_vec = -1
        self.open_at_end = False  # off-CPU when the trace ended (set by finish)
        # Exit-less vCPU (no kvm_exit in the trace): a blocking switch-out is a wait only
        # once the thread's kvm_vcpu_wakeup confirms the halt; until then a candidate.
        self.candidate = False


class ClosedGap(NamedTuple):
    """A closed gap as finish() reads it back from a GapLog (Gap's fields it needs;
    `interval` is Gap.index, a name tuples already use)."""

    interval: int
    ready_index: int
    wake_ts: int
    waker_tid: int
    waker_reason: int
    acc_vec: int
    acc_tid: int
    acc_class: int
    inj_vec: int
    waker_cpu: int
    acc_cpu: int
    waker_comm: str
    waker_ctx: str
    acc_comm: str
    acc_ctx: str
    is_wait: bool
    woken: bool
    open_at_end: bool


_INT_FIELDS: Final = 11  # ClosedGap's int fields, in order, one row of GapLog._ints
_STR_FIELDS: Final = 4
# One row of GapLog._ints as bytes: native int64s, the layout of array("q").
_PACK_INTS: Final = struct.Struct(f"@{_INT_FIELDS}q").pack


class GapLog:
    """A vCPU's closed gaps as columns, kept until finish() classifies them (the VM's
    vectors are only fully learned at the end). A `Gap` object and its int fields cost
    ~300 bytes; a row here ~100: on a 10 M-event trace, ~60 MB less at the read's peak.

    Gaps are frozen once closed (the machine only changes `VcpuTrack.gap`), so copying
    their fields at `append` loses nothing."""

    __slots__ = ("_flags", "_ints", "_strs")

    def __init__(self) -> None:
        self._ints: array[int] = array("q")
        self._strs: list[str] = []
        self._flags: array[int] = array("B")

    def append(self, gap: Gap) -> None:
        # One struct.pack + frombytes: half the CPU of extend() over a tuple.
        self._ints.frombytes(
            _PACK_INTS(
                gap.index,
                gap.ready_index,
                gap.wake_ts,
                gap.waker_tid,
                gap.waker_reason,
                gap.acc_vec,
                gap.acc_tid,
                gap.acc_class,
                gap.inj_vec,
                gap.waker_cpu,
                gap.acc_cpu,
            )
        )
        self._strs.extend((gap.waker_comm, gap.waker_ctx, gap.acc_comm, gap.acc_ctx))
        self._flags.append(gap.is_wait | gap.woken << 1 | gap.open_at_end << 2)

    def extend_shifted(self, other: GapLog, index_of: Callable[[int], int]) -> None:
        """Append `other`'s gaps with their interval indexes mapped by `index_of` (a lane
        appended to another one)."""
        for gap in other:
            self._ints.extend(
                (
                    index_of(gap.interval),
                    index_of(gap.ready_index) if gap.ready_index >= 0 else -1,
                    *gap[2:_INT_FIELDS],
                )
            )
            self._strs.extend((gap.waker_comm, gap.waker_ctx, gap.acc_comm, gap.acc_ctx))
            self._flags.append(gap.is_wait | gap.woken << 1 | gap.open_at_end << 2)

    def __len__(self) -> int:
        return len(self._flags)

    def __iter__(self) -> Iterator[ClosedGap]:
        ints = [self._ints[i::_INT_FIELDS] for i in range(_INT_FIELDS)]
        strs = [self._strs[i::_STR_FIELDS] for i in range(_STR_FIELDS)]
        flags = self._flags
        waits = [bool(f & 1) for f in flags]
        woken = [bool(f & 2) for f in flags]
        still_open = [bool(f & 4) for f in flags]
        return map(ClosedGap._make, zip(*ints, *strs, waits, woken, still_open, strict=True))


class VcpuTrack:
    """One vCPU `(vm, vcpu_id)` and its thread: current state, last exit, lane columns."""

    __slots__ = (
        "closed_gaps",
        "comm",
        "cpu",
        "early_wake",
        "exitless",
        "exits",
        "gap",
        "last_exit",
        "last_isa",
        "marks",
        "starts",
        "state",
        "states",
        "tid",
        "vcpu_id",
        "vm",
    )

    def __init__(self, vm: int, vcpu_id: int, tid: int, comm: str) -> None:
        self.vm = vm
        self.vcpu_id = vcpu_id  # -1 while the thread's vcpu_id is not known yet
        self.tid = tid
        self.comm = comm
        # The CPU the thread runs on, -1 while off-CPU or when lost events hid where it is.
        self.cpu = -1
        self.starts: array[int] = array("q")
        self.states: array[int] = array("B")
        self.exits: array[int] = array("q")
        self.state = -1
        self.last_exit = -1
        self.last_isa = -1
        self.gap: Gap | None = None
        self.closed_gaps = GapLog()
        # (interval index, evidence id) for intervals whose evidence is known at once.
        self.marks: list[tuple[int, int]] = []
        # A wake-up seen while the thread was still on its CPU: (lane length then, waker).
        self.early_wake: tuple[int, WakeInfo] | None = None
        # Found by its other KVM events while the trace shows no kvm_entry/kvm_exit of it:
        # on-CPU time is `running`, a halt is told by kvm_vcpu_wakeup (exitless.py).
        self.exitless = False

    def release(self) -> None:
        """Drop the lane columns and gap records once finish() has built the lane from
        them: on a big trace they are the bulk of the analysis's memory."""
        self.starts = array("q")
        self.states = array("B")
        self.exits = array("q")
        self.closed_gaps = GapLog()
        self.marks = []

    def absorb(self, later: VcpuTrack) -> bool:
        """Continue this lane with the intervals of `later`, a provisional track of the same
        thread whose events all come after ours (its `unknown` head is dropped): one lane
        per thread, nothing lost or counted twice. False (nothing done) if they overlap."""
        if len(later.starts) > 1 and later.starts[1] < self.starts[-1]:
            return False
        if self.gap is not None:
            self.closed_gaps.append(self.gap)
            self.gap = None
        shift = len(self.starts) - 1

        def index_of(i: int) -> int:
            return shift + i if i > 0 else shift

        self.starts.extend(later.starts[1:])
        self.states.extend(later.states[1:])
        self.exits.extend(later.exits[1:])
        self.closed_gaps.extend_shifted(later.closed_gaps, index_of)
        self.marks.extend((index_of(i), eid) for i, eid in later.marks)
        gap = later.gap
        if gap is not None:
            gap.index = index_of(gap.index)
            if gap.ready_index >= 0:
                gap.ready_index = index_of(gap.ready_index)
        self.gap = gap
        self.early_wake = None
        if later.early_wake is not None:
            length, waker = later.early_wake
            self.early_wake = (index_of(length), waker)
        self.state = later.state if len(later.starts) > 1 else self.state
        self.cpu = later.cpu
        if later.last_exit >= 0:
            self.last_exit = later.last_exit
            self.last_isa = later.last_isa
        if later.comm:
            self.comm = later.comm
        return True

    def push(self, ts: int, state: State | int, exit_reason: int) -> int:
        """Start a new interval at `ts`; returns its index."""
        starts = self.starts
        starts.append(ts)
        self.states.append(state)
        self.exits.append(exit_reason)
        self.state = state
        return len(starts) - 1


class CpuTrack:
    """What runs on one pCPU: the current thread and the interrupt-context stack.

    `pending[i]` holds the `kvm_apic_accept_irq` events emitted in context `labels[i]`
    whose VM is not known yet (rule 2: the vCPU that context then wakes names the VM);
    `task_pending` the same for a shared host thread (kworker) in task context.
    """

    __slots__ = (
        "comm",
        "labels",
        "lost_begin",
        "lost_end",
        "pending",
        "since",
        "task_pending",
        "tid",
    )

    def __init__(self) -> None:
        self.tid = -1
        self.comm = ""
        self.since = -1
        # The last lost-events window here: from the tracer's `begin` to the first event
        # recorded after it (-1: still open, or none yet when lost_begin is -1 too).
        self.lost_begin = -1
        self.lost_end = -1
        self.labels: list[str] = []
        self.pending: list[list[PendingAccept] | None] = []
        self.task_pending: list[PendingAccept] | None = None

    def reset_contexts(self) -> None:
        self.labels.clear()
        self.pending.clear()


def is_runnable(prev_state: Any) -> bool:
    """`prev_state` is runnable when its low 8 bits are 0 (`R`, `R+` = 0x100, TASK_REPORT_MAX)."""
    if isinstance(prev_state, int):
        return (prev_state & 0xFF) == 0
    return str(prev_state).startswith("R")

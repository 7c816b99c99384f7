"""Who ran on each host CPU, in time: the pCPU lanes of the TUI's `p` view.

A separate pass over the same event batches as the W2A analysis (the pipeline feeds both):
`sched_switch` says which thread a CPU runs, `kvm_entry`/`kvm_exit` split a vCPU thread's
time into guest and hypervisor (without them, a vCPU thread's time is `running`, as on its
vCPU lane), `irq_handler_*` and `softirq_*` mark interrupt time (nested,
back to what they interrupted). `finish` ties vCPU threads to their VM and vCPU with the
analysis' own lanes, so both views name a thread the same way.

pCPU lanes are stored like vCPU lanes (`LaneData`, then a `StateStore`: same queries, same
cache), with this reading of the columns:

- `states`: an occupancy *look*, one of the `State` values chosen for their colour, so the
  timeline draws pCPU lanes with the palette it already has: each VM gets one of
  `VM_LOOKS` (guest and hypervisor time alike; VMs past the seventh reuse them in turn),
  host threads `HOST_LOOK` (neutral grey), interrupts `IRQ_LOOK`, idle `IDLE_LOOK` (drawn
  blank), no event yet or events lost `State.UNKNOWN`;
- `exit_reasons`: what ran, an `Occupancy` value (guest, hypervisor, running, thread,
  idle, irq, softirq, or lost: from a loss of events to the CPU's next recorded event);
- `evidence`: one `Evidence` per distinct occupant, with `next_tid`/`next_comm` the thread
  (or the irq number and handler name, the softirq vector and name), `emitter_tid` its VM's
  pid (negative for an unidentified VM) and `vector` its vCPU (-1 for host threads).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import islice
from operator import lt
from typing import Final

import numpy as np
import numpy.typing as npt

from w2a_tui.analysis.runs import RUN_LAST_TS, RUN_LEAD, RUN_STARTS, RUN_STATES, VCPU_RUN
from w2a_tui.analysis.tables import SOFTIRQ_NAMES
from w2a_tui.analysis.tracks import HYP_AFTER_EXIT
from w2a_tui.events import Batch, Event, EventKind
from w2a_tui.model import Evidence, LaneData, State

PCPU_LANE_VM: Final = -1  # the `vm_pid` of every pCPU lane


class Occupancy(IntEnum):
    GUEST = 0
    HYPERVISOR = 1
    THREAD = 2
    IDLE = 3
    IRQ = 4
    SOFTIRQ = 5
    LOST = 6  # the tracer lost this CPU's events: who ran is not known
    RUNNING = 7  # a vCPU thread of a trace without kvm_entry/kvm_exit: guest or hypervisor

    @property
    def label(self) -> str:
        return self.name.lower()


VM_LOOKS: Final[tuple[State, ...]] = (
    State.GUEST,
    State.WAIT_TIMER,
    State.WAIT_DISK,
    State.WAIT_TASK,
    State.WAIT_NET,
    State.READY,
    State.HYPERVISOR,
)
HOST_LOOK: Final = State.BLOCKED
IRQ_LOOK: Final = State.PREEMPTED
IDLE_LOOK: Final = State.WAIT_UNKNOWN


_SWITCH: Final = int(EventKind.SCHED_SWITCH)
_ENTRY: Final = int(EventKind.KVM_ENTRY)
_EXIT: Final = int(EventKind.KVM_EXIT)
_IRQ_IN: Final = int(EventKind.IRQ_HANDLER_ENTRY)
_IRQ_OUT: Final = int(EventKind.IRQ_HANDLER_EXIT)
_SOFT_IN: Final = int(EventKind.SOFTIRQ_ENTRY)
_SOFT_OUT: Final = int(EventKind.SOFTIRQ_EXIT)
_LOST: Final = int(EventKind.LOST_EVENTS)
_KINDS: Final = frozenset(
    {_SWITCH, _ENTRY, _EXIT, _IRQ_IN, _IRQ_OUT, _SOFT_IN, _SOFT_OUT, _LOST, VCPU_RUN}
)
_GUEST_STATE: Final = int(State.GUEST)
# A run's states when each exit is followed by an entry (runs.py's columns), long enough
# for any run a buffer of the reader holds.
_EXIT_THEN_ENTRY: Final = bytes((HYP_AFTER_EXIT, _GUEST_STATE)) * (1 << 16)

# An occupant before VMs are known: (what, tid or irq number, name).
_Key = tuple[int, int, str]


@dataclass(slots=True)
class _Cpu:
    starts: array[int] = field(default_factory=lambda: array("q"))
    occupants: array[int] = field(default_factory=lambda: array("q"))
    thread: tuple[int, str] = (-1, "")  # the thread scheduled here
    current: int = -1  # occupant id drawn now
    stack: list[int] = field(default_factory=list)  # occupants an interrupt interrupted


class PcpuTracker:
    """Feed it the analysis' batches (`feed`), then `finish` with the analysis' lanes."""

    def __init__(self) -> None:
        self.cpus: dict[int, _Cpu] = {}
        self._ids: dict[_Key, int] = {}
        self.keys: list[_Key] = []
        self.last_ns = 0
        self._guest_ids: dict[int, int] = {}  # vCPU tid -> its guest occupant
        self._hyp_ids: dict[int, int] = {}

    def _occupant(self, key: _Key) -> int:
        oid = self._ids.get(key)
        if oid is None:
            oid = self._ids[key] = len(self.keys)
            self.keys.append(key)
        return oid

    def _set(self, cpu: _Cpu, ts: int, oid: int) -> None:
        if oid != cpu.current:
            if cpu.starts and cpu.starts[-1] == ts:  # two changes at one instant: keep last
                cpu.occupants[-1] = oid
            else:
                cpu.starts.append(ts)
                cpu.occupants.append(oid)
            cpu.current = oid

    def _thread(self, tid: int, comm: str) -> int:
        if tid == 0:
            return self._occupant((Occupancy.IDLE, 0, "swapper"))
        return self._occupant((Occupancy.THREAD, tid, comm))

    def feed(self, batch: Batch) -> None:
        cpus = self.cpus
        kinds = _KINDS
        guest_ids, hyp_ids = self._guest_ids, self._hyp_ids
        for ev in batch:
            kind = ev[2]
            if kind not in kinds:
                continue
            ts, c = ev[0], ev[1]
            cpu = cpus.get(c)
            if cpu is None:
                cpu = cpus[c] = _Cpu()
                if ev[3] >= 0:
                    cpu.thread = (ev[3], ev[5])
            if kind in (_ENTRY, _EXIT):
                tid = ev[3] if ev[3] >= 0 else cpu.thread[0]
                ids = guest_ids if kind == _ENTRY else hyp_ids
                oid = ids.get(tid)  # a vCPU thread keeps the name it was first seen with
                if oid is None:
                    what = Occupancy.GUEST if kind == _ENTRY else Occupancy.HYPERVISOR
                    oid = ids[tid] = self._occupant((what, tid, ev[5] or cpu.thread[1]))
                if cpu.stack:
                    cpu.stack[0] = oid  # back to it when the interrupt returns
                elif oid != cpu.current:
                    starts = cpu.starts
                    if starts and starts[-1] == ts:
                        cpu.occupants[-1] = oid
                    else:
                        starts.append(ts)
                        cpu.occupants.append(oid)
                    cpu.current = oid
            elif kind == _SWITCH:
                cpu.thread = (ev[10], ev[9])
                cpu.stack.clear()
                self._set(cpu, ts, self._thread(ev[10], ev[9]))
            elif kind in (_IRQ_IN, _SOFT_IN):
                if cpu.current < 0:
                    self._set(cpu, ts, self._thread(*cpu.thread))
                cpu.stack.append(cpu.current)
                if kind == _IRQ_IN:
                    key: _Key = (Occupancy.IRQ, ev[6], ev[7] or "")
                else:
                    vec = ev[6]
                    name = SOFTIRQ_NAMES[vec] if 0 <= vec < len(SOFTIRQ_NAMES) else str(vec)
                    key = (Occupancy.SOFTIRQ, vec, name)
                self._set(cpu, ts, self._occupant(key))
            elif kind == VCPU_RUN:
                self._run(cpu, ev)
            elif kind == _LOST:  # unknown from the loss to this CPU's next event
                cpu.stack.clear()
                start = max(ts, cpu.starts[-1]) if cpu.starts else ts
                self._set(cpu, start, self._occupant((Occupancy.LOST, -1, "lost events")))
            elif cpu.stack:  # an interrupt's exit
                self._set(cpu, ts, cpu.stack.pop())
        if batch:
            self.last_ns = max(self.last_ns, batch[-1][0])

    def _run(self, cpu: _Cpu, ev: Event) -> None:
        """A packed run (analysis.runs): its lead, then its guest/hypervisor changes."""
        self.feed([ev[RUN_LEAD]])
        tid = ev[3]
        guest = self._guest_ids[tid]  # its lead entered the guest
        hyp = self._hyp_ids.get(tid)
        starts = array("q")
        starts.frombytes(ev[RUN_STARTS])
        states = ev[RUN_STATES]
        n = len(states)
        if (
            n
            and not cpu.stack
            and cpu.current == guest
            and states == _EXIT_THEN_ENTRY[:n]
            and (not cpu.starts or starts[0] != cpu.starts[-1])
            and all(map(lt, starts, islice(starts, 1, None)))
        ):
            # The usual run: exit, entry, exit... at distinct times, each change drawn:
            # its columns as they are, without a call per change (0.35 s -> 0.1 s per 1 M
            # events of the mixed host).
            if hyp is None:
                hyp = self._hypervisor(cpu, tid, ev[5])
            cpu.starts.extend(starts)
            pair = array("q", (hyp, guest))
            cpu.occupants.extend(pair * (n // 2))
            if n % 2:
                cpu.occupants.append(hyp)
            cpu.current = hyp if n % 2 else guest
            self.last_ns = max(self.last_ns, ev[RUN_LAST_TS])
            return
        for ts, state in zip(starts, states, strict=True):
            if state == _GUEST_STATE:
                oid = guest
            else:
                if hyp is None:
                    hyp = self._hypervisor(cpu, tid, ev[5])
                oid = hyp
            if cpu.stack:
                cpu.stack[0] = oid
            else:
                self._set(cpu, ts, oid)
        self.last_ns = max(self.last_ns, ev[RUN_LAST_TS])

    def _hypervisor(self, cpu: _Cpu, tid: int, comm: str) -> int:
        """The new hypervisor occupant of vCPU thread `tid` (named as `feed` names it)."""
        key = (Occupancy.HYPERVISOR, tid, comm or cpu.thread[1])
        oid = self._hyp_ids[tid] = self._occupant(key)
        return oid

    def _in_key_order(self) -> None:
        """Number the occupants in the order of their keys, not of their first event: the
        same lanes whether or not the reader packed runs (which moves some first events)."""
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        self.keys = [self.keys[i] for i in order]
        self._ids = {key: i for i, key in enumerate(self.keys)}
        for cpu in self.cpus.values():
            renumbered = rank[np.frombuffer(cpu.occupants, dtype=np.int64)]
            cpu.occupants = array("q", renumbered.tobytes())

    def finish(
        self, vcpu_lanes: list[LaneData], end_ns: int | None = None
    ) -> tuple[list[LaneData], list[Evidence]]:
        """One lane per CPU seen (sorted by CPU) and its evidence table: vCPU threads get
        their VM's look and are named with their VM pid and vCPU number."""
        end = self.last_ns if end_ns is None else max(end_ns, self.last_ns)
        self._in_key_order()
        vcpu_of = {lane.tid: (lane.vm_pid, lane.vcpu) for lane in vcpu_lanes if lane.tid >= 0}
        vm_slot = {pid: i for i, pid in enumerate(sorted({vm for vm, _ in vcpu_of.values()}))}
        # Threads whose vCPU lane is `running` (no kvm_entry/kvm_exit): their time on a CPU
        # is not known to be outside the guest.
        running = int(State.RUNNING)
        exitless = {lane.tid for lane in vcpu_lanes if lane.tid >= 0 and running in lane.states}
        looks = array("B")
        whats = array("q")
        evidence: list[Evidence] = []
        for what, number, name in self.keys:
            vm, vcpu = vcpu_of.get(number, (-1, -1)) if what <= Occupancy.THREAD else (-1, -1)
            if vcpu >= 0:  # a vCPU thread, of an unidentified VM (negative pid) too
                look = VM_LOOKS[vm_slot[vm] % len(VM_LOOKS)]
                if what == Occupancy.THREAD and number in exitless:
                    what = Occupancy.RUNNING
                elif what == Occupancy.THREAD:
                    what = Occupancy.HYPERVISOR  # a vCPU thread outside the guest
            elif what in (Occupancy.IRQ, Occupancy.SOFTIRQ):
                look = IRQ_LOOK
            elif what == Occupancy.IDLE:
                look = IDLE_LOOK
            elif what == Occupancy.LOST:
                look = State.UNKNOWN
            else:
                look = HOST_LOOK
                what = Occupancy.THREAD
            looks.append(int(look))
            whats.append(int(what))
            evidence.append(Evidence(emitter_tid=vm, vector=vcpu, next_tid=number, next_comm=name))
        look_of = np.frombuffer(looks, dtype=np.uint8)
        what_of = np.frombuffer(whats, dtype=np.int64)
        lanes = []
        for c in sorted(self.cpus):
            cpu = self.cpus[c]
            lane = LaneData(PCPU_LANE_VM, c, -1, f"pCPU {c}", end)
            lane.starts = cpu.starts
            lane.evidence = cpu.occupants
            occupants = np.frombuffer(cpu.occupants, dtype=np.int64)
            lane.states = array("B", look_of[occupants].tobytes())
            lane.exit_reasons = array("q", what_of[occupants].tobytes())
            lanes.append(lane)
        return lanes, evidence


def vm_look(vm_pids: list[int], pid: int) -> State:
    """The look of a VM's time on the pCPU lanes (VMs in pid order, as `finish`)."""
    slot = sorted(vm_pids).index(pid) if pid in vm_pids else 0
    return VM_LOOKS[slot % len(VM_LOOKS)]


def lost_windows(
    pcpu_exits: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> list[tuple[int, int]]:
    """The [start, end) of every `lost` pCPU interval (any CPU), merged and sorted."""
    lost = pcpu_exits == int(Occupancy.LOST)
    spans = sorted(zip(starts[lost].tolist(), ends[lost].tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged

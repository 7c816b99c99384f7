"""Device vectors learned from what caused their delivery, whatever the VMM calls its threads.

A thread that delivers an interrupt (`kvm_apic_accept_irq` in its task context) right after
it was woken by a block completion (softirq BLOCK, an irq whose context completed a block
request) delivers the disk's vector; one woken by network receive (softirq NET_RX/NET_TX,
an irq context that received a packet, a `vhost-*` thread) the net's. A thread woken by
another plain thread inherits that thread's cause (an eventfd or irqfd signalled by the
thread that completed the I/O), up to a few hops. Accepts emitted inside an interrupt
context take that context's cause. Thread names stay hints for when no chain is recorded
(see `classify.thread_class`).

Every wake-up of every thread is remembered as one small record per thread (its latest),
resolved at once from the waker's own record: O(1) per `sched_waking`, and each record keeps
at most `_MAX_HOPS` ancestors alive.
"""

from __future__ import annotations

import re
from typing import Final

from w2a_tui.analysis.classify import (
    HRTIMER_CONTEXT,
    NO_CLASS,
    TASK_CLASS,
    TASK_CONTEXT,
    context_reason,
    thread_class,
)
from w2a_tui.analysis.tables import DEFAULT_VECTOR_TABLE
from w2a_tui.analysis.tracks import CpuTrack
from w2a_tui.model import Reason

DISK: Final = int(Reason.DISK)
NET: Final = int(Reason.NET)
TIMER: Final = int(Reason.TIMER)
CLASS_LABEL: Final = {DISK: "disk", NET: "net", TIMER: "timer", TASK_CLASS: "task"}
_MAX_HOPS: Final = 3
# A delivery counts as caused by the thread's wake-up when it follows it this closely.
CAUSE_WINDOW_NS: Final = 10_000_000
# kvm_apic_accept_irq -> sched_waking of the vCPU it names, on the same CPU.
ACCEPT_WAKE_NS: Final = 5_000
# Interrupt names of block and network devices: hints for an irq context that completed no
# block request and received no packet in the trace (those events not enabled).
_DISK_IRQ: Final = re.compile(r"^(nvme|ahci|ata|virtio\d+-req|megasas|mpt|scsi|sd)")
_NET_IRQ: Final = re.compile(r"^(eth|en[pso]|mlx|ixgbe|i40e|ice|bnxt|virtio\d+-(in|out)put)")

# How a delivery taught its class, not rendered yet: chain_text's arguments. Most
# deliveries repeat a (VM, vector, class) already explained, whose text is never needed.
ChainParts = tuple[int, str, str, "Cause | None"]
NO_CHAIN: Final[ChainParts | None] = None

# Why a thread was last woken, as a plain tuple (one per thread, built per sched_waking):
# (time, class, text, number, is_context, parent cause, hops). `text`/`number` are the
# context label and CPU, or the waker's comm and tid; `parent` is the waker's own cause
# when it explains this one (an eventfd / irqfd signalled by the thread the device woke).
Cause = tuple[int, int, str, int, bool, "Cause | None", int]
_TS: Final = 0
_CLS: Final = 1
_TEXT: Final = 2
_NUM: Final = 3
_IS_CONTEXT: Final = 4
_PARENT: Final = 5
_HOPS: Final = 6


class DeviceChains:
    """Per thread, the cause of its latest wake-up; per CPU, device work seen in the
    interrupt context running there (block_rq_complete, netif_receive_skb)."""

    __slots__ = ("_label_cls", "causes", "device_work", "last_accept")

    def __init__(self) -> None:
        self.causes: dict[int, Cause] = {}
        # cpu -> (context depth, context label, class) of the device work seen there
        self.device_work: dict[int, tuple[int, str, int]] = {}
        self._label_cls: dict[str, int] = {}
        # cpu -> (time, apicid, emitter tid, context depth) of the latest accept there, for
        # the accept -> wake binding (exitless.py)
        self.last_accept: dict[int, tuple[int, int, int, int]] = {}

    # ------------------------------------------------------------------ feeding

    def on_device_work(self, cpu: int, c: CpuTrack, cls: int) -> None:
        """A block request completed / a packet was received on `cpu`, in its current
        context: a thread that context wakes next was woken by that device."""
        label = c.labels[-1] if c.labels else TASK_CONTEXT
        self.device_work[cpu] = (len(c.labels), label, cls)

    def on_waking(self, ts: int, cpu: int, c: CpuTrack, wakee: int, waker: int, comm: str) -> None:
        """Remember why `wakee` was woken (by `waker`, comm `comm`, in the CPU's context)."""
        cause = self.context_cause(ts, cpu, c) if c.labels or self.device_work else None
        if cause is None:
            if comm.startswith("vhost-"):
                cause = (ts, NET, comm, waker, False, None, 0)
            else:
                parent = self.causes.get(waker)
                if (
                    parent is not None
                    and parent[_CLS] in (DISK, NET)
                    and parent[_HOPS] < _MAX_HOPS
                    and ts - parent[_TS] <= CAUSE_WINDOW_NS
                ):
                    cause = (ts, parent[_CLS], comm, waker, False, parent, parent[_HOPS] + 1)
                else:
                    cause = (ts, NO_CLASS, comm, waker, False, None, 0)
        self.causes[wakee] = cause

    def context_cause(self, ts: int, cpu: int, c: CpuTrack) -> Cause | None:
        """The cause an interrupt context (or device work in task context) gives, else None."""
        depth = len(c.labels)
        label = c.labels[-1] if depth else TASK_CONTEXT
        if self.device_work:
            work = self.device_work.get(cpu)
            if work is not None:
                if work[0] == depth and work[1] == label:
                    return (ts, work[2], label, cpu, True, None, 0)
                if work[0] > depth:  # that context has ended
                    del self.device_work[cpu]
        if not depth:
            return None
        cls = self._label_cls.get(label)
        if cls is None:
            cls = self._label_cls[label] = _label_class(label)
        return (ts, cls, label, cpu, True, None, 0)

    def on_switch(self, cpu: int) -> None:
        """A new thread runs on `cpu`: task-context device work there is over."""
        work = self.device_work.get(cpu)
        if work is not None and work[0] == 0:
            del self.device_work[cpu]

    # ------------------------------------------------------------------ queries

    def delivery_class(
        self, ts: int, tid: int, comm: str, vm: int, vec: int, apicid: int, sender: int
    ) -> tuple[int, ChainParts | None, int]:
        """What a delivery from task context teaches its VM, the chain shown for it, and
        the class it gives its own wait (rule 2's emitter). `sender` is the vcpu_id of the
        delivering thread when it runs a vCPU of the VM, else -1. Another vCPU sends an IPI
        (task); the destination's own thread right after a timer wake-up delivers its timer;
        any other thread the device that woke it (disk, net: counted per VM and the
        majority decides, so its own wait takes the VM's vote), else what its name hints.
        The chain comes as chain_text's arguments (render_chain)."""
        if sender >= 0:
            if sender != apicid:
                return TASK_CLASS, (vec, "task", f"vCPU {sender} tid {tid}", None), TASK_CLASS
            cause = self.cause_of(tid, ts)
            if cause_class(cause) == TIMER:
                return TIMER, (vec, "timer", f"vCPU {apicid} itself, tid {tid}", cause), NO_CLASS
            return NO_CLASS, NO_CHAIN, NO_CLASS
        who = f"{comm or '?'} tid {tid}"
        cause = self.cause_of(tid, ts)
        cls = cause_class(cause)
        if cls in (DISK, NET):
            return cls, (vec, CLASS_LABEL[cls], who, cause), NO_CLASS
        cls = thread_class(tid, comm, vm, is_other_vcpu=False)
        if cls == NO_CLASS:
            return NO_CLASS, NO_CHAIN, NO_CLASS
        return cls, (vec, CLASS_LABEL[cls], f"{who} (by its name)", None), cls

    def cause_of(self, tid: int, ts: int) -> Cause | None:
        """What woke `tid` last, if that was shortly before `ts`."""
        cause = self.causes.get(tid)
        if cause is None or ts - cause[_TS] > CAUSE_WINDOW_NS:
            return None
        return cause


def cause_class(cause: Cause | None) -> int:
    return NO_CLASS if cause is None else cause[_CLS]


def _label_class(label: str) -> int:
    reason = context_reason(label)
    if reason is not None:
        return int(reason)
    if label.startswith("irq:"):
        name = label.split(":", 2)[-1]
        if _DISK_IRQ.match(name):
            return DISK
        if _NET_IRQ.match(name):
            return NET
    return NO_CLASS


def _cause_text(cause: Cause) -> str:
    text, number, cls = cause[_TEXT], cause[_NUM], cause[_CLS]
    if not cause[_IS_CONTEXT]:
        return f"{text or '?'} tid {number}"
    work = {DISK: " (block_rq_complete)", NET: " (netif_receive_skb)"}.get(cls, "")
    if text == HRTIMER_CONTEXT:
        return f"hrtimer on CPU {number}"
    if text.startswith("softirq:"):
        return f"{text[8:]} softirq on CPU {number}"
    if text.startswith("irq:"):
        return f"irq {text.split(':', 2)[-1]}{work} on CPU {number}"
    return f"{work.strip(' ()') or 'task'} on CPU {number}"


def render_chain(parts: ChainParts) -> str:
    return chain_text(*parts)


def chain_text(vector: int, reason: str, deliverer: str, cause: Cause | None) -> str:
    """`0x43 net <- minivm tid 31791 <- NET_RX softirq on CPU 0`."""
    parts = [f"0x{vector:02x} {reason}"]
    if deliverer:
        parts.append(deliverer)
    while cause is not None:
        parts.append(_cause_text(cause))
        cause = cause[_PARENT]
    return " <- ".join(parts)


class VectorVotes:
    """What each delivery taught, counted per VM: a vector is what most of its deliveries
    say, so one delivery whose deliverer happened to be woken by the other device does not
    flip it. A device class wins over `task` and `timer` whatever the counts (a vCPU thread
    also re-delivers device interrupts); the deliverer threads are counted the same way."""

    __slots__ = ("_chains", "_threads", "_vectors")

    def __init__(self) -> None:
        self._vectors: dict[int, dict[int, dict[int, int]]] = {}  # vm -> vector -> class -> n
        self._threads: dict[int, dict[int, dict[int, int]]] = {}  # vm -> tid -> class -> n
        self._chains: dict[tuple[int, int, int], str] = {}  # (vm, vector, class) -> first

    def vote(self, vm: int, vec: int, cls: int, tid: int, chain: ChainParts | None) -> None:
        counts = self._vectors.setdefault(vm, {}).setdefault(vec, {})
        counts[cls] = counts.get(cls, 0) + 1
        if chain is not None and (vm, vec, cls) not in self._chains:
            self._chains[(vm, vec, cls)] = render_chain(chain)  # the first one is kept
        if tid >= 0 and cls in (DISK, NET):
            by_class = self._threads.setdefault(vm, {}).setdefault(tid, {})
            by_class[cls] = by_class.get(cls, 0) + 1

    def learned(self) -> dict[int, dict[int, Reason]]:
        """Per VM, vector -> the reason its deliveries taught."""
        return {
            vm: {vec: Reason(_winner(counts)) for vec, counts in vectors.items()}
            for vm, vectors in self._vectors.items()
        }

    def chains(self) -> dict[int, dict[int, str]]:
        """Per VM, vector -> how its winning class was learned."""
        out: dict[int, dict[int, str]] = {}
        for vm, vectors in self._vectors.items():
            for vec, counts in vectors.items():
                chain = self._chains.get((vm, vec, _winner(counts)))
                if chain:
                    out.setdefault(vm, {})[vec] = chain
        return out

    def device_threads(self, cls: int) -> dict[int, set[int]]:
        """Per VM, the threads whose deliveries mostly taught `cls` (DISK or NET)."""
        out: dict[int, set[int]] = {}
        for vm, threads in self._threads.items():
            for tid, counts in threads.items():
                if _winner(counts) == cls:
                    out.setdefault(vm, set()).add(tid)
        return out


def _winner(counts: dict[int, int]) -> int:
    devices = {c: n for c, n in counts.items() if c in (DISK, NET)}
    pool = devices or counts
    return max(pool, key=lambda c: (pool[c], -c))


def telling_chains(chains: list[str], disk: list[int], net: list[int]) -> list[str]:
    """The chains worth showing: of device vectors and of vectors the guest OS does not fix
    (a Linux guest's 0xEC timer or 0xFD IPI taught nothing the vector table did not say)."""
    devices = set(disk) | set(net)
    out = []
    for chain in chains:
        vector = int(chain.split(" ", 1)[0], 16)
        if vector in devices or vector not in DEFAULT_VECTOR_TABLE:
            out.append(chain)
    return out


def merged(
    a: dict[int, set[int]], b: dict[int, set[int]], *, without_vm: bool = False
) -> dict[int, set[int]]:
    """Per VM, the union of two thread sets (the VM's main thread left out if asked)."""
    out = {vm: set(tids) for vm, tids in a.items()}
    for vm, tids in b.items():
        out.setdefault(vm, set()).update(t for t in tids if not (without_vm and t == vm))
    return out

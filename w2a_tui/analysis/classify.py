"""The contract's reason rules as pure functions: vectors, emitters, wakers, VM names.

Kept apart from the state machine so each rule can be read (and tested) on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from w2a_tui.analysis.tables import DEFAULT_VECTOR_TABLE, softirq_name
from w2a_tui.model import Reason

TASK_CONTEXT: Final = "task"
HRTIMER_CONTEXT: Final = "hrtimer"

# Emitter / waker classes of the contract (who delivered the interrupt).
NO_CLASS: Final = 0
DISK_CLASS: Final = int(Reason.DISK)  # the VM's main thread or an `IO iothread*`
NET_CLASS: Final = int(Reason.NET)  # a `vhost-<pid>` thread
TASK_CLASS: Final = int(Reason.TASK)  # another vCPU thread of the same VM (IPI)

_SOFTIRQ_REASON: Final[Mapping[str, Reason]] = {
    "NET_RX": Reason.NET,
    "NET_TX": Reason.NET,
    "BLOCK": Reason.DISK,
}

_GUEST_NAME = re.compile(r"-name\s+(\S+)")


def softirq_context(vec: object) -> str:
    """`softirq:NET_RX` from the numeric `vec` (or an enum label the reader kept)."""
    name = softirq_name(vec) if isinstance(vec, int) else str(vec)
    return f"softirq:{name}"


def irq_context(irq: object, name: object) -> str:
    return f"irq:{irq}:{name}" if name else f"irq:{irq}"


def vhost_owner(comm: str) -> int:
    """The QEMU pid a `vhost-<pid>` worker serves, or -1 when `comm` is not such a worker."""
    if comm.startswith("vhost-"):
        digits = comm[6:]
        if digits.isdigit():
            return int(digits)
    return -1


def is_iothread(comm: str) -> bool:
    return comm.startswith("IO iothread")


def thread_class(tid: int, comm: str, vm_pid: int, *, is_other_vcpu: bool) -> int:
    """Which device a VM thread stands for when it delivers an interrupt, by its name: a
    hint, used when the trace does not show what woke it (devices.py).

    `vm_pid` is the VM the thread belongs to; `is_other_vcpu` says the thread is a vCPU
    thread of that VM other than the destination. QEMU: `vhost-<pid>` net, `IO iothread*`
    or the main thread disk; Cloud Hypervisor: `_net*` / `_disk*` device threads.
    """
    if comm.startswith(("vhost-", "_net")):
        return NET_CLASS
    if tid == vm_pid or is_iothread(comm) or comm.startswith("_disk"):
        return DISK_CLASS
    if is_other_vcpu:
        return TASK_CLASS
    return NO_CLASS


def context_reason(context: str) -> Reason | None:
    """Rule 3 for a wake-up in interrupt context: hrtimer -> timer, NET_RX/NET_TX -> net,
    BLOCK -> disk; any other interrupt says nothing."""
    if context == HRTIMER_CONTEXT:
        return Reason.TIMER
    if context.startswith("softirq:"):
        return _SOFTIRQ_REASON.get(context[8:])
    return None


def classify_vector(
    vector: int,
    table: Mapping[int, Reason],
    learned: Mapping[int, Reason] | None,
    taught_by_emitter: int = NO_CLASS,
) -> Reason:
    """Vector -> reason: the fixed table first, then what this wait's own emitter teaches,
    then the VM's learned device vectors, else unknown. A device vector the VM learned
    wins over `task` taught by a vCPU emitter (vCPU threads re-deliver device interrupts)."""
    reason = table.get(vector)
    if reason is not None:
        return reason
    known = learned.get(vector) if learned is not None else None
    if taught_by_emitter != NO_CLASS and not (
        taught_by_emitter == TASK_CLASS and known in (Reason.DISK, Reason.NET)
    ):
        return Reason(taught_by_emitter)
    return known if known is not None else Reason.UNKNOWN


def default_vector_table() -> dict[int, Reason]:
    return dict(DEFAULT_VECTOR_TABLE)


def guest_name(text: str) -> str:
    """`NAME` from a command line holding `-name guest=NAME,...` (or `-name NAME`), else ""."""
    match = _GUEST_NAME.search(text)
    if match is None:
        return ""
    for part in match.group(1).split(","):
        if part.startswith("guest="):
            return part[6:]
    first = match.group(1).split(",")[0]
    return "" if "=" in first else first

"""The decoded-event contract between trace readers and the analysis.

A reader yields *batches*: lists of plain tuples, one per event, in time order:

    (ts, cpu, kind, tid, pid, procname, *payload)

- `ts`: ns from the trace's clock origin (babeltrace2's `ns_from_origin`), int.
- `cpu`: the `cpu_id` of the packet context (-1 when unknown), int.
- `kind`: an `EventKind` (plain int in the tuple for speed).
- `tid`, `pid`: the `tid`/`pid` event contexts, -1 when the trace has none.
- `procname`: the `procname` context, "" when absent.
- `payload`: the fields of `PAYLOAD[kind]`, in that order (ints or strs; -1 / "" when a
  field is missing from this tracer generation).

Plain tuples keep the bt2 hot path cheap and let a faster decoder (native CTF parser,
columnar numpy) replace it later without touching the analysis.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

# Tuple positions.
TS: Final = 0
CPU: Final = 1
KIND: Final = 2
TID: Final = 3
PID: Final = 4
PROCNAME: Final = 5
P0: Final = 6  # first payload field

# Payload positions, one name per field of PAYLOAD below (tests check they agree). The
# analysis reads events through these names; only its hot loop keeps literal indexes.
ENTRY_VCPU: Final = 6
EXIT_REASON: Final = 6
EXIT_ISA: Final = 7
EXIT_VCPU: Final = 8
INJ_VECTOR: Final = 6
INJ_SOFT: Final = 7
ACCEPT_APICID: Final = 6
ACCEPT_VECTOR: Final = 7
SWITCH_PREV_COMM: Final = 6
SWITCH_PREV_TID: Final = 7
SWITCH_PREV_STATE: Final = 8
SWITCH_NEXT_COMM: Final = 9
SWITCH_NEXT_TID: Final = 10
WAKE_COMM: Final = 6
WAKE_TID: Final = 7
FORK_PARENT_COMM: Final = 6
FORK_PARENT_TID: Final = 7
FORK_PARENT_PID: Final = 8
FORK_CHILD_COMM: Final = 9
FORK_CHILD_TID: Final = 10
FORK_CHILD_PID: Final = 11
EXEC_FILENAME: Final = 6
EXEC_TID: Final = 7
STATEDUMP_TID: Final = 6
STATEDUMP_PID: Final = 7
STATEDUMP_NAME: Final = 8
STATEDUMP_STATUS: Final = 9
STATEDUMP_CPU: Final = 10
IRQ_NUMBER: Final = 6
IRQ_NAME: Final = 7
SOFTIRQ_VECTOR: Final = 6
VCPU_WAKEUP_NS: Final = 6
VCPU_WAKEUP_WAITED: Final = 7
HALT_POLL_VCPU: Final = 6
LOST_COUNT: Final = 6
LOST_BEGIN: Final = 7
LOST_END: Final = 8

Event = tuple[Any, ...]
Batch = list[Event]


class EventKind(IntEnum):
    """Canonical events the analysis consumes, whatever the tracer generation called them."""

    KVM_ENTRY = 1
    KVM_EXIT = 2
    KVM_INJ_VIRQ = 3
    KVM_APIC_ACCEPT_IRQ = 4
    KVM_USERSPACE_EXIT = 5
    # Emitted by the vCPU thread itself: found in traces without kvm_entry/kvm_exit too.
    KVM_VCPU_WAKEUP = 6
    KVM_HALT_POLL_NS = 7
    KVM_PIO = 8
    SCHED_SWITCH = 10
    SCHED_WAKING = 11
    SCHED_WAKEUP = 12
    SCHED_WAKEUP_NEW = 13
    SCHED_PROCESS_FORK = 14
    SCHED_PROCESS_EXEC = 15
    SCHED_PROCESS_EXIT = 16
    STATEDUMP_PROCESS_STATE = 20
    IRQ_HANDLER_ENTRY = 30
    IRQ_HANDLER_EXIT = 31
    SOFTIRQ_ENTRY = 32
    SOFTIRQ_EXIT = 33
    HRTIMER_EXPIRE_ENTRY = 34
    HRTIMER_EXPIRE_EXIT = 35
    # What completed a device's I/O, inside the interrupt context that then wakes a thread.
    BLOCK_RQ_COMPLETE = 40
    NETIF_RECEIVE_SKB = 41
    # Synthetic: the reader found `count` discarded events in a packet of `cpu`
    # covering [begin_ns, end_ns); emitted at begin_ns.
    LOST_EVENTS = 90


# Payload field names per kind, in tuple order. Each name lists the trace field spellings
# accepted for it, first match wins (tracer generations differ).
PAYLOAD: Final[dict[EventKind, tuple[tuple[str, ...], ...]]] = {
    EventKind.KVM_ENTRY: (("vcpu_id",),),
    EventKind.KVM_EXIT: (("exit_reason",), ("isa",), ("vcpu_id",)),
    EventKind.KVM_INJ_VIRQ: (("irq", "vector"), ("soft",)),
    EventKind.KVM_APIC_ACCEPT_IRQ: (("apicid",), ("vec",), ("dm",), ("tm",)),
    EventKind.KVM_USERSPACE_EXIT: (("reason",),),
    EventKind.KVM_VCPU_WAKEUP: (("ns",), ("waited",)),
    EventKind.KVM_HALT_POLL_NS: (("vcpu_id",), ("new",)),
    EventKind.KVM_PIO: (("rw",), ("port",)),
    EventKind.SCHED_SWITCH: (
        ("prev_comm",),
        ("prev_tid", "prev_pid"),
        ("prev_state",),
        ("next_comm",),
        ("next_tid", "next_pid"),
    ),
    EventKind.SCHED_WAKING: (("comm",), ("tid", "pid"), ("target_cpu",)),
    EventKind.SCHED_WAKEUP: (("comm",), ("tid", "pid"), ("target_cpu",)),
    EventKind.SCHED_WAKEUP_NEW: (("comm",), ("tid", "pid"), ("target_cpu",)),
    EventKind.SCHED_PROCESS_FORK: (
        ("parent_comm",),
        ("parent_tid",),
        ("parent_pid",),
        ("child_comm",),
        ("child_tid",),
        ("child_pid",),
    ),
    EventKind.SCHED_PROCESS_EXEC: (("filename",), ("tid",)),
    EventKind.SCHED_PROCESS_EXIT: (("comm",), ("tid",)),
    EventKind.STATEDUMP_PROCESS_STATE: (
        ("tid",),
        ("pid",),
        ("name",),
        ("status",),
        ("cpu",),
    ),
    EventKind.IRQ_HANDLER_ENTRY: (("irq",), ("name",)),
    EventKind.IRQ_HANDLER_EXIT: (("irq",),),
    EventKind.SOFTIRQ_ENTRY: (("vec",),),
    EventKind.SOFTIRQ_EXIT: (("vec",),),
    EventKind.HRTIMER_EXPIRE_ENTRY: (("hrtimer",), ("function",)),
    EventKind.HRTIMER_EXPIRE_EXIT: (("hrtimer",),),
    EventKind.BLOCK_RQ_COMPLETE: (("sector",),),
    EventKind.NETIF_RECEIVE_SKB: (("len",),),
    EventKind.LOST_EVENTS: (("count",), ("begin_ns",), ("end_ns",)),
}

# Every spelling of an event name seen across tracer generations -> canonical kind.
# lttng-modules < 2.8 and the W2A fork: kvm_*; >= 2.8: kvm_x86_*; perf CTF: "sched:..."
# prefixes; old LTTng: softirq_* / hrtimer_*; newer: irq_softirq_* / timer_hrtimer_*.
_ALIASES: Final[dict[EventKind, tuple[str, ...]]] = {
    EventKind.KVM_ENTRY: ("kvm_entry", "kvm_x86_entry"),
    EventKind.KVM_EXIT: ("kvm_exit", "kvm_x86_exit"),
    EventKind.KVM_INJ_VIRQ: ("kvm_inj_virq", "kvm_x86_inj_virq"),
    EventKind.KVM_APIC_ACCEPT_IRQ: ("kvm_apic_accept_irq", "kvm_x86_apic_accept_irq"),
    EventKind.KVM_USERSPACE_EXIT: ("kvm_userspace_exit",),
    EventKind.KVM_VCPU_WAKEUP: ("kvm_vcpu_wakeup",),
    EventKind.KVM_HALT_POLL_NS: ("kvm_halt_poll_ns",),
    EventKind.KVM_PIO: ("kvm_pio", "kvm_x86_pio"),
    EventKind.SCHED_SWITCH: ("sched_switch",),
    EventKind.SCHED_WAKING: ("sched_waking",),
    EventKind.SCHED_WAKEUP: ("sched_wakeup",),
    EventKind.SCHED_WAKEUP_NEW: ("sched_wakeup_new",),
    EventKind.SCHED_PROCESS_FORK: ("sched_process_fork",),
    EventKind.SCHED_PROCESS_EXEC: ("sched_process_exec",),
    EventKind.SCHED_PROCESS_EXIT: ("sched_process_exit",),
    EventKind.STATEDUMP_PROCESS_STATE: ("lttng_statedump_process_state",),
    EventKind.IRQ_HANDLER_ENTRY: ("irq_handler_entry",),
    EventKind.IRQ_HANDLER_EXIT: ("irq_handler_exit",),
    EventKind.SOFTIRQ_ENTRY: ("irq_softirq_entry", "softirq_entry"),
    EventKind.SOFTIRQ_EXIT: ("irq_softirq_exit", "softirq_exit"),
    EventKind.HRTIMER_EXPIRE_ENTRY: ("timer_hrtimer_expire_entry", "hrtimer_expire_entry"),
    EventKind.HRTIMER_EXPIRE_EXIT: ("timer_hrtimer_expire_exit", "hrtimer_expire_exit"),
    EventKind.BLOCK_RQ_COMPLETE: ("block_rq_complete",),
    EventKind.NETIF_RECEIVE_SKB: ("netif_receive_skb", "net_if_receive_skb"),
}

_PREFIXES: Final = ("sched:", "kvm:", "irq:", "timer:", "syscalls:", "block:", "net:")

CANONICAL_NAME: Final[dict[EventKind, str]] = {k: v[0] for k, v in _ALIASES.items()}
CANONICAL_NAME[EventKind.LOST_EVENTS] = "lost_events"

_BY_NAME: Final[dict[str, EventKind]] = {
    name: kind for kind, names in _ALIASES.items() for name in names
}


def kind_of(event_name: str) -> EventKind | None:
    """The canonical kind of a trace event name (any known spelling), else None."""
    kind = _BY_NAME.get(event_name)
    if kind is None:
        for prefix in _PREFIXES:
            if event_name.startswith(prefix):
                return _BY_NAME.get(event_name[len(prefix) :])
    return kind


def canonical_name(event_name: str) -> str:
    """The canonical spelling of an event name; unknown names come back unchanged."""
    kind = kind_of(event_name)
    return CANONICAL_NAME[kind] if kind is not None else event_name

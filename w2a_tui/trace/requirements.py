"""Does a trace hold what W2A needs? And how to record one that does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from w2a_tui.events import EventKind, kind_of

REQUIRED = "required"
RECOMMENDED = "recommended"


@dataclass(frozen=True, slots=True)
class Requirement:
    label: str
    level: str  # REQUIRED or RECOMMENDED
    ok: bool
    why: str


# Events to enable, lttng-modules >= 2.8 spelling (older tracers and the W2A fork name the
# KVM ones kvm_entry, kvm_exit, kvm_inj_virq, kvm_apic_accept_irq).
RECORD_EVENTS = (
    "kvm_x86_entry",
    "kvm_x86_exit",
    "kvm_x86_inj_virq",
    "kvm_x86_apic_accept_irq",
    "kvm_userspace_exit",
    "sched_switch",
    "sched_waking",
    "sched_wakeup",
    "sched_wakeup_new",
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
    "lttng_statedump_*",
    "irq_handler_entry",
    "irq_handler_exit",
    "irq_softirq_entry",
    "irq_softirq_exit",
    "timer_hrtimer_expire_entry",
    "timer_hrtimer_expire_exit",
)


def record_commands(session: str = "w2a") -> list[str]:
    """The lttng commands that record a trace W2A can fully use (run as root on the host)."""
    return [
        f"lttng create {session}",
        *(f"lttng enable-event -k {_quoted(group)}" for group in _groups(RECORD_EVENTS, 56)),
        "lttng add-context -k -t pid -t tid -t procname",
        "lttng start",
        "# ... run the guests' workload ...",
        "lttng stop",
        "lttng destroy",
    ]


def _quoted(group: list[str]) -> str:
    """Quote a list holding a wildcard, so the shell does not expand it."""
    joined = ",".join(group)
    return f"'{joined}'" if "*" in joined else joined


def _groups(names: tuple[str, ...], width: int) -> list[list[str]]:
    """Split the event list so that every command line fits in 80 columns."""
    groups: list[list[str]] = [[]]
    for name in names:
        if groups[-1] and len(",".join([*groups[-1], name])) > width:
            groups.append([])
        groups[-1].append(name)
    return groups


def check(
    event_names: Iterable[str], has_pid_tid: bool, cpus_known: bool = True
) -> list[Requirement]:
    """Which of W2A's inputs the trace has, from its raw event names and contexts.
    `cpus_known`: the packets carry `cpu_id` (False when events came without any CPU)."""
    kinds = {k for k in (kind_of(name) for name in event_names) if k is not None}

    def has(*wanted: EventKind) -> bool:
        return any(k in kinds for k in wanted)

    # Without entry/exit, vCPU threads are still found by their other KVM events (a PVM
    # host): the analysis degrades (analysis/capabilities.py) rather than refuses.
    vcpu_events = has(
        EventKind.KVM_VCPU_WAKEUP,
        EventKind.KVM_HALT_POLL_NS,
        EventKind.KVM_USERSPACE_EXIT,
        EventKind.KVM_PIO,
    )
    return [
        Requirement(
            "KVM entry/exit (kvm_x86_entry, kvm_x86_exit)",
            RECOMMENDED if vcpu_events else REQUIRED,
            has(EventKind.KVM_ENTRY) and has(EventKind.KVM_EXIT),
            "they delimit guest and hypervisor time and name the vCPUs",
        ),
        Requirement(
            "interrupt injection (kvm_x86_inj_virq, kvm_x86_apic_accept_irq)",
            REQUIRED,
            has(EventKind.KVM_INJ_VIRQ, EventKind.KVM_APIC_ACCEPT_IRQ),
            "the injected vector tells why an idle vCPU woke up",
        ),
        Requirement(
            "sched_switch",
            # `perf kvm stat record`: entry/exit only, off-CPU time is then `unknown`
            RECOMMENDED if has(EventKind.KVM_ENTRY) and has(EventKind.KVM_EXIT) else REQUIRED,
            has(EventKind.SCHED_SWITCH),
            "vCPU threads blocking, being preempted and running again",
        ),
        Requirement(
            "wake-ups (sched_waking or sched_wakeup)",
            RECOMMENDED,
            has(EventKind.SCHED_WAKING, EventKind.SCHED_WAKEUP),
            "end waits at the wake-up and name the waker",
        ),
        Requirement(
            "pid/tid contexts (lttng add-context -k -t pid -t tid)",
            RECOMMENDED,
            has_pid_tid,
            "map each vCPU thread to its VM; without them the VM is inferred",
        ),
        Requirement(
            "per-CPU streams (cpu_id in the packet context, as LTTng writes it)",
            RECOMMENDED,
            cpus_known,
            "place interrupt contexts and wake-ups on their CPU; without it rule 2's "
            "attribution and rule 3 cannot work",
        ),
    ]


def usable(requirements: Iterable[Requirement]) -> bool:
    return all(r.ok for r in requirements if r.level == REQUIRED)

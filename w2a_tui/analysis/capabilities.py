"""Partial event sets: which states a trace cannot tell apart, and which events would fix it.

Said once per trace (in `info`, in `analyze`'s warnings, in the TUI's header and `!` list),
never per interval. Decided from the event kinds the trace holds: `info` gives the names it
counted, the analysis the kinds it saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from w2a_tui.events import EventKind, kind_of

_VCPU_EVENTS = (
    EventKind.KVM_VCPU_WAKEUP,
    EventKind.KVM_HALT_POLL_NS,
    EventKind.KVM_USERSPACE_EXIT,
    EventKind.KVM_PIO,
)


@dataclass(frozen=True, slots=True)
class Limit:
    """One thing the trace cannot tell, in one sentence, and the events that would."""

    key: str  # stable, for --json and tests: `no-entry-exit`, `no-sched-switch`
    short: str  # a few words for the TUI header
    text: str


def limits_of_kinds(kinds: Iterable[EventKind | int]) -> list[Limit]:
    """The limits of a trace holding these event kinds (none for a full W2A event set)."""
    present = {EventKind(k) for k in kinds}

    def has(*wanted: EventKind) -> bool:
        return any(k in present for k in wanted)

    out: list[Limit] = []
    entry_exit = has(EventKind.KVM_ENTRY) and has(EventKind.KVM_EXIT)
    switch = has(EventKind.SCHED_SWITCH)
    if not entry_exit and has(*_VCPU_EVENTS, EventKind.KVM_APIC_ACCEPT_IRQ):
        text = (
            "The trace has no kvm_entry/kvm_exit (a PVM host, or the events were not "
            "enabled): guest and hypervisor time cannot be told apart and are both "
            "`running`, exit reasons are unknown, and a wait is a blocking switch-out "
            "ended by kvm_vcpu_wakeup. Enable kvm:kvm_entry and kvm:kvm_exit to separate them."
        )
        if not has(EventKind.KVM_VCPU_WAKEUP):
            text += (
                " Without kvm_vcpu_wakeup either, a halt cannot be told from `blocked`: "
                "enable kvm:kvm_vcpu_wakeup."
            )
        out.append(Limit("no-entry-exit", "running = guest+hyp", text))
    if entry_exit and not switch:
        out.append(
            Limit(
                "no-sched-switch",
                "off-CPU unknown",
                "The trace has kvm_entry/kvm_exit but no sched_switch (e.g. `perf kvm stat "
                "record`): guest and hypervisor time are known, but off-CPU time cannot be "
                "seen, so what follows an HLT exit (halt-polling, a wait, a preemption) is "
                "`unknown` and no wait has a reason. Enable sched:sched_switch, "
                "sched:sched_waking and kvm:kvm_apic_accept_irq to tell them apart.",
            )
        )
    return out


def limits_of_names(event_names: Iterable[str]) -> list[Limit]:
    """`limits_of_kinds` for the raw event names a trace counted (`info`)."""
    return limits_of_kinds(k for k in (kind_of(name) for name in event_names) if k is not None)


def header_note(warnings: Iterable[str]) -> str:
    """A few words for the TUI header when the analysis warned of a partial event set."""
    shorts = [
        limit.short
        for limit in _ALL_LIMITS
        if any(w.startswith(limit.text.split(":")[0]) for w in warnings)
    ]
    return "partial events: " + ", ".join(shorts) if shorts else ""


# Every limit once (for the header's lookup by each warning's first words).
_ALL_LIMITS = (
    *limits_of_kinds({EventKind.KVM_APIC_ACCEPT_IRQ}),
    *limits_of_kinds({EventKind.KVM_ENTRY, EventKind.KVM_EXIT}),
)

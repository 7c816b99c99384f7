"""The drill-down text for one interval: what it was, when, and why (the contract's rule
and its evidence). Pure: returns a rich `Text`, so it is tested without the app."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from w2a_tui.analysis.devices import telling_chains
from w2a_tui.analysis.wording import STILL_WAITING, in_context, is_interrupt_context
from w2a_tui.model import Source, State, VmInfo
from w2a_tui.printable import printable
from w2a_tui.store import Interval, LaneInfo, StateStore
from w2a_tui.tui.view.looks import LOOKS
from w2a_tui.tui.view.names import exit_reason_text, vector_text
from w2a_tui.tui.view.timefmt import format_exact, format_time

RULES = {
    Source.INJ_VIRQ: "rule 1 inj_virq: the vector injected when the vCPU was switched back in",
    Source.APIC_ACCEPT_IRQ: "rule 2 apic_accept_irq: the interrupt accepted for it while it slept",
    Source.WAKER: "rule 3 waker: the context of the thread's wake-up",
    Source.NONE: "rule 4 none: no evidence of why it woke",
    Source.OPEN: STILL_WAITING,
}


# One line per state: what it means (the contract's table, in the user's words).
MEANINGS = {
    State.GUEST: "guest code ran (from kvm_entry to the next kvm_exit or switch-out)",
    State.HYPERVISOR: "on a host CPU outside the guest: KVM exit handling, QEMU or halt-polling",
    State.PREEMPTED: "switched out while runnable: another thread took its host CPU",
    State.READY: "woken, waiting for a host CPU to run on",
    State.BLOCKED: "the thread slept, but not after HLT: QEMU waiting on I/O or a lock",
    State.WAIT_TIMER: "guest idle (HLT) until its timer fired",
    State.WAIT_TASK: "guest idle (HLT) until another vCPU woke it (IPI: reschedule, call)",
    State.WAIT_DISK: "guest idle (HLT) until a disk request completed",
    State.WAIT_NET: "guest idle (HLT) until network traffic arrived",
    State.WAIT_UNKNOWN: "guest idle (HLT); the trace does not say what woke it",
    State.RUNNING: "on a host CPU, guest or hypervisor: the trace has no kvm_entry/kvm_exit",
}
UNKNOWN_AT_START = (
    "not known yet: the trace starts before this vCPU's first event (kvm_entry, kvm_exit "
    "or a switch of its thread)"
)
UNKNOWN_AFTER_LOSS = (
    "not known: events were lost on the host (press ! for the warnings); the state is "
    "known again at this vCPU's next recorded event"
)


def meaning(iv: Interval, lost_events: int = 0) -> str:
    """What the state of `iv` means; for `unknown`, why it is unknown: before the vCPU's
    first event, or (in the middle of a lane of a trace that lost events) a loss."""
    if iv.state is State.UNKNOWN:
        return UNKNOWN_AFTER_LOSS if iv.index > 0 and lost_events else UNKNOWN_AT_START
    return MEANINGS.get(iv.state, "")


def thread_roles(store: StateStore) -> dict[int, str]:
    """What a tid is to the user, when it is a vCPU or a VM's main thread: `vCPU 2 of
    web01`. An IPI or a wake-up from another vCPU then reads as such."""
    roles = {vm.pid: f"main thread of {printable(vm.name)}" for vm in store.vms}
    for lane in store.lanes:
        roles[lane.tid] = f"vCPU {lane.vcpu} of {printable(lane.vm_name)}"
    return roles


def _thread(tid: int, comm: str, context: str, roles: Mapping[int, str], cpu: int = -1) -> str:
    role = roles.get(tid) if tid >= 0 else None
    comm, context = printable(comm), printable(context)
    if tid >= 0:
        who = f"{comm or '?'} (tid {tid}, {role})" if role else f"{comm or '?'} (tid {tid})"
    else:
        who = comm or "?"
    return in_context(who, context, cpu)


def _learned_line(vm: VmInfo, vector: int) -> str:
    """How the VM learned the vector: `0x43 net <- minivm tid 31791 <- NET_RX softirq on
    CPU 0` (not for the guest OS's fixed vectors, which the table gives)."""
    prefix = f"0x{vector:02x} "
    chains = telling_chains(vm.vector_chains, vm.disk_vectors, vm.net_vectors)
    chain = next((c for c in chains if c.startswith(prefix)), "")
    return f"\nlearned: {chain}" if chain else ""


def describe(
    iv: Interval,
    lane: LaneInfo,
    vm: VmInfo | None,
    origin: int,
    mono: bool = False,
    roles: Mapping[int, str] | None = None,
    *,
    lost_events: int = 0,
    pcpu: int | None = None,
) -> Text:
    """Several lines: header, meaning, timing, reason/rule, evidence, last exit, preemptor.
    `roles` names known threads (see `thread_roles`); `lost_events` (the trace's count)
    tells an `unknown` stretch after a loss from one at the trace start."""
    roles = roles or {}
    state = State(iv.state)
    look = LOOKS[state]
    text = Text()
    chip = f" {look.glyph} " if mono else "   "
    text.append(chip, style="" if mono else f"on {look.colour}")
    text.append(f" {state.label}", style="bold")
    text.append(f"   {printable(lane.vm_name)} [{lane.vm_pid}]  vCPU {lane.vcpu}")
    text.append(f"  thread {lane.tid} {printable(lane.comm)}")
    if pcpu is not None:
        text.append(f"  on pCPU {pcpu}")
    text.append(f"\n{meaning(iv, lost_events)}", style="italic")
    text.append(
        f"\nstart {format_time(iv.start, origin, 1)}  end {format_time(iv.end, origin, 1)}"
        f"  duration {format_exact(iv.duration)}"
    )
    text.append("   < > same state", style="dim")
    ev = iv.evidence
    isa = vm.isa if vm is not None else -1
    if state.is_wait:
        reason = state.label.removeprefix("wait_")
        text.append("\nreason ", style="bold")
        text.append(reason, style="bold")
        if ev is not None and ev.source is not Source.EMPTY:
            text.append(f"  ({RULES.get(ev.source, ev.source.label)})")
    if ev is not None:
        if ev.vector >= 0:
            text.append(f"\nvector {vector_text(ev.vector)}")
            if vm is not None:
                if ev.vector in vm.disk_vectors:
                    text.append("  = a disk vector of this VM")
                elif ev.vector in vm.net_vectors:
                    text.append("  = a net vector of this VM")
                text.append(_learned_line(vm, ev.vector))
        if ev.emitter_tid >= 0 or ev.emitter_comm:
            emitter = _thread(
                ev.emitter_tid, ev.emitter_comm, ev.emitter_context, roles, ev.emitter_cpu
            )
            sent = "from" if is_interrupt_context(ev.emitter_context) else "by"
            text.append(f"\ninterrupt sent {sent} {emitter}")
        if ev.waker_tid >= 0 or ev.waker_comm:
            woke = f" at {format_time(ev.wakeup_ns, origin)}" if ev.wakeup_ns >= 0 else ""
            waker = _thread(ev.waker_tid, ev.waker_comm, ev.waker_context, roles, ev.waker_cpu)
            text.append("\nwoken by " + waker + woke)
        if ev.next_tid >= 0 or ev.next_comm:
            text.append("\npreempted by " + _thread(ev.next_tid, ev.next_comm, "", roles))
    if iv.exit_reason >= 0:
        text.append(f"\nlast exit {exit_reason_text(isa, iv.exit_reason)}")
    return text

"""How the pCPU view reads: the occupant of an interval in a line (status bar), its
drill-down, and the legend (a colour per VM, then host threads, interrupts, idle).
Pure rich text from store answers (see `analysis.pcpu` for what the columns hold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text

from w2a_tui.analysis.pcpu import HOST_LOOK, IRQ_LOOK, Occupancy, vm_look
from w2a_tui.model import VmInfo
from w2a_tui.printable import printable
from w2a_tui.store import Interval
from w2a_tui.tui.view.looks import LOOKS
from w2a_tui.tui.view.timefmt import format_exact, format_time

MEANINGS = {
    Occupancy.GUEST: "a vCPU ran guest code on this host CPU",
    Occupancy.HYPERVISOR: "a vCPU thread ran outside its guest: KVM exit handling or QEMU",
    Occupancy.THREAD: "a host thread ran here (a vCPU runnable here meanwhile was preempted by it)",
    Occupancy.IDLE: "the CPU was idle",
    Occupancy.IRQ: "a hardware interrupt handler ran",
    Occupancy.SOFTIRQ: "a softirq ran",
    Occupancy.RUNNING: "a vCPU thread ran here, guest or hypervisor: the trace has no "
    "kvm_entry/kvm_exit",
    Occupancy.LOST: "events were lost on this CPU (press ! for the warnings): who ran is "
    "not known until its next recorded event",
}


def occupancy(iv: Interval) -> Occupancy:
    return Occupancy(iv.exit_reason) if 0 <= iv.exit_reason < len(Occupancy) else Occupancy.THREAD


def occupant_text(iv: Interval, vm_names: Mapping[int, str]) -> str:
    """`CPU 1/KVM 3111 (web01 vCPU 1, guest)`, `cc1 6100`, `irq 24 virtio0`, `idle`."""
    what = occupancy(iv)
    ev = iv.evidence
    if ev is None:
        return what.label
    if what is Occupancy.IDLE:
        return "idle"
    if what is Occupancy.LOST:
        return "lost events"
    if what is Occupancy.IRQ:
        return f"irq {ev.next_tid} {printable(ev.next_comm)}".rstrip()
    if what is Occupancy.SOFTIRQ:
        return f"softirq {printable(ev.next_comm)}"
    who = f"{printable(ev.next_comm) or '?'} {ev.next_tid}"
    if ev.vector >= 0:  # a vCPU thread (an unidentified VM's pid is negative)
        vm = vm_names.get(ev.emitter_tid, str(ev.emitter_tid))
        return f"{who} ({vm} vCPU {ev.vector}, {what.label})"
    return who


def describe_pcpu(
    iv: Interval, cpu: int, vm_names: Mapping[int, str], origin: int, mono: bool = False
) -> Text:
    """The drill-down of a pCPU interval: who ran, what that means, when."""
    look = LOOKS[iv.state]
    text = Text()
    if occupancy(iv) is Occupancy.IDLE:  # drawn blank on the lanes
        text.append("   ")
    else:
        chip = f" {look.glyph} " if mono else "   "
        text.append(chip, style="" if mono else f"on {look.colour}")
    text.append(f" {occupant_text(iv, vm_names)}", style="bold")
    text.append(f"   on pCPU {cpu}")
    text.append(f"\n{MEANINGS[occupancy(iv)]}", style="italic")
    text.append(
        f"\nstart {format_time(iv.start, origin, 1)}  end {format_time(iv.end, origin, 1)}"
        f"  duration {format_exact(iv.duration)}"
    )
    if (
        iv.evidence is not None
        and iv.evidence.next_tid > 0
        and occupancy(iv)
        in (
            Occupancy.THREAD,
            Occupancy.HYPERVISOR,
            Occupancy.GUEST,
            Occupancy.RUNNING,
        )
    ):
        text.append("   F: where else this thread ran", style="dim")
    return text


def pcpu_legend(vms: Sequence[VmInfo], vm_names: Mapping[int, str], mono: bool) -> Text:
    """One chip per VM (its guest and hypervisor time), then host threads, irq, idle."""
    pids = [vm.pid for vm in vms]
    items = [(vm_look(pids, vm.pid), vm_names.get(vm.pid, printable(vm.name))) for vm in vms]
    items += [(HOST_LOOK, "host thread"), (IRQ_LOOK, "irq/softirq")]
    text = Text()
    for state, name in items:
        look = LOOKS[state]
        if mono:
            text.append(look.glyph, style="bold")
        else:
            text.append("  ", style=f"on {look.colour}")
        text.append(f" {name}  ")
    text.append("   idle: blank", style="dim")
    return text

"""The `analyze` report: totals per VM and vCPU as rich renderables that fit 80 columns."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from w2a_tui.analysis.devices import telling_chains
from w2a_tui.analysis.tables import ISA_SVM, ISA_VMX, exit_reason_label
from w2a_tui.analysis.totals import Totals, VcpuTotals, VmTotals
from w2a_tui.analysis.wording import STILL_WAITING
from w2a_tui.model import State, TraceMeta
from w2a_tui.printable import printable, printable_tree

_STATE_COLUMNS = (
    ("guest", State.GUEST),
    ("hyp", State.HYPERVISOR),
    ("preempt", State.PREEMPTED),
    ("ready", State.READY),
    ("blocked", State.BLOCKED),
)
_COUNT_WIDTH = 9


def format_ns(ns: int) -> str:
    """Short human duration: `812ns`, `3.4µs`, `12.5ms`, `2.31s` (fits narrow columns)."""
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.3g}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.3g}ms"
    return f"{ns / 1e9:.3g}s"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "-"


def _isa_name(isa: int) -> str:
    return {ISA_VMX: "VMX", ISA_SVM: "SVM"}.get(isa, "isa unknown")


# Traces without kvm_entry/kvm_exit: guest and hypervisor time are one, `running`.
_RUNNING_COLUMNS = (("running", State.RUNNING), *_STATE_COLUMNS[2:])


def _vcpu_table(vm: VmTotals) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        show_edge=False,
        title="% of each vCPU's known time",
        title_justify="left",
        title_style="dim",
    )
    running = any(v.time_by_state.get(State.RUNNING.label, 0) for v in vm.vcpus)
    columns = _RUNNING_COLUMNS if running else _STATE_COLUMNS
    table.add_column("vCPU", justify="right")
    for title, _ in columns:
        table.add_column(title, justify="right")
    table.add_column("wait", justify="right")
    table.add_column("waits", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    for v in vm.vcpus:
        waited = sum(v.wait_by_reason.values())
        table.add_row(
            str(v.vcpu),
            *(_pct(v.time_by_state.get(s.label, 0), v.span_ns) for _, s in columns),
            _pct(waited, v.span_ns),
            str(v.waits.count),
            format_ns(v.waits.p50_ns) if v.waits.count else "-",
            format_ns(v.waits.p99_ns) if v.waits.count else "-",
        )
    return table


def _wait_line(vm: VmTotals) -> Text:
    total = sum(vm.wait_by_reason.values())
    line = Text("Waits by reason: ", style="bold")
    if not total:
        return line.append("none")
    parts = [
        f"{reason} {format_ns(ns)} ({100 * ns / total:.0f}%)"
        for reason, ns in sorted(vm.wait_by_reason.items(), key=lambda kv: -kv[1])
        if ns
    ]
    line.append(", ".join(parts))
    if vm.still_waiting_ns:
        line.append(f"; of unknown, {format_ns(vm.still_waiting_ns)} {STILL_WAITING}")
    return line


def _exit_lines(vm: VmTotals, top: int = 4) -> list[Text]:
    """One exit reason per line (names are long): `  48 EPT_VIOLATION      2,989`."""
    if not vm.exits:
        return [Text("Exits: ", style="bold").append("none")]
    total = sum(vm.exits.values())
    lines = [Text("Top exits:", style="bold").append(f" ({total:,} in all)")]
    for reason, count in list(vm.exits.items())[:top]:
        label = exit_reason_label(vm.isa, reason)
        lines.append(Text(f"  {label:<28}{count:>{_COUNT_WIDTH},}"))
    return lines


def _preemptor_lines(vm: VmTotals) -> list[Text]:
    lines: list[Text] = []
    for v in vm.vcpus:
        if not v.top_preemptors:
            continue
        parts = [
            f"{_thread_name(p.comm, p.tid)} {format_ns(p.time_ns)} x{p.count}"
            for p in v.top_preemptors[:2]
        ]
        lines.append(Text(f"  vCPU {v.vcpu}: ").append(", ".join(parts)))
    if lines:
        lines.insert(0, Text("Preempted by:", style="bold"))
    return lines


def _thread_name(comm: str, tid: int) -> str:
    """Distinct threads may share a comm (several `vhost-<pid>` workers): show the tid."""
    return f"{comm} (tid {tid})" if tid >= 0 else comm


def _vectors_line(vm: VmTotals) -> Text | None:
    if not vm.disk_vectors and not vm.net_vectors:
        return None
    parts = []
    if vm.disk_vectors:
        parts.append("disk " + " ".join(f"0x{v:02x}" for v in vm.disk_vectors))
    if vm.net_vectors:
        parts.append("net " + " ".join(f"0x{v:02x}" for v in vm.net_vectors))
    return Text("Learned vectors: ", style="bold").append(", ".join(parts))


def vm_section(vm: VmTotals) -> RenderableType:
    n = len(vm.vcpus)
    title = Text(f"VM {vm.name} ", style="bold cyan").append(
        f"(pid {vm.pid}) · {n} vCPU{'s' if n != 1 else ''} · {_isa_name(vm.isa)}", style="cyan"
    )
    parts: list[RenderableType] = [
        title,
        Text("→ ").append(vm.verdict, style="bold yellow"),
        _vcpu_table(vm),
        _wait_line(vm),
        *_exit_lines(vm),
    ]
    vectors = _vectors_line(vm)
    if vectors is not None:
        parts.append(vectors)
    chains = telling_chains(vm.vector_chains, vm.disk_vectors, vm.net_vectors)
    parts.extend(Text(f"  {chain}", style="dim") for chain in chains)
    parts.extend(_preemptor_lines(vm))
    parts.append(Text(""))
    return Group(*parts)


def render_report(totals: Totals, meta: TraceMeta, console: Console) -> None:
    """Print the whole report: trace header, warnings, one section per VM. Names from
    the trace are shown through `printable` (no control character reaches the terminal)."""
    totals, meta = printable_tree(totals), printable_tree(meta)
    span = max(totals.last_ns - totals.first_ns, 0)
    where = meta.hostname or "unknown host"
    console.print(Text(f"Trace {meta.path}", style="bold"))
    console.print(
        f"host {where} · {len(meta.cpus)} CPUs · {format_ns(span)} · "
        f"{len(totals.vms)} VM{'s' if len(totals.vms) != 1 else ''} · "
        f"{sum(len(vm.vcpus) for vm in totals.vms)} vCPUs"
    )
    for warning in totals.warnings:
        console.print(Text("warning: ", style="bold red").append(warning))
    console.print()
    for vm in totals.vms:
        console.print(vm_section(vm))


def vcpu_summary(v: VcpuTotals) -> str:
    """One line per vCPU for callers that want plain text (the TUI's tooltips)."""
    top = printable(v.top_preemptors[0].comm) if v.top_preemptors else "-"
    return (
        f"vCPU {v.vcpu}: guest {_pct(v.time_by_state.get('guest', 0), v.span_ns)} %, "
        f"waits {v.waits.count}, top preemptor {top}"
    )

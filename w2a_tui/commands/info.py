"""`w2a-tui info TRACE [--json]`: what a trace holds and whether W2A can use it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from w2a_tui.commands.output import print_warnings, stdout_is_terminal
from w2a_tui.errors import EXIT_BAD_INPUT, EXIT_OK, W2AError
from w2a_tui.events import canonical_name
from w2a_tui.printable import printable_tree


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "trace", nargs="?", help="CTF trace directory, or a folder holding one (LTTng session)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON (stable keys)"
    )


def run(args: argparse.Namespace) -> int:
    if not args.trace:
        raise W2AError("give a trace directory: w2a-tui info TRACE", EXIT_BAD_INPUT)
    report = gather(args.trace)
    print_warnings(report["warnings"], already_on_terminal=not args.json and stdout_is_terminal())
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        render(report)
    return EXIT_OK


def gather(path: str) -> dict[str, Any]:
    """Everything `info` shows, as JSON-ready data (one count-only pass over the trace)."""
    from w2a_tui.analysis.capabilities import limits_of_names
    from w2a_tui.trace import read_trace
    from w2a_tui.trace.requirements import check, usable

    source, counts = read_trace(path, lambda s: (s, s.count_events()))
    meta = source.meta
    cpus_known = bool(counts.cpus) or counts.total == 0
    requirements = check(counts.by_name, meta.has_pid_tid, cpus_known)
    ready = usable(requirements)
    return {
        "path": meta.path,
        "description": source.describe(),
        "trace_dirs": meta.trace_dirs,
        "skipped_dirs": source.skipped,
        "hostname": meta.hostname,
        "tracer": meta.tracer,
        "kernel": meta.kernel,
        "clock": str(getattr(source, "clock", "")),
        "env": source.env,
        "cpus": counts.cpus,
        "first_ns": counts.first_ns,
        "last_ns": counts.last_ns,
        "duration_ns": counts.last_ns - counts.first_ns,
        "events": counts.total,
        "discarded_events": counts.discarded,
        "counts": counts.by_name,
        "canonical_names": {name: canonical_name(name) for name in counts.by_name},
        "events_per_cpu": {str(cpu): n for cpu, n in counts.by_cpu.items()},
        "has_pid_tid": meta.has_pid_tid,
        "warnings": meta.warnings,
        "w2a": {
            "usable": ready,
            "requirements": [
                {"what": r.label, "level": r.level, "ok": r.ok, "why": r.why} for r in requirements
            ],
            "record_commands": [] if ready else _record_commands(source.decoder),
            # What a partial event set cannot tell apart, and the events that would.
            "limits": [
                {"key": limit.key, "text": limit.text} for limit in limits_of_names(counts.by_name)
            ],
        },
    }


def _record_commands(decoder: str) -> list[str]:
    """How to record a trace W2A can use: with the tracer this trace came from."""
    from w2a_tui.trace.requirements import record_commands

    if decoder in ("trace.dat", "ftrace-text"):
        from pathlib import Path

        from w2a_tui.trace.ftrace.tracefs import commands_for

        return commands_for("trace-cmd", Path("w2a-trace"), 10, None)
    return record_commands()


def render(report: dict[str, Any]) -> None:
    """Human output with rich, laid out for 80 columns. Every string from the trace is
    shown through `printable` (no control character reaches the terminal) and escaped
    for rich's markup (a `[` in a name is text, never a style)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    report = {
        # `w2a` holds our own sentences and commands (printed without markup): no escape.
        key: printable_tree(value) if key == "w2a" else _escape_tree(printable_tree(value), escape)
        for key, value in report.items()
    }
    console = Console(width=min(Console().width, 100), highlight=False)
    console.print(f"[bold]{report['description']}[/bold]")
    for skipped in report["skipped_dirs"]:
        console.print(f"[dim]skipped {skipped}[/dim]")
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    duration_s = report["duration_ns"] / 1e9
    lost = report["discarded_events"]
    rows = [
        ("host", report["hostname"] or "?"),
        ("tracer", report["tracer"] or "?"),
        ("kernel", report["kernel"] or "?"),
        *([("clock", report["clock"])] if report.get("clock") else []),
        ("CPUs", f"{len(report['cpus'])}: {_ranges(report['cpus'])}"),
        ("first", f"{report['first_ns']} ns"),
        ("last", f"{report['last_ns']} ns"),
        ("duration", f"{duration_s:.6f} s"),
        ("events", f"{report['events']:,}"),
        ("lost events", f"[red]{lost:,}[/red]" if lost else "0"),
        ("pid/tid context", "yes" if report["has_pid_tid"] else "no"),
    ]
    for key, value in rows:
        summary.add_row(key, value)
    console.print(summary)
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)

    events = Table(title="Events by name", title_justify="left", expand=False)
    events.add_column("event (as in the trace)", overflow="fold")
    events.add_column("canonical", overflow="fold")
    events.add_column("count", justify="right")
    for name, count in sorted(report["counts"].items(), key=lambda item: (-item[1], item[0])):
        canonical = report["canonical_names"][name]
        events.add_row(name, "" if canonical == name else canonical, f"{count:,}")
    console.print(events)

    w2a = report["w2a"]
    needs = Table(title="What W2A needs", title_justify="left")
    needs.add_column("", width=3)
    needs.add_column("input", overflow="fold")
    needs.add_column("level")
    for requirement in w2a["requirements"]:
        mark = "[green]yes[/green]" if requirement["ok"] else "[red]no[/red]"
        needs.add_row(mark, requirement["what"], requirement["level"])
    console.print(needs)
    for limit in w2a["limits"]:
        console.print(f"[yellow]partial event set:[/yellow] {limit['text']}", highlight=False)
    if w2a["usable"]:
        console.print("[green]W2A can analyse this trace.[/green]")
        return
    console.print(
        "[yellow]W2A cannot analyse this trace. Record one on the KVM host with "
        "(or run `w2a-tui record OUT`):[/yellow]"
    )
    for command in w2a["record_commands"]:
        console.print(f"  {command}", soft_wrap=True, markup=False)


def _escape_tree(value: Any, escape: Callable[[str], str]) -> Any:
    """`escape` applied to every string in lists and dicts (keys too)."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list):
        return [_escape_tree(x, escape) for x in value]
    if isinstance(value, dict):
        return {_escape_tree(k, escape): _escape_tree(v, escape) for k, v in value.items()}
    return value


def _ranges(values: list[int]) -> str:
    """`0-3,6` for [0, 1, 2, 3, 6]."""
    parts: list[str] = []
    for value in values:
        if parts and value == _last(parts) + 1:
            start = parts[-1].split("-")[0]
            parts[-1] = f"{start}-{value}"
        else:
            parts.append(str(value))
    return ",".join(parts) or "none"


def _last(parts: list[str]) -> int:
    return int(parts[-1].split("-")[-1])

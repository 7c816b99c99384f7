"""`w2a-tui analyze TRACE [--json]`: every VM's vCPU states, wait reasons and exits, with a
one-line verdict per VM."""

from __future__ import annotations

import argparse
import json
import sys

from w2a_tui.analysis.vectors import add_vectors_argument, resolve_vector_table
from w2a_tui.commands.output import print_warnings, stdout_is_terminal
from w2a_tui.commands.workers import add_workers_argument, apply_workers
from w2a_tui.errors import EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="trace directory (or an LTTng session folder)")
    parser.add_argument("--json", action="store_true", help="machine-readable totals")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="re-analyse the trace even if a cached result exists",
    )
    add_vectors_argument(parser)
    add_workers_argument(parser)
    parser.add_argument(
        "--top", type=int, default=5, metavar="N", help="preempting threads kept per vCPU (5)"
    )


def run(args: argparse.Namespace) -> int:
    from w2a_tui.analysis.totals import compute_totals, totals_to_json
    from w2a_tui.pipeline import load_result, load_store

    table = resolve_vector_table(args.vectors)
    apply_workers(args)
    if args.no_cache or table is not None:
        # A fresh result: its totals need no store.
        result = load_result(args.trace, use_cache=False, vector_table=table)
        totals = compute_totals(result, top=max(args.top, 1))
        meta = result.meta
    else:
        # Cached (or analysed and cached): totals straight from the store's columns.
        store, _ = load_store(args.trace, with_pcpu=False)
        totals = compute_totals(store, top=max(args.top, 1))
        meta = store.meta
    print_warnings(totals.warnings, already_on_terminal=not args.json and stdout_is_terminal())
    if args.json:
        json.dump(totals_to_json(totals), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    from rich.console import Console

    from w2a_tui.analysis.report import render_report

    console = Console(width=min(Console().width, 100) if sys.stdout.isatty() else 80)
    render_report(totals, meta, console)
    return EXIT_OK

"""`w2a-tui fleet TRACE_OR_DIR... -o fleet.parquet [--scheduler ADDRESS] [--workers N]`:
many hosts' traces on Dask, one table; `w2a-tui fleet --view fleet.parquet` ranks its VMs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from w2a_tui.errors import EXIT_OK, W2AError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "traces",
        nargs="*",
        metavar="TRACE_OR_DIR",
        help="traces, LTTng session folders, or folders holding many of them",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="the Parquet table to write")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler (tcp://host:8786); default: a local cluster",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker processes of the local cluster (CPUs)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="re-analyse every trace, ignore their caches"
    )
    parser.add_argument(
        "--view", metavar="FILE", help="open a fleet table in the TUI (ranks VMs across hosts)"
    )


def run(args: argparse.Namespace) -> int:
    if args.view:
        return _view(args.view)
    if not args.traces:
        raise W2AError("which traces? Give trace folders (or a folder of them) and -o FILE.")
    if not args.output:
        raise W2AError("give the table to write with -o, e.g. -o fleet.parquet.")
    if Path(args.output).is_dir():
        raise W2AError(f"{args.output} is a directory: give -o a file name.")
    if args.workers is not None and args.workers < 1:
        raise W2AError("--workers must be 1 or more.")
    from w2a_tui.export.parquet import require_pyarrow
    from w2a_tui.fleet.run import run_fleet
    from w2a_tui.fleet.table import trace_units, write_fleet

    require_pyarrow()
    traces: list[str] = []
    for given in args.traces:
        for unit in trace_units(given):
            key = str(unit.resolve()) if unit.exists() else str(unit)
            if key not in traces:
                traces.append(key)
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int, trace: str) -> None:
        line = f"fleet: {done}/{total} traces done ({Path(trace).name})"
        if interactive:
            end = "\n" if done == total else ""
            print(f"\r\x1b[K{line}", end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    result = run_fleet(
        traces,
        scheduler=args.scheduler,
        workers=args.workers,
        use_cache=not args.no_cache,
        progress=progress,
    )
    write_fleet(result.rows, args.output)
    ok = result.traces - len(result.failed)
    print(
        f"fleet: {ok} of {result.traces} traces analysed on {result.workers} worker(s) in "
        f"{result.seconds:.1f} s; {len(result.rows)} rows written to {args.output}",
        file=sys.stderr,
    )
    for trace in result.failed:
        print(f"fleet: failed: {trace} (its row says why)", file=sys.stderr)
    return EXIT_OK


def _view(path: str) -> int:
    from w2a_tui.fleet.view import load_fleet

    table = load_fleet(path)
    from w2a_tui.tui.screens.fleet import browse_fleet  # Textual loads only for this command

    return browse_fleet(table, path)

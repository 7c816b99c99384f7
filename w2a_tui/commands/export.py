"""`w2a-tui export TRACE --format csv|json|perfetto|parquet [-o FILE]`: every vCPU interval,
the contract's columns, sorted by vm, vcpu, start; `--from/--to/--vm/--vcpu/--state` keep
a part of it (w2a_tui.export.select). Perfetto and Parquet live in w2a_tui.export."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from w2a_tui.analysis.rows import EXPORT_COLUMNS, Row, export_rows
from w2a_tui.analysis.vectors import add_vectors_argument, resolve_vector_table
from w2a_tui.commands.output import output_file, print_warnings, refuse_inside_trace
from w2a_tui.commands.workers import add_workers_argument, apply_workers
from w2a_tui.errors import EXIT_OK, W2AError
from w2a_tui.export.select import (
    add_selection_arguments,
    keep_states,
    select_result,
    selection_from_args,
)
from w2a_tui.store.export_text import json_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="trace directory (or an LTTng session folder)")
    parser.add_argument(
        "--format",
        choices=("csv", "json", "perfetto", "parquet"),
        default="csv",
        help="output format (default: csv); perfetto = Chrome/Perfetto trace JSON; "
        "parquet needs -o and pyarrow (w2a-tui[parquet])",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="re-analyse the trace even if a cached result exists",
    )
    add_vectors_argument(parser)
    add_workers_argument(parser)
    add_selection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from w2a_tui.pipeline import load_store
    from w2a_tui.store.export_text import write_csv_columns, write_json_columns

    if args.format == "parquet" and args.output in (None, "-"):
        raise W2AError("Parquet is binary: give a file with -o, e.g. -o intervals.parquet.")
    table = resolve_vector_table(args.vectors)
    apply_workers(args)
    store, _ = load_store(
        args.trace, use_cache=not args.no_cache, vector_table=table, with_pcpu=False
    )
    selection = selection_from_args(args, store.meta)
    print_warnings(store.warnings)
    if args.format in ("csv", "json") and selection.is_everything:
        # Straight from the store's columns: the same bytes as write_csv / write_json of
        # export_rows, without a Python object per interval.
        with output_file(args.output, args.trace) as out:
            if args.format == "csv":
                write_csv_columns(store, out)
            else:
                write_json_columns(store, out, store.warnings)
        return EXIT_OK
    result = store.to_result()
    if args.format == "parquet":
        from w2a_tui.export.parquet import write_parquet

        refuse_inside_trace(args.output, args.trace)
        if Path(args.output).is_dir():
            raise W2AError(f"{args.output} is a directory: give -o a file name.")
        write_parquet(select_result(result, selection), args.output, states=selection.states)
        return EXIT_OK
    with output_file(args.output, args.trace) as out:
        if args.format == "perfetto":
            from w2a_tui.export.perfetto import write_perfetto

            write_perfetto(result, out, selection)
            return EXIT_OK
        rows = keep_states(export_rows(select_result(result, selection)), selection.states)
        if args.format == "csv":
            write_csv(rows, out)
        else:
            write_json(rows, out, store.warnings)
    return EXIT_OK


def write_csv(rows: Iterable[Row], out: IO[str]) -> None:
    """None cells are written empty."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])


def write_json(rows: Iterable[Row], out: IO[str], warnings: Sequence[str] = ()) -> None:
    """One object: `warnings` (the analysis' warnings, a list of sentences) and
    `intervals`, an array of objects with the CSV's keys (empty cells are null). Streamed.
    Names stay exact; a byte that was not UTF-8 in the trace is a `\\udcXX` escape."""
    out.write('{"warnings": ')
    out.write(json_text(list(warnings)))
    out.write(',\n "intervals": [')
    first = True
    for row in rows:
        record = {
            key: (None if cell == "" else cell)
            for key, cell in zip(EXPORT_COLUMNS, row, strict=True)
        }
        out.write("\n  " if first else ",\n  ")
        out.write(json_text(record))
        first = False
    out.write("\n ]}\n")

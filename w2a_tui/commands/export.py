"""`w2a-tui export TRACE --format csv|json [-o FILE]`: every vCPU interval, the contract's
columns, sorted by vm, vcpu, start."""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Iterable, Sequence
from typing import IO

from w2a_tui.analysis.rows import EXPORT_COLUMNS, Row, export_rows
from w2a_tui.analysis.vectors import add_vectors_argument, resolve_vector_table
from w2a_tui.commands.output import output_file, print_warnings
from w2a_tui.errors import EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="trace directory (or an LTTng session folder)")
    parser.add_argument(
        "--format", choices=("csv", "json"), default="csv", help="output format (default: csv)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="re-analyse the trace even if a cached result exists",
    )
    add_vectors_argument(parser)


def run(args: argparse.Namespace) -> int:
    from w2a_tui.pipeline import load_result

    table = resolve_vector_table(args.vectors)
    result = load_result(args.trace, use_cache=not args.no_cache, vector_table=table)
    rows = export_rows(result)
    print_warnings(result.warnings)
    with output_file(args.output, args.trace) as out:
        if args.format == "csv":
            write_csv(rows, out)
        else:
            write_json(rows, out, result.warnings)
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
    out.write(_json_text(list(warnings)))
    out.write(',\n "intervals": [')
    first = True
    for row in rows:
        record = {
            key: (None if cell == "" else cell)
            for key, cell in zip(EXPORT_COLUMNS, row, strict=True)
        }
        out.write("\n  " if first else ",\n  ")
        out.write(_json_text(record))
        first = False
    out.write("\n ]}\n")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_text(value: object) -> str:
    """`json.dumps` keeping non-ASCII as is, but lone surrogates (undecodable bytes kept
    by `surrogateescape`) as `\\udcXX` escapes: the file stays valid UTF-8."""
    text = json.dumps(value, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

"""`--workers N`, shared by the commands that analyse a trace (analyze, export, view)."""

from __future__ import annotations

import argparse


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (0 or more)")
    return value


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=_count,
        default=None,
        metavar="N",
        help="processes decoding the trace, for traces over 16 MiB (default: one beside "
        "the analysis when a core is idle, else 0; one per core up to 8 when the "
        "reader's C part is not built; 0: decode in this process)",
    )


def apply_workers(args: argparse.Namespace) -> None:
    """Make the pipeline use the `--workers` given (if any)."""
    from w2a_tui.pipeline import use_workers

    use_workers(args.workers)

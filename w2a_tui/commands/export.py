"""`w2a-tui export`: not implemented yet."""

from __future__ import annotations

import argparse

from w2a_tui.errors import W2AError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", nargs="?", help="trace directory")


def run(args: argparse.Namespace) -> int:
    raise W2AError("this command is not implemented yet.", 1)

"""Command line: `w2a-tui [view] TRACE`, `info`, `analyze`, `export`, `generate`.

Each subcommand lives in `w2a_tui.commands.<name>` with `add_arguments(parser)` and
`run(args) -> int`, imported only when used so that `info` never loads Textual.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from w2a_tui import __version__
from w2a_tui.errors import EXIT_FAILURE, W2AError

COMMANDS: dict[str, str] = {
    "view": "open a trace in the terminal UI (the default: `w2a-tui TRACE`)",
    "info": "describe a trace: host, CPUs, time range, events, and whether W2A can use it",
    "analyze": "report every VM's vCPU states, wait reasons and exits",
    "export": "write every vCPU interval as CSV or JSON (the contract's columns)",
    "generate": "write a synthetic KVM host trace with its ground truth",
}

CONTRACT_NOTE = (
    "The states, wait reasons, vector tables and export columns are defined in "
    "docs/vcpu-states.md of the w2a-tui source."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="w2a-tui",
        description="What every vCPU of every KVM guest was doing, from the host kernel trace.",
        epilog=CONTRACT_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=CONTRACT_NOTE)
        module = importlib.import_module(f"w2a_tui.commands.{name}")
        module.add_arguments(p)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """`w2a-tui TRACE ...` means `w2a-tui view TRACE ...`."""
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        return ["view", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"w2a_tui.commands.{args.command}")
    try:
        status: int = module.run(args)
        return status
    except W2AError as err:
        print(f"w2a-tui: {err.message}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        print("w2a-tui: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE

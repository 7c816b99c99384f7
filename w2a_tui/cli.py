"""Command line: `w2a-tui [view] TRACE`, `info`, `analyze`, `export`, `generate`, `record`,
`serve`, `fleet`.

Each subcommand lives in `w2a_tui.commands.<name>` with `add_arguments(parser)` and
`run(args) -> int`, imported only when used so that `info` never loads Textual.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Sequence

from w2a_tui import __version__
from w2a_tui.commands.output import WRITE_ERRNOS, silence_stdout, write_error
from w2a_tui.errors import EXIT_BAD_INPUT, EXIT_FAILURE, W2AError
from w2a_tui.printable import printable

COMMANDS: dict[str, str] = {
    "view": "open a trace in the terminal UI (the default: `w2a-tui TRACE`)",
    "info": "describe a trace: host, CPUs, time range, events, and whether W2A can use it",
    "analyze": "report every VM's vCPU states, wait reasons and exits",
    "export": "write every vCPU interval as CSV, JSON, Perfetto trace JSON or Parquet",
    "generate": "write a synthetic KVM host trace with its ground truth",
    "record": "print (or, as root, run) the commands that record a trace W2A can use",
    "serve": "serve the terminal UI of a trace to a web browser (textual-serve)",
    "fleet": "analyse many hosts' traces on Dask into one table, or view such a table",
}

CONTRACT_NOTE = (
    "The states, wait reasons, vector tables and export columns are defined in "
    "docs/vcpu-states.md of the w2a-tui source."
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `only`, that command alone (its module alone is imported:
    `w2a-tui TRACE` starts the TUI sooner). `w2a-tui -h` lists them all."""
    parser = argparse.ArgumentParser(
        prog="w2a-tui",
        description="What every vCPU of every KVM guest was doing, from the host kernel trace.",
        epilog=CONTRACT_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=CONTRACT_NOTE)
        module = importlib.import_module(f"w2a_tui.commands.{name}")
        module.add_arguments(p)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """`w2a-tui TRACE ...` (or `w2a-tui --no-cache TRACE`, options first) means
    `w2a-tui view ...`; only `-h`, `--help` and `--version` belong to `w2a-tui` itself."""
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        return ["view", *argv]
    return argv


# Commands run as the program (`w2a-tui analyze ...`, `python -m w2a_tui info ...`) whose
# process ends without the interpreter's teardown once their output is flushed and the
# atexit handlers ran: freeing every module and object and a last full collection cost
# 20-45 ms of CPU, a tenth of `analyze` on a small trace. Not the TUI (Textual's own exit).
QUICK_EXIT: frozenset[str] = frozenset({"analyze", "export", "info"})


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    command = args_list[0] if args_list and args_list[0] in COMMANDS else None
    status = _run(args_list, command)
    if argv is None and command in QUICK_EXIT:
        end_process(status)
    return status


def end_process(status: int) -> None:
    """Run the atexit handlers and end the process with `status` (os._exit), skipping the
    interpreter's teardown. Returns (the usual exit follows) when the output cannot be
    flushed, when another thread still runs, or while child processes are alive."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # the usual exit reports it
    if threading.active_count() > 1:
        return
    mp = sys.modules.get("multiprocessing")
    if mp is not None and mp.active_children():
        return
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _run(args_list: list[str], command: str | None) -> int:
    parser = build_parser(only=command)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"w2a_tui.commands.{args.command}")
    try:
        if getattr(args, "trace", None) == "":
            # Path("") is the current folder: an empty argument (an unset shell variable)
            # must not analyse whatever folder the user happens to be in.
            raise W2AError("the trace path is empty: give a trace directory.")
        status: int = module.run(args)
        sys.stdout.flush()  # a full disk or a closed pipe is reported here, not at exit
        return status
    except W2AError as err:
        print(f"w2a-tui: {printable(err.message)}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        print("w2a-tui: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        silence_stdout()
        return EXIT_FAILURE
    except OSError as err:
        print(f"w2a-tui: {printable(os_error_sentence(err))}", file=sys.stderr)
        return EXIT_BAD_INPUT


def os_error_sentence(err: OSError) -> str:
    """One sentence for an I/O error no command turned into its own: writing the output
    (a full disk) or a path that failed while being read (`/proc/self`)."""
    why = err.strerror or str(err)
    if err.filename is None and err.errno in WRITE_ERRNOS:
        silence_stdout()
        return write_error(err, "the standard output").message
    if err.filename is None:
        return f"input/output error: {why}."
    return f"cannot read {err.filename}: {why}; give a readable trace directory."

"""`w2a-tui record OUT [--seconds N] [--run]`: how to record a trace W2A can use on this host.

Without --run it only looks (LTTng with its kernel modules loaded, else trace-cmd, else
tracefs) and prints the exact commands; nothing is changed. With --run (root) it records
N seconds itself, then says how to open the result.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from w2a_tui.errors import EXIT_OK, W2AError

if TYPE_CHECKING:
    from w2a_tui.trace.ftrace.tracefs import Host

VIAS = ("lttng", "trace-cmd", "tracefs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", nargs="?", help="folder to record into (new or empty)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument(
        "--run", action="store_true", help="record now (root); without it, only print commands"
    )
    parser.add_argument(
        "--via", choices=VIAS, help="recorder to use (default: the best this host has)"
    )
    parser.add_argument(
        "--tracefs", metavar="PATH", help="tracefs mount point (default: /sys/kernel/tracing)"
    )


def run(args: argparse.Namespace) -> int:
    from w2a_tui.trace.ftrace.tracefs import commands_for, probe_host

    if not args.out:
        raise W2AError("give the folder to record into: w2a-tui record OUT [--run]")
    if not 0 < args.seconds <= 3600:
        raise W2AError(f"--seconds {args.seconds:g} is out of range; give 0 < N <= 3600.")
    out = Path(args.out).expanduser().absolute()
    host = probe_host(args.tracefs)
    via = args.via or host.best
    print(_host_line(host))
    if not args.run:
        print(f"Record {args.seconds:g} s with {via} (as root), then open it with w2a-tui:")
        for line in commands_for(via, out, args.seconds, host.tracefs):
            print(f"  {line}")
        print(f"  w2a-tui view {out / _result_name(via)}")
        print("(Nothing was changed; add --run to record now.)")
        return EXIT_OK
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise W2AError(f"{out} exists and is not empty; choose a new folder to record into.")
    if not host.root:
        raise W2AError("recording needs root: run `sudo w2a-tui record OUT --run`.")
    result = _record(via, host.tracefs, out, args.seconds)
    print(f"Recorded {args.seconds:g} s with {via} into {result}. Open it with:")
    print(f"  w2a-tui view {result}")
    return EXIT_OK


def _host_line(host: Host) -> str:
    found = [
        "LTTng (kernel modules loaded)" if host.lttng else "",
        "trace-cmd" if host.trace_cmd else "",
        f"tracefs at {host.tracefs}" if host.tracefs else "",
    ]
    have = ", ".join(f for f in found if f) or "no tracer (no tracefs mounted)"
    return f"This host has: {have}."


def _result_name(via: str) -> str:
    return {"lttng": "", "trace-cmd": "trace.dat", "tracefs": "trace.txt.gz"}[via]


def _record(via: str, tracefs: Path | None, out: Path, seconds: float) -> Path:
    from w2a_tui.trace.ftrace.tracefs import RecordError, commands_for, record_tracefs

    if via == "tracefs":
        recording = record_tracefs(tracefs, out, seconds)
        if recording.missing:
            print(f"Not on this kernel (left out): {', '.join(recording.missing)}.")
        return recording.path
    out.mkdir(parents=True, exist_ok=True)
    for line in commands_for(via, out, seconds, tracefs):
        if line.startswith("sleep "):
            time.sleep(seconds)
            continue
        if line.startswith("mkdir "):
            continue
        done = subprocess.run(shlex.split(line), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RecordError(f"`{line.split()[0]} {line.split()[1]}` failed: {last[0]}")
    return out / _result_name(via) if _result_name(via) else out

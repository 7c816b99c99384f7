"""`w2a-tui generate OUT --scenario NAME`: a simulated KVM host trace plus its ground truth."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from w2a_tui.errors import W2AError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out", nargs="?", help="trace folder to create (must not exist or be empty)"
    )
    parser.add_argument("--scenario", default="mixed", help="what to simulate (default: mixed)")
    parser.add_argument("--seconds", type=float, help="simulated duration")
    parser.add_argument("--vms", type=int, help="number of VMs (QEMU processes)")
    parser.add_argument("--vcpus", type=int, help="vCPUs per VM")
    parser.add_argument("--pcpus", type=int, help="host CPUs")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--format",
        choices=("ctf", "trace-cmd"),
        default="ctf",
        help="ctf: an lttng-modules CTF folder (default); trace-cmd: OUT holds a trace.dat "
        "(format 6) with the same events as the CTF, and the saved_tgids of record-tgid",
    )
    parser.add_argument(
        "--dat-version", type=int, choices=(6, 7), default=6, help="trace.dat format (6 or 7)"
    )
    parser.add_argument(
        "--compression",
        choices=("none", "zlib", "zstd"),
        default="none",
        help="compress a format-7 trace.dat's sections and data",
    )
    parser.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")


class Progress:
    """How far `generate` got, on stderr: on a terminal one line redrawn in place (at most
    five times a second, erased at the end); otherwise (a log, a pipe) a plain line at each
    quarter, once a second has passed, so a short run stays quiet."""

    REDRAW_S = 0.2
    QUIET_S = 1.0

    def __init__(
        self,
        what: str,
        stream: TextIO,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self.drawn = -1.0  # when the terminal line was last drawn (-1: never)
        self.quarter = 0  # the last quarter written as a plain line

    def __call__(self, fraction: float) -> None:
        now = self.clock()
        elapsed = now - self.started
        if self.tty:
            if self.drawn >= 0 and now - self.drawn < self.REDRAW_S:
                return
            self.drawn = now
            self.stream.write(f"\r{self.what}: {fraction:4.0%} simulated, {elapsed:.0f} s")
            self.stream.flush()
            return
        quarter = min(3, int(fraction * 4))
        if quarter > self.quarter and elapsed >= self.QUIET_S:
            self.quarter = quarter
            print(f"{self.what}: {quarter * 25}% simulated, {elapsed:.1f} s", file=self.stream)
            self.stream.flush()

    def done(self) -> None:
        """Erase the terminal line (the summary line takes its place)."""
        if self.tty and self.drawn >= 0:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from w2a_tui.sim import SCENARIOS, generate, get_scenario, with_overrides

    if args.list_scenarios:
        width = max(len(name) for name in SCENARIOS)
        for name, sc in SCENARIOS.items():
            print(f"{name:<{width}}  {sc.description}")
        return 0
    if not args.out:
        raise W2AError("missing the output folder; run `w2a-tui generate OUT --scenario NAME`.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise W2AError(f"{args.out} exists and is not a folder: give generate a new folder name.")
    sc = with_overrides(
        get_scenario(args.scenario), args.seconds, args.vms, args.vcpus, args.pcpus, args.seed
    )
    started = time.perf_counter()
    progress = Progress(f"generate {sc.name} ({sc.seconds:g} s)", sys.stderr)
    try:
        if args.format == "trace-cmd":
            from w2a_tui.sim.tracecmd import generate_dat

            summary, _ = generate_dat(out, sc, args.dat_version, args.compression, progress)
        else:
            summary = generate(out, sc, progress)
    finally:
        progress.done()
    took = time.perf_counter() - started
    lost = f", {summary.discarded} discarded" if summary.discarded else ""
    print(
        f"{summary.trace_dir}: {summary.events} events{lost}, "
        f"{summary.bytes / 1e6:.1f} MB, {summary.truth_rows} truth rows "
        f"({sc.name}, {sc.vms} VM x {sc.vcpus} vCPU on {sc.pcpus} CPUs, "
        f"{sc.seconds:g} s, seed {sc.seed}) in {took:.1f} s",
        file=sys.stderr,
    )
    print(f"truth: {summary.truth_csv} {summary.truth_json}", file=sys.stderr)
    return 0

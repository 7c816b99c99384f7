"""`w2a-tui generate OUT --scenario NAME`: a simulated KVM host trace plus its ground truth."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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
    parser.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")


def run(args: argparse.Namespace) -> int:
    from w2a_tui.sim import SCENARIOS, generate, get_scenario, with_overrides

    if args.list_scenarios:
        width = max(len(name) for name in SCENARIOS)
        for name, sc in SCENARIOS.items():
            print(f"{name:<{width}}  {sc.description}")
        return 0
    if not args.out:
        raise W2AError("missing the output folder; run `w2a-tui generate OUT --scenario NAME`.")
    sc = with_overrides(
        get_scenario(args.scenario), args.seconds, args.vms, args.vcpus, args.pcpus, args.seed
    )
    started = time.perf_counter()
    if args.format == "trace-cmd":
        from w2a_tui.sim.tracecmd import generate_dat

        summary, _ = generate_dat(Path(args.out), sc)
    else:
        summary = generate(Path(args.out), sc)
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

"""Simulator speed: seconds to generate ~1 M events of the `mixed` scenario (simulation,
CTF writing and ground truth), against a baseline measured in the same run: packing the
same number of events with one precompiled struct.Struct each (the floor of any
pure-Python CTF writer). Machines differ; the ratio travels.

    .venv/bin/python benchmarks/sim_bench.py [--events N] [--keep DIR]

The target is < 10 s for 1 M events on the 2-core development box.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from w2a_tui.sim import generate, get_scenario, with_overrides  # noqa: E402

# Events per simulated second of `mixed` at its default size (3 VMs x 4 vCPUs, 8 CPUs).
MIXED_EVENTS_PER_S = 310_000


def baseline_pack(n: int) -> float:
    """Seconds to pack n kvm_exit-sized events (header + context + payload) into a buffer."""
    st = struct.Struct("<Iii16sIQIQQIII")
    comm = b"CPU 0/KVM"
    buf = bytearray()
    start = time.perf_counter()
    for i in range(n):
        buf += st.pack(i & 31, 3100, 3110, comm, 48, 0xFFFFFFFF81000000, 1, 0x181, i, 0, 0, 0)
        if len(buf) > 1 << 20:
            buf = bytearray()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to aim for")
    parser.add_argument("--keep", type=Path, help="keep the trace in this folder")
    args = parser.parse_args()
    seconds = args.events / MIXED_EVENTS_PER_S
    sc = with_overrides(get_scenario("mixed"), seconds=seconds, seed=1)
    work = Path(tempfile.mkdtemp(prefix="sim-bench-"))
    out = args.keep or work / "mixed"
    try:
        base = baseline_pack(args.events)
        start = time.perf_counter()
        summary = generate(out, sc)
        took = time.perf_counter() - start
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    per_s = summary.events / took
    print(
        f"mixed {seconds:.2f} s simulated: {summary.events} events, {summary.truth_rows} truth rows"
    )
    print(f"generate: {took:.2f} s = {per_s / 1e3:.0f} k events/s  (target: 1 M events < 10 s)")
    print(f"baseline struct.pack of {args.events} events: {base:.2f} s")
    ratio = (took / summary.events) / (base / args.events)
    print(f"ratio generate / baseline (per event): {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

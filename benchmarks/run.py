"""Run every benchmark in turn (`make bench`). Each prints its own figures as ratios to a
baseline measured in the same run, because the machines here are noisy.

    .venv/bin/python benchmarks/run.py [--quick]

--quick runs smaller sizes (about a minute in all) to check that the benchmarks still work.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL: list[list[str]] = [
    ["reader_bench.py"],
    ["ftrace_bench.py"],
    ["analysis_bench.py"],
    ["pipeline_bench.py"],
    ["sim_bench.py"],
    ["store_bench.py"],
    ["tui_bench.py"],
]
QUICK: list[list[str]] = [
    ["reader_bench.py"],
    ["ftrace_bench.py", "--repeat", "1"],
    ["analysis_bench.py", "--events", "200000"],
    ["pipeline_bench.py", "--events", "200000"],
    ["sim_bench.py", "--events", "200000"],
    ["store_bench.py", "--intervals", "1000000"],
    ["tui_bench.py", "--intervals", "1000000"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    failed = []
    for bench in QUICK if args.quick else FULL:
        print(f"\n=== {' '.join(bench)}", flush=True)
        status = subprocess.run([sys.executable, str(HERE / bench[0]), *bench[1:]]).returncode
        if status != 0:
            failed.append(bench[0])
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`w2a-tui fleet` on a local Dask cluster: 2 workers against 1, on every simulator
scenario written into one folder (each trace analysed without its cache, so both runs do
the same work). Prints the wall time of each run (cluster start-up included, and the
analysis alone) and the ratio, beside the ratio that a plain pool of 2 processes gets over
1 on the same traces in the same run (the parallelism the machine offers at that moment:
on a shared, loaded machine it is far below 2).

    .venv/bin/python benchmarks/fleet_bench.py [--seconds S] [--repeat N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from w2a_tui.fleet.run import run_fleet, trace_size
from w2a_tui.fleet.table import trace_rows
from w2a_tui.sim.scenarios import SCENARIOS


def generate(folder: Path, seconds: float | None) -> list[str]:
    traces = []
    for name in sorted(SCENARIOS):
        out = folder / name
        cmd = [sys.executable, "-m", "w2a_tui", "generate", str(out), "--scenario", name]
        if seconds is not None:
            cmd += ["--seconds", str(seconds)]
        subprocess.run(cmd, check=True, capture_output=True)
        traces.append(str(out))
    return traces


def timed(traces: list[str], workers: int) -> tuple[float, float]:
    started = time.perf_counter()
    run = run_fleet(traces, workers=workers, use_cache=False)
    assert not run.failed, run.failed
    return time.perf_counter() - started, run.seconds


def pooled(traces: list[str], workers: int) -> float:
    """The same work without Dask: a process pool of `workers`."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_warm, range(workers)))
        started = time.perf_counter()
        list(pool.map(trace_rows, traces, [False] * len(traces)))
        return time.perf_counter() - started


def _warm(_: int) -> None:
    import w2a_tui.analysis.totals
    import w2a_tui.pipeline  # noqa: F401


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="simulated seconds per trace")
    parser.add_argument("--repeat", type=int, default=2, help="runs per worker count (best kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="w2a-fleet-bench-") as tmp:
        # Largest first, as run_fleet orders them, for the plain pool too.
        traces = sorted(generate(Path(tmp), args.seconds), key=trace_size, reverse=True)
        best: dict[int, tuple[float, float]] = {}
        pool: dict[int, float] = {}
        for _ in range(args.repeat):
            for workers in (1, 2):
                wall, work = timed(traces, workers)
                old = best.get(workers)
                best[workers] = (wall, work) if old is None else min(old, (wall, work))
                plain = pooled(traces, workers)
                pool[workers] = min(pool.get(workers, plain), plain)
        (w1, a1), (w2, a2) = best[1], best[2]
        print(f"fleet: {len(traces)} scenario traces, best of {args.repeat}")
        print(f"  1 worker : {w1:6.2f} s in all, {a1:6.2f} s analysing")
        print(f"  2 workers: {w2:6.2f} s in all, {a2:6.2f} s analysing")
        print(f"  speed-up : {w1 / w2:.2f}x in all, {a1 / a2:.2f}x analysing")
        print(f"  baseline : a plain pool of 2 processes gets {pool[1] / pool[2]:.2f}x over 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

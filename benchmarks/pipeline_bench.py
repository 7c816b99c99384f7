"""End-to-end speed: read + analyse + index a KVM host trace, against `babeltrace2 -o dummy`
on the same trace in the same run (machines are noisy; the ratio travels).

    .venv/bin/python benchmarks/pipeline_bench.py [--events N] [--trace PATH]

Without --trace, a `mixed` trace of about N events is generated first (not timed). Also
times reopening the same trace from the on-disk cache, and peak memory of the analysis.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from w2a_tui.pipeline import analyze_trace, load_store
from w2a_tui.sim import generate, get_scenario, with_overrides
from w2a_tui.store import StateStore
from w2a_tui.store.cache import cache_path_for
from w2a_tui.trace import open_trace

# Events per simulated second of the default `mixed` scenario (see sim_bench.py).
MIXED_EVENTS_PER_S = 310_000


def babeltrace2_dummy_seconds(trace: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["babeltrace2", str(trace), "-o", "dummy"], check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--trace", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="w2a-bench-") as tmp:
        trace = args.trace
        if trace is None:
            trace = Path(tmp) / "mixed"
            seconds = max(0.1, args.events / MIXED_EVENTS_PER_S)
            print(f"generating a mixed trace of ~{args.events:,} events ({seconds:.2f} s) ...")
            generate(trace, with_overrides(get_scenario("mixed"), seconds=seconds, seed=1))
        events = open_trace(trace).count_events().total

        bt_s = babeltrace2_dummy_seconds(trace)
        started = time.perf_counter()
        result = analyze_trace(trace)
        store = StateStore.from_result(result)
        ours_s = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        cache = cache_path_for(trace)
        cache.unlink(missing_ok=True)
        load_store(trace)  # analyse once more and write the cache
        started = time.perf_counter()
        _, cached = load_store(trace)
        reopen_s = time.perf_counter() - started
        cache.unlink(missing_ok=True)

    intervals = sum(lane.n_intervals for lane in store.lanes)
    print(f"trace: {events:,} events, {len(store.lanes)} vCPU lanes, {intervals:,} intervals")
    print(f"babeltrace2 -o dummy : {bt_s:7.2f} s  {events / bt_s / 1e6:6.2f} M events/s")
    print(
        f"w2a read+analyse+index: {ours_s:7.2f} s  {events / ours_s / 1e6:6.2f} M events/s"
        f"  ratio to babeltrace2 {bt_s / ours_s:5.2f}"
    )
    print(f"reopen from cache    : {reopen_s * 1000:7.1f} ms (from cache: {cached})")
    print(f"peak RSS             : {peak_mib:7.0f} MiB")
    if shutil.which("babeltrace2") is None:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

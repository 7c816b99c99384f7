"""End-to-end speed: read + analyse + index a KVM host trace, against `babeltrace2 -o dummy`
on the same trace in the same run (machines are noisy; the ratio travels).

    .venv/bin/python benchmarks/pipeline_bench.py [--events N] [--trace PATH]

Without --trace, a `mixed` trace of about N events is generated first (not timed). Also
times reopening the same trace from the on-disk cache, and peak memory: of reading and
analysing (the reader's mapped trace pages count), then of building the store after it.
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


def _peak_rss_mib() -> float:
    """The process's peak RSS since start or the last reset (Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss_mib() -> float | None:
    """Reset the peak RSS (`5` > /proc/self/clear_refs) so the next phase's peak can be
    told apart from the reader's; None where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _peak_rss_mib()


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
        read_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        index_peak_mib = _reset_peak_rss_mib()
        # What the TUI does: the result is consumed into the store (see load_store).
        store = StateStore.from_result(result, release=True)
        ours_s = time.perf_counter() - started
        del result
        if index_peak_mib is not None:
            index_peak_mib = _peak_rss_mib()

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
    print(f"peak RSS read+analyse: {read_peak_mib:7.0f} MiB (mapped trace pages included)")
    if index_peak_mib is not None:
        print(f"peak RSS index       : {index_peak_mib:7.0f} MiB (after the read, into the store)")
    if shutil.which("babeltrace2") is None:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

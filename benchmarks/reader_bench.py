"""Reader speed: events/s of w2a-tui's reader against `babeltrace2 -o dummy` on the same
trace, reported as ratios measured in the same run (machines differ; ratios travel).

    .venv/bin/python benchmarks/reader_bench.py [TRACE ...] [--public] [--repeat N]

Without TRACE: the largest real trace (tracevizlab-yum). Three passes of ours: count only
(what `info` does), decode the W2A kinds (what the analysis does), decode all known kinds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from w2a_tui.events import EventKind  # noqa: E402
from w2a_tui.trace import open_trace  # noqa: E402

DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "real" / "tracevizlab-yum"
W2A_KINDS = {
    EventKind.KVM_ENTRY,
    EventKind.KVM_EXIT,
    EventKind.KVM_INJ_VIRQ,
    EventKind.KVM_APIC_ACCEPT_IRQ,
    EventKind.SCHED_SWITCH,
    EventKind.SCHED_WAKING,
    EventKind.SCHED_WAKEUP,
    EventKind.SCHED_PROCESS_FORK,
    EventKind.STATEDUMP_PROCESS_STATE,
}


def best_time(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def babeltrace_dummy(trace_dirs: list[str]) -> float | None:
    """Seconds for `babeltrace2 -o dummy` (None when it fails, e.g. tc-scp-* and the muxer)."""
    start = time.perf_counter()
    done = subprocess.run(
        ["babeltrace2", "-o", "dummy", *trace_dirs], capture_output=True, check=False
    )
    elapsed = time.perf_counter() - start
    return elapsed if done.returncode == 0 else None


def bench(path: str, repeat: int) -> None:
    source = open_trace(path)
    total = source.count_events().total
    print(f"{source.describe()}: {total:,} events")
    bt_time = min(
        (t for t in (babeltrace_dummy(source.meta.trace_dirs) for _ in range(repeat)) if t),
        default=None,
    )
    if bt_time is None:
        print("  babeltrace2 -o dummy        failed (muxer: overlapping packets?)")
    else:
        print(f"  babeltrace2 -o dummy       {total / bt_time:>12,.0f} events/s  (1.00)")

    def decode(kinds: set[EventKind] | None) -> Callable[[], int]:
        def run() -> int:
            return sum(len(b) for b in source.iter_batches(kinds))

        return run

    passes: list[tuple[str, Callable[[], object]]] = [
        ("count only", source.count_events),
        ("decode W2A kinds", decode(W2A_KINDS)),
        ("decode all known kinds", decode(None)),
    ]
    for label, run in passes:
        seconds = best_time(run, repeat)
        rate = total / seconds
        ratio = f"({bt_time / seconds:.2f})" if bt_time else ""
        print(f"  ours: {label:22s} {rate:>12,.0f} events/s  {ratio}")
    decoded = decode(None)()
    print(f"  ({decoded:,} events decoded into tuples by the last pass)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*", default=[str(DEFAULT_TRACE)])
    parser.add_argument("--public", action="store_true", help="use the public-API decoder")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.public:
        os.environ["W2A_READER"] = "public"
    for trace in args.traces:
        bench(trace, args.repeat)


if __name__ == "__main__":
    main()

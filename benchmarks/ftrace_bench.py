"""trace.dat reader speed against `trace-cmd report > /dev/null` on the same file, as
ratios measured in the same run (machines differ; ratios travel).

    .venv/bin/python benchmarks/ftrace_bench.py [TRACE.dat ...] [--repeat N]

Without TRACE: the real KVM-host trace pvm-minivm-2vcpu (431 k events, v7 zstd). Passes:
open + count only (what `info` does), open + decode the W2A kinds (what the analysis
does), open + decode all known kinds. A ratio above 1 means faster than trace-cmd.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from w2a_tui.analysis import NEEDED_KINDS  # noqa: E402
from w2a_tui.trace import open_trace  # noqa: E402

DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "real-ftrace" / "pvm-minivm-2vcpu" / "trace.dat"


def best_time(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def trace_cmd_report(path: Path) -> None:
    with open("/dev/null", "wb") as sink:
        subprocess.run(
            ["trace-cmd", "report", "-i", str(path)], stdout=sink, stderr=sink, check=True
        )


def bench(path: Path, repeat: int) -> None:
    total = open_trace(path).count_events().total
    reference = best_time(lambda: trace_cmd_report(path), repeat)
    print(f"{path} ({total:,} events)")
    rate = total / reference / 1e6
    print(f"  trace-cmd report > /dev/null   {reference:6.2f} s  {rate:5.2f} M events/s")
    passes: list[tuple[str, Callable[[], object]]] = [
        ("count (info)", lambda: open_trace(path).count_events()),
        (
            "decode W2A kinds (analysis)",
            lambda: sum(len(b) for b in open_trace(path).iter_batches(NEEDED_KINDS)),
        ),
        ("decode all known kinds", lambda: sum(len(b) for b in open_trace(path).iter_batches())),
    ]
    for label, run in passes:
        seconds = best_time(run, repeat)
        print(
            f"  {label:<30} {seconds:6.2f} s  {total / seconds / 1e6:5.2f} M events/s"
            f"  = {reference / seconds:4.2f}x trace-cmd report"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("traces", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for path in args.traces or [DEFAULT_TRACE]:
        bench(path, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

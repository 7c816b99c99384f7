"""Reader speed: events/s of w2a-tui's decoders against `babeltrace2 -o dummy` on the same
trace, reported as ratios measured in the same run (machines differ; ratios travel).

    .venv/bin/python benchmarks/reader_bench.py [TRACE ...] [--readers fast,fast-py,bt2]
        [--repeat N]

Without TRACE: the largest real trace, tracevizlab-yum, when a corpus of real traces is at
hand (`$W2A_TRACE_CORPUS`, else `../shared/traces/real` beside the repository, as for the
tests), else the largest bundled one babeltrace2 reads whole (tc-bug446190, 31 k events, too
small for steady figures); and a generated 1 M-event KVM host trace (`mixed` scenario, 3.2 s,
seed 1; written once under the temp directory). Three
passes per decoder: count only (what `info` does), decode the W2A kinds (what the analysis
does), decode all known kinds. Decoders: `fast` (our CTF decoder, with its compiled walk),
`fast-py` (the same without it: pure Python), `bt2` (babeltrace2's SWIG layer), `public`
(babeltrace2's public API).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from w2a_tui.analysis import NEEDED_KINDS  # noqa: E402
from w2a_tui.events import EventKind  # noqa: E402
from w2a_tui.sim.generate import generate  # noqa: E402
from w2a_tui.sim.scenarios import get_scenario, with_overrides  # noqa: E402
from w2a_tui.trace import TraceSource, open_trace  # noqa: E402
from w2a_tui.trace.fastctf.cwalk import PURE_PYTHON_ENV  # noqa: E402

CORPUS_VAR = "W2A_TRACE_CORPUS"
BUNDLED_TRACE = REPO / "tests" / "data" / "real" / "tc-bug446190"
# What the analysis really asks the reader for.
W2A_KINDS = NEEDED_KINDS


def default_trace() -> Path:
    """tracevizlab-yum from the corpus the tests would use, else the bundled fallback."""
    named = os.environ.get(CORPUS_VAR, "")
    corpus = Path(named).expanduser() if named else REPO.parent / "shared" / "traces" / "real"
    yum = corpus / "tracevizlab-yum"
    return yum if yum.is_dir() else BUNDLED_TRACE


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


def decoding(source: TraceSource, kinds: set[EventKind] | None) -> Callable[[], int]:
    """A full decoding pass of `source`, as a callable to time."""

    def run() -> int:
        return sum(len(b) for b in source.iter_batches(kinds))

    return run


def mixed_trace() -> str:
    """The generated 1 M-event KVM host trace, written once."""
    path = Path(tempfile.gettempdir()) / "w2a-bench-mixed-3.2s-seed1"
    if not (path / "metadata").is_file():
        generate(path, with_overrides(get_scenario("mixed"), seconds=3.2, seed=1))
    return str(path)


def bench(path: str, readers: list[str], repeat: int) -> None:
    os.environ["W2A_READER"] = "bt2"
    total = open_trace(path).count_events().total
    bt_time = min(
        (
            t
            for t in (babeltrace_dummy(open_trace(path).meta.trace_dirs) for _ in range(repeat))
            if t
        ),
        default=None,
    )
    print(f"{path}: {total:,} events")
    if bt_time is None:
        print("  babeltrace2 -o dummy                  failed (muxer: overlapping packets?)")
    else:
        print(f"  babeltrace2 -o dummy                 {total / bt_time:>12,.0f} events/s  (1.00)")
    for reader in readers:
        os.environ["W2A_READER"] = "fast" if reader == "fast-py" else reader
        os.environ[PURE_PYTHON_ENV] = "1" if reader == "fast-py" else "0"
        source = open_trace(path)
        note = f" (declined: {source.fast_declined})" if source.fast_declined else ""
        print(f"  decoder {reader} -> {source.decoder}{note}")

        passes: list[tuple[str, Callable[[], object]]] = [
            ("count only", source.count_events),
            ("decode W2A kinds", decoding(source, W2A_KINDS)),
            ("decode all known kinds", decoding(source, None)),
        ]
        for label, run in passes:
            seconds = best_time(run, repeat)
            ratio = f"({bt_time / seconds:.2f})" if bt_time else ""
            print(f"    {reader:6s} {label:22s} {total / seconds:>12,.0f} events/s  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*")
    parser.add_argument(
        "--readers", default="fast,fast-py,bt2", help="comma-separated decoders"
    )
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    traces = args.traces or [str(default_trace()), mixed_trace()]
    readers = [r for r in args.readers.split(",") if r]
    for trace in traces:
        bench(trace, readers, args.repeat)


if __name__ == "__main__":
    main()

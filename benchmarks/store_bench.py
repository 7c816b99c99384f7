"""Store benchmark: a 10 M-interval, 64-lane store; per-frame column summaries at several
zoom levels, cursor queries, cache save/reopen, and memory per interval.

Machines are noisy, so every time is also printed as a ratio to a baseline measured in the
same run (np.searchsorted of 200 sorted values into a 10 M int64 array).

    .venv/bin/python benchmarks/store_bench.py [--intervals 10000000] [--lanes 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from w2a_tui.model import WAIT_STATES, Evidence, LaneData, Source, State, TraceMeta, VmInfo
from w2a_tui.store import StateStore
from w2a_tui.store.evidence_table import INT_FIELDS, STR_FIELDS, EvidenceTable

# State mix and mean durations (ns) of a busy KVM host: guest/hypervisor ping-pong with
# occasional idle waits, wake-up latency and preemption.
MIX: dict[State, tuple[float, float]] = {
    State.GUEST: (0.42, 40_000),
    State.HYPERVISOR: (0.42, 3_000),
    State.WAIT_TIMER: (0.04, 1_000_000),
    State.WAIT_TASK: (0.02, 300_000),
    State.WAIT_DISK: (0.01, 2_000_000),
    State.WAIT_NET: (0.01, 500_000),
    State.WAIT_UNKNOWN: (0.005, 800_000),
    State.READY: (0.05, 20_000),
    State.PREEMPTED: (0.015, 500_000),
    State.BLOCKED: (0.01, 200_000),
}
WITH_EVIDENCE = [int(s) for s in MIX if s not in (State.GUEST, State.HYPERVISOR)]


def build_store(n_total: int, n_lanes: int, seed: int = 7, **store_options: int) -> StateStore:
    """A realistic store built with numpy (no per-interval Python)."""
    rng = np.random.default_rng(seed)
    kinds = np.array([int(s) for s in MIX], dtype=np.uint8)
    weights = np.array([w for w, _ in MIX.values()])
    means = np.zeros(256)
    means[kinds] = [m for _, m in MIX.values()]
    needs_evidence = np.zeros(256, dtype=bool)
    needs_evidence[WITH_EVIDENCE] = True
    lanes: list[LaneData] = []
    n_evidence = 0
    t_origin = 1_700_000_000_000_000_000
    per_lane = n_total // n_lanes
    for li in range(n_lanes):
        n = per_lane + (1 if li < n_total % n_lanes else 0)
        states = rng.choice(kinds, size=n, p=weights / weights.sum())
        durations = np.maximum(1, rng.lognormal(0.0, 1.0, n) * means[states] / np.e**0.5)
        ends = t_origin + rng.integers(0, 10**6) + np.cumsum(durations.astype(np.int64))
        starts = np.empty(n, np.int64)
        starts[0] = ends[0] - int(durations[0])
        starts[1:] = ends[:-1]
        evidence = np.full(n, -1, np.int64)
        has = needs_evidence[states]
        evidence[has] = np.arange(n_evidence, n_evidence + int(has.sum()))
        n_evidence += int(has.sum())
        exits = np.where(states == State.GUEST, -1, rng.choice([12, 30, 48, 1, 32], n))
        lanes.append(
            LaneData(
                vm_pid=1000 + li // 8,
                vcpu=li % 8,
                tid=5000 + li,
                comm=f"CPU {li % 8}/KVM",
                end_ns=int(ends[-1]),
                starts=array("q", starts.tobytes()),
                states=array("B", states.tobytes()),
                exit_reasons=array("q", exits.astype(np.int64).tobytes()),
                evidence=array("q", evidence.tobytes()),
                exit_counts={12: n // 10, 30: n // 20},
            )
        )
    comms = ["", "qemu-system-x86", "vhost-1000", "CPU 1/KVM", "kworker/3:1", "swapper/2"]
    columns = {
        "source": rng.integers(1, 5, n_evidence).astype(np.uint8),
        **{name: rng.integers(-1, 40_000, n_evidence).astype(np.int32) for name in INT_FIELDS},
        **{name: rng.integers(0, len(comms), n_evidence).astype(np.uint8) for name in STR_FIELDS},
    }
    columns["vector"] = rng.choice([0xEC, 0xFB, 35, 36, -1], n_evidence).astype(np.int16)
    columns["wakeup_ns"] = t_origin + rng.integers(0, 10**10, n_evidence)
    vms = [VmInfo(pid=1000 + v, name=f"vm{v}") for v in range(n_lanes // 8 + 1)]
    meta = TraceMeta(path="synthetic", first_ns=t_origin, last_ns=t_origin + 10**11)
    return StateStore.from_lanes(
        meta=meta,
        vms=vms,
        lanes=lanes,
        evidence_table=EvidenceTable(columns, comms),
        warnings=[],
        **store_options,
    )


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


class Report:
    def __init__(self, baseline_s: float) -> None:
        self.baseline_s = baseline_s
        print(f"{'measure':<52} {'time':>12} {'x baseline':>11}")
        self.row("baseline: searchsorted 200 values in 10M int64", baseline_s)

    def row(self, name: str, seconds: float, target_s: float | None = None) -> None:
        verdict = "" if target_s is None else ("  OK" if seconds < target_s else "  OVER TARGET")
        shown = f"{seconds * 1e3:9.3f} ms" if seconds < 10 else f"{seconds:9.3f} s "
        print(f"{name:<52} {shown:>12} {seconds / self.baseline_s:10.1f}x{verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=10_000_000)
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--columns", type=int, default=200)
    args = parser.parse_args()
    ncols = args.columns

    big = np.sort(np.random.default_rng(0).integers(0, 2**50, 10_000_000))
    probes = np.sort(np.random.default_rng(1).integers(0, 2**50, 200))
    baseline = timed(lambda: np.searchsorted(big, probes), 200)

    t = time.perf_counter()
    store = build_store(args.intervals, args.lanes)
    build_s = time.perf_counter() - t
    n = store.n_intervals
    report = Report(baseline)
    report.row(f"build store ({n:,} intervals, {len(store.lanes)} lanes)", build_s)
    if hasattr(store, "durations"):  # the first ask of a (lane, state) is the slow one
        t = time.perf_counter()
        store.longest(sorted(WAIT_STATES), 20)
        report.row("longest(all waits, k=20), all lanes, first ask", time.perf_counter() - t)

    span = store.end_ns - store.start_ns
    mid = store.start_ns + span // 2
    longest = store.longest([State.WAIT_DISK], k=1)[0]
    zooms = [
        ("whole span", store.start_ns, store.end_ns),
        ("1/10 of span", mid - span // 20, mid + span // 20),
        ("1/1000 of span", mid - span // 2000, mid + span // 2000),
        ("1/1e6 of span", mid - span // 2_000_000, mid + span // 2_000_000),
        (
            "inside one interval",
            longest.start + longest.duration // 3,
            longest.start + longest.duration // 3 + max(ncols, longest.duration // 10),
        ),
    ]
    lanes = range(len(store.lanes))
    for label, t0, t1 in zooms:
        shift = iter(range(10**6))

        def frame(t0: int = t0, t1: int = t1, shift: Iterator[int] = shift) -> None:
            # A new window each time (1 ns further) so no frame is served from memory.
            d = next(shift)
            for lane in lanes:
                store.column_summary(lane, t0 + d, t1 + d, ncols)

        report.row(
            f"column_summary {len(lanes)} lanes x {ncols} cols, {label}",
            timed(frame, 15),
            target_s=0.005,
        )
    report.row(
        f"column_summaries (batched), {len(lanes)} lanes, whole span",
        timed(lambda: store.column_summaries(lanes, store.start_ns, store.end_ns, ncols), 15),
        target_s=0.005,
    )
    one = iter(range(10**6))
    report.row(
        "column_summary, 1 lane, 1 call (miss, block of lanes)",
        timed(lambda: store.column_summary(0, mid, mid + span // 10 + next(one), ncols), 15),
    )

    rng = np.random.default_rng(3)
    points = rng.integers(store.start_ns, store.end_ns, 1000).tolist()
    pairs = list(zip(rng.integers(0, len(store.lanes), 1000).tolist(), points, strict=True))
    waits = [State.WAIT_DISK, State.WAIT_NET]
    queries: list[tuple[str, Callable[[], object]]] = [
        ("interval_at", lambda: [store.interval_at(lane, p) for lane, p in pairs]),
        ("next_transition", lambda: [store.next_transition(lane, p) for lane, p in pairs]),
        (
            "prev_transition (2 wait states)",
            lambda: [store.prev_transition(lane, p, waits) for lane, p in pairs],
        ),
        (
            "totals over [p, p + span/100)",
            lambda: [store.totals(lane, p, p + span // 100) for lane, p in pairs],
        ),
    ]
    for label, fn in queries:
        report.row(f"{label}, per query", timed(fn, 3) / len(pairs))

    def vector_35(e: Evidence) -> bool:
        return e.vector == 35 and e.source is not Source.NONE

    few = pairs[:50]
    report.row(
        "find (evidence predicate, forward), per query",
        timed(lambda: [store.find(lane, p, evidence_match=vector_35) for lane, p in few], 3)
        / len(few),
    )
    report.row(
        "find (rare state + predicate, backward), per query",
        timed(
            lambda: [
                store.find(
                    lane, p, states=[State.WAIT_UNKNOWN], evidence_match=vector_35, forward=False
                )
                for lane, p in few
            ],
            3,
        )
        / len(few),
    )
    report.row("longest(waits, k=20) over all lanes", timed(lambda: store.longest(waits, 20), 3))
    report.row(
        "longest(all waits, k=20), all lanes, asked again",
        timed(lambda: store.longest(sorted(WAIT_STATES), 20), 3),
    )
    one_vm = store.lanes_of_vm(store.lanes[0].vm_pid)
    if hasattr(store, "durations"):
        report.row(
            "durations(all lanes, all waits)",
            timed(lambda: store.durations(lanes, sorted(WAIT_STATES)), 3),
        )
        report.row(
            f"durations(one VM = {len(one_vm)} lanes, all waits)",
            timed(lambda: store.durations(one_vm, sorted(WAIT_STATES)), 3),
        )

    per_interval = store.nbytes / n
    print(
        f"\nmemory: {store.nbytes / 2**20:.1f} MiB = {per_interval:.1f} bytes/interval "
        f"(evidence rows: {len(store.evidence_table):,}) {'OK' if per_interval < 40 else 'OVER'}"
    )
    reopen_report(store, report)
    return 0


def reopen_report(store: StateStore, report: Report) -> None:
    """Cache save and reopen (filled in by the cache module when present)."""
    try:
        from w2a_tui.store import cache
    except ImportError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace" / "kernel"
        trace.mkdir(parents=True)
        (trace / "metadata").write_bytes(b"/* CTF 1.8 */")
        # A sparse stream of a plausible size: the cache refuses a payload far bigger
        # than the trace it claims to describe.
        with open(trace / "channel0_0", "wb") as stream:
            stream.truncate(max(4096, 8 * store.n_intervals))
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "xdg")
        t = time.perf_counter()
        path = cache.save_store(trace, store)
        save_s = time.perf_counter() - t
        assert path is not None
        report.row(f"cache save ({path.stat().st_size / 2**20:.0f} MiB)", save_s)
        t = time.perf_counter()
        loaded = cache.load_store(trace)
        load_s = time.perf_counter() - t
        assert loaded is not None
        report.row("cache reopen: load_store (checked, ready to query)", load_s, target_s=1.0)
        loaded.column_summary(0, loaded.start_ns, loaded.end_ns, 200)
        print(f"reopened store: {loaded.nbytes / loaded.n_intervals:.1f} bytes/interval")


if __name__ == "__main__":
    raise SystemExit(main())

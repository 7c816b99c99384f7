"""Speed of the analysis alone (events already decoded, in memory).

    .venv/bin/python benchmarks/analysis_bench.py [--events N] [--trace PATH]

Reports absolute events/s and the ratio to a baseline loop that merely iterates the same
tuples and reads their kind (the floor any Python consumer pays). Without --trace the
events come from a built-in generator with a KVM host's mix (exits/entries dominate,
host-only sched_switch noise, idle waits woken by the LAPIC timer, preemptions); with
--trace PATH they are decoded once from that trace first (not timed).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from w2a_tui.analysis import NEEDED_KINDS, analyze_events
from w2a_tui.events import Batch, Event, EventKind
from w2a_tui.model import TraceMeta

K = EventKind
EXIT_MIX = (48, 30, 32, 1, 56, 52, 31, 10)


def synthetic_events(n_target: int, seed: int = 7) -> list[Event]:
    """About `n_target` plausible host events: 2 VMs x 4 vCPUs on 8 pCPUs plus noise."""
    rng = random.Random(seed)
    events: list[Event] = []

    def add(t: int, cpu: int, kind: EventKind, tid: int, pid: int, comm: str, *p: object) -> None:
        events.append((t, cpu, int(kind), tid, pid, comm, *p))

    vcpus = [
        (100 * (vm + 1), 100 * (vm + 1) + 1 + i, i, vm * 4 + i) for vm in range(2) for i in range(4)
    ]
    clocks = {cpu: 1_000 for cpu in range(9)}
    noise = 8
    while len(events) < n_target:
        for pid, tid, vcpu, cpu in vcpus:
            t = clocks[cpu]
            me = (tid, pid, f"CPU {vcpu}/KVM")
            add(t, cpu, K.SCHED_SWITCH, 0, 0, "swapper", "swapper", 0, 0, me[2], tid)
            for _ in range(rng.randint(5, 40)):
                t += rng.randint(200, 5_000)
                add(t, cpu, K.KVM_ENTRY, *me, vcpu)
                t += rng.randint(500, 20_000)
                add(t, cpu, K.KVM_EXIT, *me, rng.choice(EXIT_MIX), 1, -1)
            t += 300
            add(t, cpu, K.KVM_ENTRY, *me, vcpu)
            t += 2_000
            if rng.random() < 0.8:  # idle: HLT, block, timer wake, inject
                add(t, cpu, K.KVM_EXIT, *me, 12, 1, -1)
                add(t + 500, cpu, K.SCHED_SWITCH, *me, me[2], tid, 1, "swapper", 0)
                t += rng.randint(10_000, 200_000)
                add(t, noise, K.HRTIMER_EXPIRE_ENTRY, 0, 0, "swapper", 1, 2)
                add(t + 1, noise, K.KVM_APIC_ACCEPT_IRQ, 0, 0, "swapper", vcpu, 0xEC, 0, 0)
                add(t + 2, noise, K.SCHED_WAKING, 0, 0, "swapper", me[2], tid, cpu)
                add(t + 3, noise, K.HRTIMER_EXPIRE_EXIT, 0, 0, "swapper", 1)
                t += 2_000
                add(t, cpu, K.SCHED_SWITCH, 0, 0, "swapper", "swapper", 0, 0, me[2], tid)
                add(t + 100, cpu, K.KVM_INJ_VIRQ, *me, 0xEC, 0)
                t += 200
            else:  # preempted by a host thread
                add(t, cpu, K.KVM_EXIT, *me, 1, 1, -1)
                add(t + 500, cpu, K.SCHED_SWITCH, *me, me[2], tid, 0, "stress", 7)
                t += rng.randint(10_000, 100_000)
                add(t, cpu, K.SCHED_SWITCH, 7, 7, "stress", "stress", 7, 0, me[2], tid)
            add(t, cpu, K.KVM_ENTRY, *me, vcpu)
            t += 1_000
            add(t, cpu, K.SCHED_SWITCH, *me, me[2], tid, 0, "swapper", 0)
            clocks[cpu] = t + 10
        # Host-only scheduling noise: cheap for the analysis by design.
        t = clocks[noise]
        for _ in range(40):
            a, b = rng.randint(1000, 1100), rng.randint(1000, 1100)
            t += rng.randint(1_000, 5_000)
            add(t, noise, K.SCHED_SWITCH, a, a, "kw", "kw", a, 1, "kw", b)
            add(t + 5, noise, K.SCHED_WAKING, b, b, "kw", "kw", a, noise)
        clocks[noise] = t
    events.sort(key=lambda e: e[0])
    return events


def decoded_events(path: str) -> tuple[list[Event], TraceMeta]:
    from w2a_tui.trace import open_trace

    source = open_trace(path)
    events: list[Event] = []
    for batch in source.iter_batches(NEEDED_KINDS):
        events.extend(batch)
    return events, source.meta


def batches_of(events: list[Event], size: int = 4096) -> list[Batch]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def baseline(batches: list[Batch]) -> int:
    """Iterate every tuple and read its kind: the least a consumer can do."""
    n = 0
    for batch in batches:
        for ev in batch:
            if ev[2] == 1:
                n += 1
    return n


def best_of(runs: int, fn: object, *args: object) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--trace", help="decode this trace first and time the analysis on it")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.trace:
        events, meta = decoded_events(args.trace)
        origin = args.trace
    else:
        events = synthetic_events(args.events)
        meta = TraceMeta(path="<synthetic>")
        origin = "synthetic KVM host mix"
    batches = batches_of(events)
    n = len(events)
    t_base = best_of(args.runs, baseline, batches)
    t_analysis = best_of(args.runs, lambda: analyze_events(batches, meta))
    result = analyze_events(batches, meta)
    intervals = sum(len(lane) for lane in result.lanes)
    print(f"events: {n:,} ({origin}); lanes: {len(result.lanes)}; intervals: {intervals:,}")
    print(f"baseline loop: {t_base * 1e3:8.1f} ms  {n / t_base / 1e6:6.2f} M events/s")
    print(f"analysis:      {t_analysis * 1e3:8.1f} ms  {n / t_analysis / 1e6:6.2f} M events/s")
    print(f"ratio analysis/baseline: {t_analysis / t_base:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The simulator's traces read back by babeltrace2 (bt2 API): every event with the thread
that ran it, so tests check the ground truth against the trace itself, never against the
simulator's internals."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import bt2

from w2a_tui.sim import generate, get_scenario, truth_paths, with_overrides

TEST_SECONDS = 0.15
# The busiest scenarios are shorter, so that every trace costs about the same to read back.
SCENARIO_SECONDS = {"mixed": 0.05, "halt-poll": 0.06}


@dataclass
class Ev:
    ts: int
    cpu: int
    name: str
    tid: int  # the running thread: the tid context, else derived from sched_switch
    fields: dict[str, Any]


@dataclass
class Readback:
    events: list[Ev] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    discarded: int = 0
    env: dict[str, Any] = field(default_factory=dict)
    has_context: bool = False
    context_mismatches: int = 0


def _value(f: Any) -> Any:
    if isinstance(f, bt2._StringFieldConst):
        return str(f)
    if isinstance(f, bt2._IntegerFieldConst):
        return int(f)
    if isinstance(f, bt2._ArrayFieldConst):  # comm arrays are strings; sequences are lists
        return [_value(item) for item in f]
    return f


@cache
def read_trace(path: Path) -> Readback:
    """Every event via bt2, with the current thread per CPU derived from sched_switch."""
    out = Readback()
    current: dict[int, int] = {}
    for msg in bt2.TraceCollectionMessageIterator(str(path)):
        if type(msg) is bt2._DiscardedEventsMessageConst:
            out.discarded += msg.count
            continue
        if type(msg) is bt2._StreamBeginningMessageConst and not out.env:
            out.env = {k: _value(v) for k, v in msg.stream.trace.environment.items()}
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        cpu = int(ev.packet.context_field["cpu_id"])
        fields = {k: _value(v) for k, v in ev.payload_field.items()}
        name = ev.name
        if name == "lttng_statedump_process_state" and fields["status"] == 6:
            current.setdefault(fields["cpu"], fields["tid"])
        tid = current.get(cpu, -1)
        ctx = ev.common_context_field
        if ctx is not None:
            out.has_context = True
            if tid >= 0 and int(ctx["tid"]) != tid:
                out.context_mismatches += 1
            tid = int(ctx["tid"])  # also before the statedump names the CPU's thread
        out.events.append(Ev(msg.default_clock_snapshot.ns_from_origin, cpu, name, tid, fields))
        out.counts[name] += 1
        if name == "sched_switch":
            current[cpu] = fields["next_tid"]
    return out


class SimTraces:
    """The simulator's small traces of one test session, each generated once (the
    `sim_traces` fixture); `seconds` 0 means the scenario's usual test length."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[tuple[str, float, int], Path] = {}

    def get(self, name: str, seconds: float = 0.0, seed: int = 7) -> Path:
        seconds = seconds or SCENARIO_SECONDS.get(name, TEST_SECONDS)
        key = (name, seconds, seed)
        out = self._made.get(key)
        if out is None:
            out = self._made[key] = self.root / f"{name}-{seconds}-{seed}"
            generate(out, with_overrides(get_scenario(name), seconds=seconds, seed=seed))
        return out


def assert_reads_back(trace: Path) -> None:
    """bt2 reads back every event the simulator wrote: same counts per name, same first
    and last times, the declared lost events, contexts naming the running thread."""
    doc = json.loads(truth_paths(trace)[1].read_text())
    back = read_trace(trace)
    assert dict(back.counts) == doc["counts"]
    assert back.discarded == doc["discarded_events"]
    assert back.events[0].ts == doc["first_ns"]
    assert back.events[-1].ts == doc["last_ns"]
    if not back.discarded:  # a lost sched_switch leaves the derived current thread stale
        assert back.context_mismatches == 0
    assert back.has_context == doc["scenario"]["context"]
    assert back.env["domain"] == "kernel" and back.env["tracer_name"] == "lttng-modules"
    entry = "kvm_entry" if doc["scenario"]["kernel"] == "old" else "kvm_x86_entry"
    assert back.counts[entry] > 100

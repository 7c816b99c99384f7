"""What `export` writes: a time range, some VMs, some vCPUs, some states.

`--from/--to` take seconds from the trace start (`12.3`, `12.3s`, `500ms`, `20us`) or an
absolute timestamp in ns as the CSV writes it (a bare integer at or after the trace start).
Intervals that cross a bound are clipped to it, so the time per state of an export is the
time spent in the range. `--vm` takes a VM name or pid, `--vcpu` vCPU numbers, `--state` state
names (`wait` stands for every `wait_*`); each may be repeated or comma-separated.
"""

from __future__ import annotations

import argparse
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, TypeVar

from w2a_tui.analysis.finish import placeholder_name
from w2a_tui.errors import W2AError
from w2a_tui.model import WAIT_STATES, AnalysisResult, LaneData, State, TraceMeta

_NS_PER: Final = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "µs": 1_000, "ns": 1}
_TIME_RE: Final = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms|us|µs|ns)?\s*$")
# A bare integer below this is never read as absolute ns (no trace starts in its first
# second of clock time, and `--from 5` means 5 s).
_MIN_ABSOLUTE_NS: Final = 1_000_000_000
_RowT = TypeVar("_RowT", bound=tuple[object, ...])


@dataclass(frozen=True, slots=True)
class Selection:
    """A subset of a result; None / empty means everything."""

    start_ns: int | None = None
    end_ns: int | None = None
    vms: tuple[str, ...] = ()
    vcpus: tuple[int, ...] = ()
    states: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_everything(self) -> bool:
        return (
            self.start_ns is None
            and self.end_ns is None
            and not self.vms
            and not self.vcpus
            and not self.states
        )


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """`--from`, `--to`, `--vm`, `--vcpu`, `--state` (identical wherever a command exports)."""
    parser.add_argument(
        "--from",
        dest="time_from",
        metavar="TIME",
        help="start of the range: seconds from the trace start (12.3, 500ms) or absolute ns",
    )
    parser.add_argument(
        "--to", dest="time_to", metavar="TIME", help="end of the range (same forms as --from)"
    )
    parser.add_argument(
        "--vm", action="append", default=[], metavar="NAME|PID", help="only this VM (repeatable)"
    )
    parser.add_argument(
        "--vcpu", action="append", default=[], metavar="N", help="only this vCPU (repeatable)"
    )
    parser.add_argument(
        "--state",
        action="append",
        default=[],
        metavar="STATE",
        help="only intervals in this state (guest, preempted, wait_disk, wait = every wait)",
    )


def parse_time_bound(text: str, meta: TraceMeta, option: str) -> int:
    """An absolute timestamp (ns) from a `--from`/`--to` value; W2AError if unreadable."""
    match = _TIME_RE.match(text)
    if match is None:
        raise W2AError(
            f"{option} {text!r} is not a time: give seconds from the trace start "
            "(12.3, 12.3s, 500ms) or an absolute timestamp in ns."
        )
    number, unit = match.groups()
    if unit is None and "." not in number:
        value = int(number)
        if value >= max(meta.first_ns, _MIN_ABSOLUTE_NS):
            return value
        return meta.first_ns + value * _NS_PER["s"]
    return meta.first_ns + round(float(number) * _NS_PER[unit or "s"])


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _states(names: Iterable[str]) -> frozenset[str]:
    labels = {s.label for s in State}
    chosen: set[str] = set()
    for name in names:
        key = name.lower()
        if key == "wait":
            chosen |= {s.label for s in WAIT_STATES}
        elif key in labels:
            chosen.add(key)
        else:
            raise W2AError(
                f"--state {name!r} is not a state; use one of: wait, {', '.join(sorted(labels))}."
            )
    return frozenset(chosen)


def selection_from_args(args: argparse.Namespace, meta: TraceMeta) -> Selection:
    """The Selection the command line asks for, checked against the trace's time range."""
    start = parse_time_bound(args.time_from, meta, "--from") if args.time_from else None
    end = parse_time_bound(args.time_to, meta, "--to") if args.time_to else None
    if start is not None and end is not None and end <= start:
        raise W2AError(f"--to ({args.time_to}) must be after --from ({args.time_from}).")
    vcpus = []
    for text in _split(args.vcpu):
        if not text.isdigit():
            raise W2AError(f"--vcpu {text!r} is not a vCPU number (0, 1, ...).")
        vcpus.append(int(text))
    return Selection(start, end, tuple(_split(args.vm)), tuple(vcpus), _states(args.state))


def _vm_matches(result: AnalysisResult, wanted: tuple[str, ...]) -> set[int]:
    pids: set[int] = set()
    for text in wanted:
        hits = {
            vm.pid for vm in result.vms if text in (vm.name, str(vm.pid), placeholder_name(vm.pid))
        }
        if not hits:
            known = ", ".join(f"{vm.name} ({vm.pid})" for vm in result.vms)
            raise W2AError(f"--vm {text!r} matches no VM of this trace; it has: {known}.")
        pids |= hits
    return pids


def select_result(result: AnalysisResult, selection: Selection) -> AnalysisResult:
    """The result restricted to the selection's VMs, vCPUs and time range (states are a
    row filter: see `keep_states`). Lanes are clipped, never shifted: a clipped lane
    starts at `start_ns` and ends at `end_ns`. Its exit counts stay the whole lane's."""
    if selection.is_everything:
        return result
    pids = _vm_matches(result, selection.vms) if selection.vms else None
    vcpus = set(selection.vcpus) or None
    lanes = []
    for lane in result.lanes:
        if pids is not None and lane.vm_pid not in pids:
            continue
        if vcpus is not None and lane.vcpu not in vcpus:
            continue
        clipped = clip_lane(lane, selection.start_ns, selection.end_ns)
        if clipped is not None:
            lanes.append(clipped)
    keep = {lane.vm_pid for lane in lanes}
    return AnalysisResult(
        meta=result.meta,
        vms=[vm for vm in result.vms if vm.pid in keep],
        lanes=lanes,
        evidence=result.evidence,
        warnings=list(result.warnings),
    )


def clip_lane(lane: LaneData, start_ns: int | None, end_ns: int | None) -> LaneData | None:
    """The lane's intervals within [start_ns, end_ns), cut at the bounds; None if none."""
    n = len(lane)
    if n == 0:
        return None
    lo = lane.starts[0] if start_ns is None else max(start_ns, lane.starts[0])
    hi = lane.end_ns if end_ns is None else min(end_ns, lane.end_ns)
    if hi <= lo:
        return None
    first = max(bisect_right(lane.starts, lo) - 1, 0)
    stop = bisect_left(lane.starts, hi)
    out = LaneData(lane.vm_pid, lane.vcpu, lane.tid, lane.comm, end_ns=hi)
    out.starts = lane.starts[first:stop]
    out.starts[0] = lo
    out.states = lane.states[first:stop]
    out.exit_reasons = lane.exit_reasons[first:stop]
    out.evidence = lane.evidence[first:stop]
    out.exit_counts = dict(lane.exit_counts)
    return out


def keep_states(rows: Iterable[_RowT], states: frozenset[str]) -> Iterator[_RowT]:
    """Export rows whose `state` cell (the 7th column) is one of `states` (all if empty)."""
    if not states:
        yield from rows
        return
    for row in rows:
        if row[6] in states:
            yield row

"""`export --format perfetto`: Chrome Trace Event JSON, which Perfetto UI (ui.perfetto.dev)
and chrome://tracing open.

- one process per VM (`pid` = the QEMU pid), one thread track per vCPU (`tid` = its thread);
- one complete event (`ph: X`) per interval: name = the state, `ts`/`dur` in microseconds
  from the trace start with ns precision (three decimals), `args` = the CSV's cells that are
  not empty (`reason`, `source`, `vector`, `waker_tid`/`waker_comm`, `exit_reason` and its
  name, `preemptor`), plus the exact `start_ns`/`end_ns`;
- a flow arrow (v2 flow events: `bind_id`, `flow_out`/`flow_in`) from the thread that woke
  a wait to the vCPU where the wait ends: the waker gets a 1 ns `wakes ...` slice ending at
  the wake-up on its own track (in its VM's process when it is one of the VM's threads,
  else in a `host threads` process), the arrow lands on the interval that the wake-up
  starts. The slice sits before the wake-up so that every reader meets the flow's start
  before its end.

pCPU tracks (who ran where) are not written yet: the store has no pCPU lanes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from w2a_tui.analysis.rows import Row, export_rows
from w2a_tui.analysis.tables import exit_reason_name
from w2a_tui.errors import W2AError
from w2a_tui.export.select import Selection, select_result
from w2a_tui.model import AnalysisResult, Evidence, State, VmInfo
from w2a_tui.store import StateStore

# The process that holds host threads (wakers outside any VM); unidentified VMs (negative
# pids) go above it. Real pids stay below 2**22 on Linux.
HOST_PID: Final = 2**30
_WAITS: Final = frozenset(s.label for s in State if s.is_wait)


def us(ns: int) -> str:
    """`ns` as microseconds with exactly three decimals (exact: integer arithmetic)."""
    sign = "-" if ns < 0 else ""
    q, r = divmod(abs(ns), 1000)
    return f"{sign}{q}.{r:03d}"


def track_pid(vm_pid: int) -> int:
    """A positive process id for the JSON (an unidentified VM has a negative pid)."""
    return vm_pid if vm_pid > 0 else HOST_PID - vm_pid


@dataclass(frozen=True, slots=True)
class PerfettoSummary:
    intervals: int
    flows: int


def write_perfetto(
    result: AnalysisResult, out: IO[str], selection: Selection | None = None
) -> PerfettoSummary:
    """Write the (selected) result as a JSON object `{"traceEvents": [...], ...}`."""
    selection = selection or Selection()
    chosen = select_result(result, selection)
    origin = result.meta.first_ns
    vms = {vm.pid: vm for vm in chosen.vms}
    thread_pid = _thread_owners(chosen)
    out.write('{"displayTimeUnit": "ns",\n"otherData": ')
    out.write(
        json.dumps(
            {
                "producer": "w2a-tui",
                "host": result.meta.hostname,
                "trace": result.meta.path,
                "origin_ns": origin,
                "note": "ts/dur in us from origin_ns; args carry exact start_ns/end_ns",
            }
        )
    )
    out.write(',\n"traceEvents": [\n')
    writer = _EventWriter(out)
    for pid, vm in sorted(vms.items()):
        label = f"{vm.name} [{pid}]"  # a VM the trace never names keeps its placeholder
        writer.meta("process_name", track_pid(pid), track_pid(pid), {"name": label})
        writer.meta("process_sort_index", track_pid(pid), track_pid(pid), {"sort_index": pid})
    for lane in chosen.lanes:
        pid = track_pid(lane.vm_pid)
        writer.meta("thread_name", pid, lane.tid, {"name": f"vCPU {lane.vcpu} ({lane.comm})"})
        writer.meta("thread_sort_index", pid, lane.tid, {"sort_index": lane.vcpu})
    pairs = [
        (row, eid)
        for row, eid in zip(export_rows(chosen), _evidence_ids(chosen), strict=True)
        if not selection.states or row[6] in selection.states
    ]
    rows = [row for row, _ in pairs]
    evidence = [result.evidence[eid] if eid >= 0 else None for _, eid in pairs]
    del pairs
    woken = _woken(rows)
    targets: dict[int, int] = {}
    named: set[tuple[int, int]] = set()
    # The wakers' slices first: a reader that sorts by time stably meets them first anyway.
    for flow_id, (wait, target) in enumerate(woken, start=1):
        vm_pid, _, vcpu, _, _, woke, state, _, _, waker, waker_comm, _, _ = rows[wait]
        ev = evidence[wait]
        context = ev.waker_context if ev is not None and ev.waker_context != "task" else ""
        waker_tid = waker if waker is not None else -1
        pid = thread_pid.get(waker_tid, HOST_PID)
        if pid == HOST_PID and not any(p == HOST_PID for p, _ in named):
            writer.meta("process_name", HOST_PID, HOST_PID, {"name": "host threads"})
        if (pid, waker_tid) not in named:
            named.add((pid, waker_tid))
            writer.meta("thread_name", pid, waker_tid, {"name": f"{waker_comm} ({waker_tid})"})
        writer.complete(
            f"wakes vCPU {vcpu}" + (f" ({context})" if context else ""),
            "wakeup",
            pid,
            waker_tid,
            woke - 1 - origin,
            1,
            {"vm_pid": vm_pid, "vcpu": vcpu, "ends": state, "woke_at_ns": woke},
            bind=(flow_id, True),
        )
        targets[target] = flow_id
    for index, row in enumerate(rows):
        vm_pid, _, _, tid, start, end, state, *_ = row
        flow = targets.get(index)
        writer.complete(
            state,
            "vcpu",
            track_pid(vm_pid),
            tid,
            start - origin,
            end - start,
            _args(row, vms.get(vm_pid), evidence[index]),
            bind=None if flow is None else (flow, False),
        )
    out.write("\n]}\n")
    return PerfettoSummary(intervals=len(rows), flows=len(woken))


def _woken(rows: list[Row]) -> list[tuple[int, int]]:
    """(wait row, row the wake-up starts) for every wait that a known thread ended."""
    pairs = []
    for i in range(len(rows) - 1):
        pid, _, vcpu, _, _, end, state, _, _, waker, *_ = rows[i]
        next_pid, _, next_vcpu, _, next_start, *_ = rows[i + 1]
        if (
            state in _WAITS
            and waker is not None
            and (next_pid, next_vcpu) == (pid, vcpu)
            and next_start == end
        ):
            pairs.append((i, i + 1))
    return pairs


def _thread_owners(result: AnalysisResult) -> dict[int, int]:
    """tid -> JSON pid of the VM it belongs to (vCPU, main, I/O and vhost threads)."""
    owners: dict[int, int] = {}
    for vm in result.vms:
        for tid in (vm.main_tid, *vm.io_tids, *vm.vhost_tids):
            if tid >= 0:
                owners[tid] = track_pid(vm.pid)
    for lane in result.lanes:
        owners[lane.tid] = track_pid(lane.vm_pid)
    return owners


def _evidence_ids(result: AnalysisResult) -> Iterator[int]:
    """Each interval's evidence id, in export_rows' order (lanes by vm pid, vcpu)."""
    for lane in sorted(result.lanes, key=lambda x: (x.vm_pid, x.vcpu)):
        yield from lane.evidence


def _args(row: Row, vm: VmInfo | None, ev: Evidence | None) -> dict[str, Any]:
    """The row's non-empty cells, named for a reader of the trace, and for waits the
    context of the wake-up and the thread that delivered the interrupt (rule 2)."""
    _, _, vcpu, _, start, end, state, source, vector, waker, waker_comm, exit_reason, nxt = row
    args: dict[str, Any] = {"vcpu": vcpu, "start_ns": start, "end_ns": end}
    if state in _WAITS:
        args["reason"] = state.removeprefix("wait_")
    if source:
        args["source"] = source
    if vector is not None:
        args["vector"] = vector
        args["vector_hex"] = f"0x{vector:x}"
    if waker is not None:
        args["waker_tid"] = waker
        args["waker_comm"] = waker_comm
    if exit_reason is not None:
        args["exit_reason"] = exit_reason
        name = exit_reason_name(vm.isa if vm else -1, exit_reason)
        if name:
            args["exit_name"] = name
    if nxt:
        args["preemptor"] = nxt
    if ev is not None and state in _WAITS:
        if waker is not None and ev.waker_context:
            args["waker_context"] = ev.waker_context
        if ev.emitter_tid >= 0:
            args["delivered_by"] = f"{ev.emitter_comm} ({ev.emitter_tid})"
        elif ev.emitter_context:
            args["delivered_by"] = ev.emitter_context
    return args


class _EventWriter:
    """Streams events into the open `traceEvents` array, comma-separated."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._first = True

    def _emit(self, text: str) -> None:
        self._out.write(text if self._first else ",\n" + text)
        self._first = False

    def meta(self, name: str, pid: int, tid: int, args: dict[str, Any]) -> None:
        event = {"ph": "M", "name": name, "pid": pid, "tid": tid, "args": args}
        self._emit(json.dumps(event, ensure_ascii=False))

    def complete(
        self,
        name: str,
        cat: str,
        pid: int,
        tid: int,
        ts_ns: int,
        dur_ns: int,
        args: dict[str, Any],
        *,
        bind: tuple[int, bool] | None = None,
    ) -> None:
        flow = ""
        if bind is not None:
            flow_id, outgoing = bind
            flow = f', "bind_id": "0x{flow_id:x}", "{"flow_out" if outgoing else "flow_in"}": true'
        self._emit(
            f'{{"ph": "X", "name": {json.dumps(name)}, "cat": "{cat}", "pid": {pid}, '
            f'"tid": {tid}, "ts": {us(ts_ns)}, "dur": {us(dur_ns)}{flow}, '
            f'"args": {json.dumps(args, ensure_ascii=False)}}}'
        )


def export_selection(
    result: AnalysisResult | StateStore,
    path: str | os.PathLike[str],
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    vm_pids: tuple[int, ...] = (),
) -> PerfettoSummary:
    """What the TUI calls to export its current selection (time range, optionally some
    VMs by pid) as a Perfetto/Chrome JSON file at `path`; `result` may be the TUI's store.
    W2AError (one sentence) if it cannot write."""
    if isinstance(result, StateStore):
        result = result.to_result()
    selection = Selection(start_ns, end_ns, tuple(str(p) for p in vm_pids))
    target = Path(path)
    try:
        with target.open("w", encoding="utf-8") as handle:
            return write_perfetto(result, handle, selection)
    except OSError as err:
        raise W2AError(f"cannot write {path}: {err.strerror or err}.") from err


def export_range_beside(
    store: StateStore, folder: str | os.PathLike[str], start_ns: int, end_ns: int
) -> tuple[Path, PerfettoSummary]:
    """The TUI's `e`: the intervals of `[start_ns, end_ns)` as a Perfetto file in `folder`,
    under a new name (`w2a-<trace>-<from>s-<to>s.json`, numbered if taken: an existing file
    is never overwritten). Returns where it wrote and what; W2AError if it cannot."""
    base = store.start_ns
    name = Path(store.meta.path).name or "trace"
    stem = f"w2a-{name}-{(start_ns - base) / 1e9:.6f}s-{(end_ns - base) / 1e9:.6f}s"
    selection = Selection(start_ns, end_ns)
    result = store.to_result()
    for n in range(1000):
        target = Path(folder) / (f"{stem}.json" if n == 0 else f"{stem}-{n}.json")
        try:
            handle = target.open("x", encoding="utf-8")
        except FileExistsError:
            continue
        except OSError as err:
            raise W2AError(f"cannot write {target}: {err.strerror or err}.") from err
        try:
            with handle:
                return target, write_perfetto(result, handle, selection)
        except OSError as err:
            raise W2AError(f"cannot write {target}: {err.strerror or err}.") from err
    raise W2AError(f"{folder} already holds 1000 exports of this range: clean it up first.")


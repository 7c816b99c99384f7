"""The contract's export columns as numpy arrays, for typed formats (Parquet).

Same cells as `analysis.rows.export_rows` (the CSV), built per lane with array operations
instead of one Python tuple per interval. A cell that the CSV leaves empty is a False in
the column's `valid` mask (strings: index 0 of their dictionary, the empty string).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.analysis.finish import placeholder_name
from w2a_tui.model import WAIT_STATES, AnalysisResult, Source, State
from w2a_tui.store.evidence_table import EvidenceTable

STATE_LABELS: Final = tuple(s.label for s in State)  # index = State value
SOURCE_LABELS: Final = tuple(s.label for s in Source)  # index = Source value; 0 is empty

_WAITS: Final = np.array(sorted(int(s) for s in WAIT_STATES), dtype=np.uint8)
_SHOWS_EXIT: Final = np.array(
    sorted([int(State.HYPERVISOR), int(State.PREEMPTED), int(State.BLOCKED), *map(int, _WAITS)]),
    dtype=np.uint8,
)
_SHOWS_WAKER: Final = np.array(
    sorted([int(State.BLOCKED), int(State.READY), *map(int, _WAITS)]), dtype=np.uint8
)

Array = npt.NDArray[Any]


@dataclass(slots=True)
class ExportColumns:
    """One entry per interval, in the CSV's row order. `strings` is the dictionary of the
    comm columns (`*_comm` hold indexes into it, 0 = empty); `vm_names` of `vm_name`."""

    vm_pid: Array
    vm_name: Array  # index into vm_names
    vcpu: Array
    tid: Array
    start_ns: Array
    end_ns: Array
    state: Array  # State value = index into STATE_LABELS
    source: Array  # Source value = index into SOURCE_LABELS (0 = empty)
    vector: Array
    vector_valid: Array
    waker_tid: Array
    waker_valid: Array
    waker_comm: Array  # index into strings
    exit_reason: Array
    exit_valid: Array
    next_comm: Array  # index into strings
    strings: list[str]
    vm_names: list[str]

    def __len__(self) -> int:
        return len(self.start_ns)


def export_columns(result: AnalysisResult) -> ExportColumns:
    """Every interval of `result` as columns (lanes sorted by vm pid, vcpu)."""
    table = EvidenceTable.from_list(result.evidence)
    ev = table.columns()
    ev_source = ev["source"].astype(np.uint8)
    ev_vector = ev["vector"].astype(np.int64)
    ev_waker = ev["waker_tid"].astype(np.int64)
    ev_waker_comm = ev["waker_comm"].astype(np.int64)
    ev_next_comm = ev["next_comm"].astype(np.int64)
    vm_names = [""]
    name_index = {}
    for vm in result.vms:
        name = "" if vm.name == placeholder_name(vm.pid) else vm.name
        if name not in vm_names:
            vm_names.append(name)
        name_index[vm.pid] = vm_names.index(name)
    parts: dict[str, list[Array]] = {key: [] for key in ExportColumns.__slots__[:-2]}
    for lane in sorted(result.lanes, key=lambda x: (x.vm_pid, x.vcpu)):
        n = len(lane)
        if n == 0:
            continue
        starts = np.asarray(lane.starts).astype(np.int64)
        states = np.asarray(lane.states).astype(np.uint8)
        exits = np.asarray(lane.exit_reasons).astype(np.int64)
        eids = np.asarray(lane.evidence).astype(np.int64)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1] = lane.end_ns
        has_ev = eids >= 0
        safe = np.where(has_ev, eids, 0)
        is_wait = np.isin(states, _WAITS)
        shows_waker = np.isin(states, _SHOWS_WAKER)

        source = np.where(is_wait, int(Source.NONE), int(Source.EMPTY)).astype(np.uint8)
        if len(table):
            source = np.where(is_wait & has_ev, ev_source[safe], source).astype(np.uint8)
        vector = _pick(ev_vector, safe, -1, is_wait & has_ev)
        waker = _pick(ev_waker, safe, -1, shows_waker & has_ev)
        waker_comm = _pick(ev_waker_comm, safe, 0, shows_waker & has_ev)
        waker_valid = waker >= 0
        preempted = states == int(State.PREEMPTED)
        next_comm = _pick(ev_next_comm, safe, 0, preempted & has_ev)
        exit_valid = np.isin(states, _SHOWS_EXIT) & (exits >= 0)
        parts["vm_pid"].append(np.full(n, lane.vm_pid, np.int64))
        parts["vm_name"].append(np.full(n, name_index.get(lane.vm_pid, 0), np.int32))
        parts["vcpu"].append(np.full(n, lane.vcpu, np.int64))
        parts["tid"].append(np.full(n, lane.tid, np.int64))
        parts["start_ns"].append(starts)
        parts["end_ns"].append(ends)
        parts["state"].append(states)
        parts["source"].append(source)
        parts["vector"].append(np.where(vector >= 0, vector, 0))
        parts["vector_valid"].append(vector >= 0)
        parts["waker_tid"].append(np.where(waker_valid, waker, 0))
        parts["waker_valid"].append(waker_valid)
        parts["waker_comm"].append(np.where(waker_valid, waker_comm, 0).astype(np.int32))
        parts["exit_reason"].append(np.where(exit_valid, exits, 0))
        parts["exit_valid"].append(exit_valid)
        parts["next_comm"].append(next_comm.astype(np.int32))
    dtypes: dict[str, Any] = {"vector_valid": np.bool_, "waker_valid": np.bool_}
    dtypes |= {"exit_valid": np.bool_, "state": np.uint8, "source": np.uint8}
    dtypes |= {"vm_name": np.int32, "waker_comm": np.int32, "next_comm": np.int32}
    arrays = {
        key: np.concatenate(chunks) if chunks else np.zeros(0, dtypes.get(key, np.int64))
        for key, chunks in parts.items()
    }
    return ExportColumns(**arrays, strings=list(table.strings) or [""], vm_names=vm_names)


def _pick(column: Array, rows: Array, default: int, mask: Array) -> Array:
    """column[rows] where mask, else default (int64); `column` may be empty."""
    if len(column) == 0:
        return np.full(len(mask), default, dtype=np.int64)
    return np.where(mask, column[rows], default).astype(np.int64)

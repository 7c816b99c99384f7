"""One trace's fleet rows, and the traces behind the paths a user gives.

A row per (host, trace, VM, vCPU): the figures of `analyze --json` for that vCPU (time per
state, wait time per reason, wait count and percentiles, top preemptors) and its VM's
verdict. A trace that cannot be analysed is one row with `error` set and no figures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from w2a_tui.errors import W2AError
from w2a_tui.model import WAIT_STATES, State

TOP_PREEMPTORS: Final = 3
# States that are not waits (the waits are the `wait_<reason>_ns` columns).
RUN_STATES: Final = tuple(s.label for s in State if s is not State.UNKNOWN and not s.is_wait)
REASONS: Final = tuple(s.label.removeprefix("wait_") for s in sorted(WAIT_STATES, key=int))
FLEET_COLUMNS: Final = (
    "host",
    "trace",
    "vm_pid",
    "vm_name",
    "vcpu",
    "tid",
    "span_ns",
    *(f"time_{s}_ns" for s in RUN_STATES),
    "wait_ns",
    *(f"wait_{r}_ns" for r in REASONS),
    "wait_count",
    "wait_p50_ns",
    "wait_p99_ns",
    "wait_max_ns",
    "top_preemptor",
    "top_preemptors",
    "verdict",
    "error",
)
# Folders holding a single host's trace: a CTF trace, or an LTTng session (kernel/ under it).
_MAX_DEPTH: Final = 4

Row = dict[str, Any]


def trace_units(path: str | os.PathLike[str]) -> list[Path]:
    """The traces a user-given path stands for: itself when it is a trace or an LTTng
    session folder, else every trace found in its subfolders (a folder of hosts).
    A path with none is returned as is (its analysis then fails with the reason)."""
    root = Path(path).expanduser()
    found = _units(root, 0)
    return found or [root]


def _units(folder: Path, depth: int) -> list[Path]:
    if not folder.is_dir():
        return []
    if (folder / "metadata").is_file() or (folder / "kernel").is_dir():
        return [folder]
    if depth >= _MAX_DEPTH:
        return []
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    return [unit for child in children for unit in _units(child, depth + 1)]


def error_row(trace: str, message: str) -> Row:
    row: Row = dict.fromkeys(FLEET_COLUMNS)
    row.update(host=Path(trace).name, trace=trace, error=message)
    return row


def trace_rows(trace: str, use_cache: bool = True) -> list[Row]:
    """The rows of one trace (run on a Dask worker): never raises for a bad trace."""
    try:
        return _rows(trace, use_cache)
    except W2AError as err:
        return [error_row(trace, err.message)]
    except Exception as err:  # a bug must not end a fleet run: the row says what it was
        return [error_row(trace, f"{type(err).__name__}: {err}")]


def _rows(trace: str, use_cache: bool) -> list[Row]:
    from w2a_tui.analysis.totals import compute_totals
    from w2a_tui.pipeline import load_result

    result = load_result(trace, use_cache=use_cache)
    totals = compute_totals(result, top=TOP_PREEMPTORS)
    host = result.meta.hostname or Path(trace).name
    rows = []
    for vm in totals.vms:
        for v in vm.vcpus:
            waits = {r: v.wait_by_reason.get(r, 0) for r in REASONS}
            row: Row = {
                "host": host,
                "trace": trace,
                "vm_pid": vm.pid,
                "vm_name": vm.name,
                "vcpu": v.vcpu,
                "tid": v.tid,
                "span_ns": v.span_ns,
                **{f"time_{s}_ns": v.time_by_state.get(s, 0) for s in RUN_STATES},
                "wait_ns": sum(waits.values()),
                **{f"wait_{r}_ns": ns for r, ns in waits.items()},
                "wait_count": v.waits.count,
                "wait_p50_ns": v.waits.p50_ns,
                "wait_p99_ns": v.waits.p99_ns,
                "wait_max_ns": v.waits.max_ns,
                "top_preemptor": v.top_preemptors[0].comm if v.top_preemptors else None,
                "top_preemptors": [
                    {"comm": p.comm, "tid": p.tid, "time_ns": p.time_ns, "count": p.count}
                    for p in v.top_preemptors
                ],
                "verdict": vm.verdict,
                "error": None,
            }
            rows.append(row)
    return rows


def fleet_schema() -> Any:
    """The Arrow schema of the fleet table (pyarrow imported here, on the client)."""
    from w2a_tui.export.parquet import require_pyarrow

    pa = require_pyarrow()
    preemptor = pa.struct(
        [("comm", pa.string()), ("tid", pa.int64()), ("time_ns", pa.int64()), ("count", pa.int64())]
    )
    types = {
        "host": pa.string(),
        "trace": pa.string(),
        "vm_name": pa.string(),
        "top_preemptor": pa.string(),
        "top_preemptors": pa.list_(preemptor),
        "verdict": pa.string(),
        "error": pa.string(),
    }
    return pa.schema([(name, types.get(name, pa.int64())) for name in FLEET_COLUMNS])


def write_fleet(rows: list[Row], path: str | os.PathLike[str]) -> None:
    """Rows sorted by host, trace, VM, vCPU, written as Parquet."""
    from w2a_tui.export.parquet import require_pyarrow

    pa = require_pyarrow()
    ordered = sorted(
        rows, key=lambda r: (r["host"] or "", r["trace"], r["vm_pid"] or 0, r["vcpu"] or 0)
    )
    table = pa.Table.from_pylist(ordered, schema=fleet_schema())
    try:
        pa.parquet.write_table(table, os.fspath(path), compression="zstd")
    except OSError as err:
        raise W2AError(f"cannot write {path}: {err}; choose another -o path.") from err

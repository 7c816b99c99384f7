"""`export --format parquet`: the contract's columns, typed, plus the host.

Types: `host`, `vm_name`, `state`, `source`, `waker_comm`, `next_comm` are dictionary-encoded
strings (categoricals in pandas/Polars); pids, tids, vCPUs and times are int64 (ns since the
clock origin, as in the CSV); `vector`, `waker_tid`, `exit_reason` are nullable int64; every
cell the CSV leaves empty is null. pyarrow is the optional `w2a-tui[parquet]` extra.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from w2a_tui.analysis.rows import EXPORT_COLUMNS
from w2a_tui.errors import EXIT_FAILURE, W2AError
from w2a_tui.export.columns import SOURCE_LABELS, STATE_LABELS, export_columns
from w2a_tui.model import AnalysisResult

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_COLUMNS = ("host", *EXPORT_COLUMNS)


def require_pyarrow() -> Any:
    """The pyarrow module, or one sentence on how to install it."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as err:
        raise W2AError(
            "Parquet needs pyarrow: pip install 'w2a-tui[parquet]' (or pip install pyarrow).",
            EXIT_FAILURE,
        ) from err
    return pyarrow


def _strings(pa: Any, indices: np.ndarray, dictionary: list[str]) -> pa.Array:
    """Dictionary-encoded strings; index 0 (the empty string) becomes null."""
    idx = pa.array(indices.astype(np.int32), mask=indices == 0)
    return pa.DictionaryArray.from_arrays(idx, pa.array(dictionary, pa.string()))


def _ints(pa: Any, values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~valid
    return pa.array(values.astype(np.int64), type=pa.int64(), mask=mask)


def result_table(
    result: AnalysisResult, host: str, states: frozenset[str] = frozenset()
) -> pa.Table:
    """The export of `result` as an Arrow table (PARQUET_COLUMNS, CSV row order), only the
    intervals in `states` when it is not empty."""
    pa = require_pyarrow()
    c = export_columns(result)
    n = len(c)
    host_col = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, np.int32)), pa.array([host], pa.string())
    )
    state = pa.DictionaryArray.from_arrays(
        pa.array(c.state.astype(np.int8)), pa.array(list(STATE_LABELS), pa.string())
    )
    columns = {
        "host": host_col,
        "vm_pid": _ints(pa, c.vm_pid),
        "vm_name": _strings(pa, c.vm_name, c.vm_names),
        "vcpu": _ints(pa, c.vcpu),
        "tid": _ints(pa, c.tid),
        "start_ns": _ints(pa, c.start_ns),
        "end_ns": _ints(pa, c.end_ns),
        "state": state,
        "source": _strings(pa, c.source.astype(np.int32), list(SOURCE_LABELS)),
        "vector": _ints(pa, c.vector, c.vector_valid),
        "waker_tid": _ints(pa, c.waker_tid, c.waker_valid),
        "waker_comm": _strings(pa, c.waker_comm, c.strings),
        "exit_reason": _ints(pa, c.exit_reason, c.exit_valid),
        "next_comm": _strings(pa, c.next_comm, c.strings),
    }
    table = pa.table(columns)
    if states:
        codes = [STATE_LABELS.index(label) for label in states]
        table = table.filter(pa.array(np.isin(c.state, codes)))
    return table


def host_of(result: AnalysisResult) -> str:
    """The host a trace was recorded on (its `hostname`), else its folder's name."""
    return result.meta.hostname or os.path.basename(os.path.normpath(result.meta.path))


def write_parquet(
    result: AnalysisResult, path: str | os.PathLike[str], *, states: frozenset[str] = frozenset()
) -> int:
    """Write the export of `result` to `path`; returns the number of rows."""
    pa = require_pyarrow()
    table = result_table(result, host_of(result), states)
    try:
        pa.parquet.write_table(table, os.fspath(path), compression="zstd")
    except OSError as err:
        raise W2AError(f"cannot write {path}: {err}; choose another -o path.") from err
    return int(table.num_rows)

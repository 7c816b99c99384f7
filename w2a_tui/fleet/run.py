"""The fleet's traces on Dask: one task per trace, each analysed once (through its cache,
on the worker that runs the task: with a remote scheduler, the workers must see the paths),
results gathered as they finish with a `done/total` progress line."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from w2a_tui.errors import EXIT_FAILURE, W2AError
from w2a_tui.fleet.table import Row, error_row, trace_rows

Progress = Callable[[int, int, str], None]


@dataclass(slots=True)
class FleetRun:
    rows: list[Row]
    traces: int
    failed: list[str]
    workers: int
    seconds: float  # from the first task submitted to the last result


def _dask() -> Any:
    try:
        from dask import distributed
    except ImportError as err:
        raise W2AError(
            "fleet needs Dask: pip install 'w2a-tui[fleet]' (dask[distributed] and pyarrow).",
            EXIT_FAILURE,
        ) from err
    return distributed


def run_fleet(
    traces: Sequence[str],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> FleetRun:
    """Analyse `traces` on a Dask cluster: the one at `scheduler`, else a local cluster of
    `workers` processes (one thread each: the analysis is pure Python, the GIL is per
    process)."""
    distributed = _dask()
    for name in ("distributed", "distributed.worker", "distributed.nanny", "bokeh", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler:
            client = distributed.Client(scheduler, timeout="20s")
        else:
            n = workers or os.cpu_count() or 1
            cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            client = distributed.Client(cluster)
    except (OSError, ValueError, TypeError) as err:
        if scheduler:
            raise W2AError(
                f"cannot reach the Dask scheduler at {scheduler} ({err}); give its address "
                "as tcp://HOST:PORT (dask scheduler prints it)."
            ) from err
        raise W2AError(f"cannot start a local Dask cluster ({err}).", EXIT_FAILURE) from err
    try:
        return _gather(client, distributed, traces, use_cache, progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _gather(
    client: Any,
    distributed: Any,
    traces: Sequence[str],
    use_cache: bool,
    progress: Progress | None,
) -> FleetRun:
    n_workers = len(client.scheduler_info().get("workers", {}))
    client.run(_warm_up)  # imports done before the clock starts, on every worker at once
    # Largest first: the biggest trace must not start last and leave the others idle.
    traces = sorted(traces, key=trace_size, reverse=True)
    started = time.perf_counter()
    futures = client.map(trace_rows, traces, use_cache=use_cache, pure=False)
    trace_of = {future.key: trace for future, trace in zip(futures, traces, strict=True)}
    rows: list[Row] = []
    failed: list[str] = []
    for done, future in enumerate(distributed.as_completed(futures), start=1):
        trace = trace_of[future.key]
        try:
            got: list[Row] = future.result()
        except Exception as err:  # a worker died: the trace is a row, not the end of the run
            got = [error_row(trace, f"{type(err).__name__}: {err}")]
        if any(r["error"] for r in got):
            failed.append(trace)
        rows.extend(got)
        if progress is not None:
            progress(done, len(futures), trace)
    seconds = time.perf_counter() - started
    return FleetRun(rows, len(futures), failed, n_workers, seconds)


def _warm_up() -> None:
    """Load the analysis modules on a worker (numpy, the reader, the state machine)."""
    import w2a_tui.analysis.machine
    import w2a_tui.analysis.totals
    import w2a_tui.pipeline
    import w2a_tui.trace  # noqa: F401


def trace_size(trace: str) -> int:
    """Bytes under a trace folder (0 when this machine cannot see it: a remote path)."""
    total = 0
    for folder, _, files in os.walk(trace):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total

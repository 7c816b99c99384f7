"""Fixed CPU costs the commands avoid: a BLAS thread pool nobody uses (the command line
must not load numpy before it has told OpenBLAS to use one thread), young-generation
garbage collections every 700 allocations while a trace is decoded and analysed, and the
interpreter's teardown after `analyze`, `export` and `info` (same output, same status,
atexit handlers still run)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.support.paths import SAMPLE_TRACE
from w2a_tui import single_threaded_blas
from w2a_tui.analysis.totals import percentiles
from w2a_tui.pipeline import ANALYSIS_GC_THRESHOLD, analyze_trace, fewer_collections


def test_cli_import_does_not_load_numpy() -> None:
    """Nor the package: its __init__ sets OpenBLAS's threads before any numpy import."""
    code = "import sys, w2a_tui.cli; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_one_blas_thread_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    single_threaded_blas()
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_numpy_starts_no_thread_after_it() -> None:
    """A process that imports numpy after w2a_tui stays single-threaded (OpenBLAS would
    start one thread per core of this machine)."""
    code = (
        "import os, w2a_tui.store; import numpy;"  # any module of ours, then numpy
        "print(len(os.listdir('/proc/self/task')))"
    )
    unset = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "1"


def test_fewer_collections_while_analysing_then_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int, int]] = []
    import w2a_tui.trace as trace

    real = trace.read_trace

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.get_threshold())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trace, "read_trace", spy)
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        result = analyze_trace(SAMPLE_TRACE, workers=0)
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
    assert result.lanes
    assert seen == [(ANALYSIS_GC_THRESHOLD, 10, 10)]


def test_fewer_collections_keeps_a_callers_choice() -> None:
    before = gc.get_threshold()
    try:
        for mine in ((0, 10, 10), (50_000, 5, 5)):  # 0: collection off
            gc.set_threshold(*mine)
            with fewer_collections():
                assert gc.get_threshold() == mine
            assert gc.get_threshold() == mine
    finally:
        gc.set_threshold(*before)


def _program(prelude: str, argv: list[str] | None) -> subprocess.CompletedProcess[str]:
    """Run `main` in a fresh interpreter: as the program (argv None, from sys.argv) or
    called with `argv` (no quick exit), after `prelude`."""
    call = "main()" if argv is None else f"main({argv!r})"
    program = ["w2a-tui", "analyze", "--no-cache", "--workers", "0", str(SAMPLE_TRACE)]
    code = (
        f"import sys\n{prelude}\nsys.argv = {program!r}\n"
        f"from w2a_tui.cli import main\nsys.exit({call})\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_quick_exit_keeps_output_status_and_atexit_handlers() -> None:
    prelude = "import atexit; atexit.register(lambda: print('atexit handler ran'))"
    quick = _program(prelude, None)
    args = ["analyze", "--no-cache", "--workers", "0", str(SAMPLE_TRACE)]
    usual = _program(prelude, args)
    assert quick.returncode == usual.returncode == 0
    assert quick.stdout.endswith("atexit handler ran\n")
    assert quick.stdout == usual.stdout
    assert "VM qemu:db01" in quick.stdout


def test_quick_exit_waits_for_a_running_thread() -> None:
    """A thread still running when the command ends: the usual exit joins it. It ends
    only when that exit begins (threading's own exit hooks run before the join), so it is
    alive whenever the command ends, however loaded the machine."""
    prelude = (
        "import threading\n"
        "release = threading.Event()\n"
        "threading._register_atexit(release.set)\n"
        "threading.Thread(target=lambda: (release.wait(), print('thread done'))).start()"
    )
    out = _program(prelude, None)
    assert out.returncode == 0
    assert out.stdout.endswith("thread done\n")


def test_quick_exit_keeps_the_bad_input_status(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "nothing-here")
    out = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "analyze", "--no-cache", missing],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("w2a-tui: ") and "Traceback" not in out.stderr


def test_percentiles_are_numpys_to_the_last_bit() -> None:
    """totals.percentiles replaces np.percentile (linear) without importing numpy.ma: the
    same floats, on every size from 1 and on values from tiny to 2**60 ns."""
    rng = np.random.default_rng(13)
    qs = (50, 90, 99)
    for n in [*range(1, 60), 99, 100, 101, 1000, 4097]:
        for high in (3, 1_000, 10**7, 2**40, 2**60):
            values = rng.integers(-(high // 4), high, size=n, dtype=np.int64)
            expected = [float(p) for p in np.percentile(values, qs)]
            assert percentiles(values, qs) == expected, (n, high)
            unsigned = np.abs(values).astype(np.uint64)
            expected = [float(p) for p in np.percentile(unsigned, qs)]
            assert percentiles(unsigned, qs) == expected, (n, high)
    floats = rng.random(17) * 1e6
    assert percentiles(floats, qs) == [float(p) for p in np.percentile(floats, qs)]


def test_gap_log_packs_rows_as_it_reads_them() -> None:
    """GapLog.append packs a gap's ints with struct (not array.extend): what finish()
    reads back is every field as it was, negative and 62-bit values included."""
    from w2a_tui.analysis.tracks import Gap, GapLog

    gaps = []
    for i in range(3):
        gap = Gap(7 + i, is_wait=bool(i % 2))
        gap.ready_index, gap.wake_ts, gap.waker_tid = -1, 2**62 + i, 4100 + i
        gap.waker_reason, gap.acc_vec, gap.acc_tid, gap.acc_class = 3, 0xEC, -1, i
        gap.inj_vec, gap.waker_cpu, gap.acc_cpu = -1 - i, 5, -1
        gap.waker_comm, gap.waker_ctx, gap.acc_comm, gap.acc_ctx = f"w{i}", "task", "", "hrtimer"
        gap.woken, gap.open_at_end = True, i == 2
        gaps.append(gap)
    log = GapLog()
    for gap in gaps:
        log.append(gap)
    back = list(log)
    assert len(log) == 3
    for gap, row in zip(gaps, back, strict=True):
        assert row.interval == gap.index and row.ready_index == gap.ready_index
        assert (row.wake_ts, row.waker_tid, row.waker_reason) == (
            gap.wake_ts,
            gap.waker_tid,
            gap.waker_reason,
        )
        assert (row.acc_vec, row.acc_tid, row.acc_class, row.inj_vec) == (
            gap.acc_vec,
            gap.acc_tid,
            gap.acc_class,
            gap.inj_vec,
        )
        assert (row.waker_cpu, row.acc_cpu) == (gap.waker_cpu, gap.acc_cpu)
        assert (row.waker_comm, row.waker_ctx, row.acc_comm, row.acc_ctx) == (
            gap.waker_comm,
            gap.waker_ctx,
            gap.acc_comm,
            gap.acc_ctx,
        )
        assert (row.is_wait, row.woken, row.open_at_end) == (
            gap.is_wait,
            gap.woken,
            gap.open_at_end,
        )


def test_uncached_vcpu_only_load_builds_no_pcpu_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    """`export --no-cache` (use_cache=False, with_pcpu=False) has no use for the host CPUs'
    lanes: no PcpuTracker pass over the batches. The TUI's load (with_pcpu) still gets them."""
    import w2a_tui.analysis.pcpu as pcpu_lanes
    from w2a_tui.pipeline import load_store

    trackers: list[object] = []
    real = pcpu_lanes.PcpuTracker

    def counted() -> object:
        tracker = real()
        trackers.append(tracker)
        return tracker

    monkeypatch.setattr(pcpu_lanes, "PcpuTracker", counted)
    store, cached = load_store(SAMPLE_TRACE, use_cache=False, with_pcpu=False)
    assert not cached and store.lanes and store.pcpu is None and trackers == []
    store, cached = load_store(SAMPLE_TRACE, use_cache=False)
    assert not cached and store.pcpu is not None and len(trackers) == 1

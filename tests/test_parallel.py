"""Decoding in worker processes (trace.parallel) gives the single-process reader's events in
the same order, the same meta and the same analysis, or says it cannot (and the pipeline
then reads in one process): on the sample, simulated traces, every real trace, damaged
streams, and from a thread (as the TUI loads)."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import SAMPLE_TRACE, real_trace, real_trace_names
from tests.support.trace_copies import copy_trace
from w2a_tui.analysis import NEEDED_KINDS
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.events import Event
from w2a_tui.model import TraceMeta
from w2a_tui.pipeline import analyze_trace
from w2a_tui.trace import ReadProgress, open_trace, parallel
from w2a_tui.trace.fastctf.reader import FastPortDecoder
from w2a_tui.trace.parallel import (
    NotParallel,
    StageTimes,
    _context,
    _groups,
    can_decode_in_parallel,
    parallel_batches,
    stage_times,
)


def _inline(path: Path) -> tuple[list[Event], TraceMeta]:
    source = open_trace(path)
    events = [e for batch in source.iter_batches(NEEDED_KINDS) for e in batch]
    return events, source.meta


def _parallel(path: Path, workers: int, batch_size: int = 4096) -> tuple[list[Event], TraceMeta]:
    source = open_trace(path)
    batches = parallel_batches(source, NEEDED_KINDS, workers=workers, batch_size=batch_size)
    events = [e for batch in batches for e in batch]
    return events, source.meta


def test_groups_are_contiguous_balanced_and_cover_every_stream() -> None:
    assert _groups(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _groups(5, 3) == [[0], [1, 2], [3, 4]]
    assert _groups(2, 8) == [[0], [1]]


@pytest.mark.parametrize("workers", [1, 2, 3, 16])
def test_the_sample_decodes_to_the_same_events_in_the_same_order(workers: int) -> None:
    expected, meta = _inline(SAMPLE_TRACE)
    events, parallel_meta = _parallel(SAMPLE_TRACE, workers, batch_size=1000)
    assert len(events) == len(expected) > 50_000
    assert events == expected
    assert parallel_meta == meta and meta.event_count > len(events)


@pytest.mark.parametrize("scenario", ["lost", "two-vms", "no-context", "late-start"])
def test_simulated_traces_decode_and_analyse_the_same(tmp_path: Path, scenario: str) -> None:
    trace = tmp_path / scenario
    assert main(["generate", str(trace), "--scenario", scenario, "--seconds", "0.2"]) == 0
    expected, meta = _inline(trace)
    events, parallel_meta = _parallel(trace, 2)
    assert events == expected and parallel_meta == meta
    one = analyze_trace(trace, workers=0)
    two = analyze_trace(trace, workers=2)
    assert list(export_rows(two)) == list(export_rows(one))
    assert two.warnings == one.warnings and two.meta == one.meta


@pytest.mark.parametrize("name", real_trace_names())
def test_real_traces_decode_the_same(name: str) -> None:
    trace = real_trace(name)
    source = open_trace(trace)
    if not can_decode_in_parallel(source):  # babeltrace2 reads it: declined at once
        with pytest.raises(NotParallel):
            next(iter(parallel_batches(source, NEEDED_KINDS, workers=2)))
        return
    expected, meta = _inline(trace)
    events, parallel_meta = _parallel(trace, 2)
    assert events == expected and parallel_meta == meta


class _BackInTime(FastPortDecoder):
    """A decoder whose stream goes back in time once (as overlapping packets do)."""

    def pull(self, iterator: Any, budget: int) -> None:
        size = len(self.out)
        super().pull(iterator, budget)
        fresh = self.out[size:]
        if len(fresh) >= 2 and not getattr(self, "bent", False):
            self.bent = True
            a, b = fresh[-2], fresh[-1]
            self.out[-2], self.out[-1] = (b[0], *a[1:]), (a[0], *b[1:])


def test_a_stream_that_goes_back_in_time_is_declined_and_read_in_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its single-process order depends on the chunking: the workers decline it before
    anything is released out of order, and the pipeline reads it in one process."""
    monkeypatch.setattr(parallel, "FastPortDecoder", _BackInTime)
    monkeypatch.setattr(parallel, "_context", lambda: multiprocessing.get_context("fork"))
    with pytest.raises(NotParallel, match="goes back in time"):
        _parallel(SAMPLE_TRACE, 2)
    one = analyze_trace(SAMPLE_TRACE, workers=0)
    assert list(export_rows(analyze_trace(SAMPLE_TRACE, workers=2))) == list(export_rows(one))


def test_a_damaged_stream_gives_the_single_process_answer(tmp_path: Path) -> None:
    """Garbage inside a packet is skipped with a warning in one process; with workers the
    answer must be the same (read again in one process if the workers cannot say it)."""
    trace = copy_trace(SAMPLE_TRACE, tmp_path / "t")
    stream = trace / "channel0_1"
    with stream.open("r+b") as f:  # garbage inside a packet: an unknown event id
        f.seek(stream.stat().st_size // 2)
        f.write(b"\xff" * 4000)
    source = open_trace(trace)
    if not can_decode_in_parallel(source):
        pytest.fail("the sample should be read by our own decoder")
    events, meta = _inline(trace)
    assert any("channel0_1" in w for w in meta.warnings)
    with contextlib.suppress(NotParallel):  # then the pipeline reads it in one process
        assert _parallel(trace, 2) == (events, meta)
    one = analyze_trace(trace, workers=0)
    two = analyze_trace(trace, workers=2)
    assert two.warnings == one.warnings and any("channel0_1" in w for w in one.warnings)
    assert list(export_rows(two)) == list(export_rows(one))


def test_progress_reaches_the_end() -> None:
    seen: list[ReadProgress] = []
    source = open_trace(SAMPLE_TRACE)
    for _ in parallel_batches(source, NEEDED_KINDS, workers=2, progress=seen.append):
        pass
    assert seen and seen[-1].fraction == 1.0
    assert [p.ts for p in seen] == sorted(p.ts for p in seen)
    assert seen[-1].events == source.meta.event_count


def test_from_a_thread_the_workers_are_not_forked_from_it() -> None:
    """The TUI loads in a worker thread: forking a threaded process could copy a held lock,
    so the workers come from a fork server there, with the same result."""
    found: dict[str, object] = {}

    def load() -> None:
        found["method"] = _context().get_start_method()
        found["events"] = _parallel(SAMPLE_TRACE, 2)[0]

    thread = threading.Thread(target=load)
    thread.start()
    thread.join()
    assert found["method"] in ("forkserver", "spawn")
    assert found["events"] == _inline(SAMPLE_TRACE)[0]


def test_stage_times_measure_every_stage() -> None:
    times = stage_times(SAMPLE_TRACE, 2)
    assert set(times) == {
        "decode",
        "decode_cpu",
        "merge",
        "analysis",
        "analysis_cpu",
        "pass_parent_cpu",
        "pass_total_cpu",
        "pass_idle_estimate",
    }
    assert times["pass_total_cpu"] > times["pass_parent_cpu"] > times["analysis_cpu"] > 0
    assert times["pass_idle_estimate"] <= times["pass_total_cpu"]
    assert times["decode_cpu"] > 0
    assert times["decode"] > 0 and times["analysis"] > 0 and times["merge"] >= 0
    stats = StageTimes()
    for _ in parallel_batches(open_trace(SAMPLE_TRACE), NEEDED_KINDS, workers=2, times=stats):
        pass
    assert stats.events == len(_inline(SAMPLE_TRACE)[0])
    assert len(stats.worker_cpu) == 2 and all(t > 0 for t in stats.worker_cpu)


@pytest.mark.parametrize("bad", ["-1", "two"])
def test_workers_must_be_a_count(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(SAMPLE_TRACE), "--workers", bad])
    assert exit_info.value.code == 2
    assert "not a number of processes" in capsys.readouterr().err


def _rows_in_a_pool_worker(trace: str) -> int:
    return len(list(export_rows(analyze_trace(trace, workers=2))))


def test_a_daemonic_process_decodes_in_itself() -> None:
    """`fleet` analyses each trace in a Dask (or pool) worker, a daemonic process that may
    not start children: asking for decoding workers there reads the trace in-process."""
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:  # pool workers are daemonic
        rows = pool.apply(_rows_in_a_pool_worker, (str(SAMPLE_TRACE),))
    assert rows == len(list(export_rows(analyze_trace(SAMPLE_TRACE, workers=0)))) > 1000

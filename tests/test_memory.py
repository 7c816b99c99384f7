"""Memory work on the analysis -> store path must not change what is stored: narrow result
columns, tracks freed by finish(), the store built lane by lane and `release=True`."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.analysis import NEEDED_KINDS, Analyzer
from w2a_tui.analysis.tracks import Gap, GapLog
from w2a_tui.model import N_STATES, AnalysisResult
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore
from w2a_tui.trace import open_trace


def _concatenated(result: AnalysisResult, name: str) -> npt.NDArray[np.int64]:
    """One lane column over all lanes, in store order, widened to int64."""
    lanes = sorted(result.lanes, key=lambda lane: (lane.vm_pid, lane.vcpu))
    return np.concatenate([np.asarray(getattr(lane, name), dtype=np.int64) for lane in lanes])


def _smallest_signed(values: npt.NDArray[np.int64]) -> Any:
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= values.min() and values.max() <= info.max:
            return np.dtype(dtype)
    raise AssertionError("does not fit int64")


def test_release_builds_the_same_store_and_frees_the_result() -> None:
    kept = analyze_trace(SAMPLE_TRACE)
    consumed = analyze_trace(SAMPLE_TRACE)
    plain = StateStore.from_result(kept)
    released = StateStore.from_result(consumed, release=True)

    assert kept.lanes and len(kept.evidence) > 0
    for name, column in plain.columns().items():
        other = released.columns()[name]
        assert column.dtype == other.dtype, name
        assert np.array_equal(column, other), name
    assert plain.evidence_table.to_list() == released.evidence_table.to_list()
    assert [lane.n_intervals for lane in plain.lanes] == [
        lane.n_intervals for lane in released.lanes
    ]
    # Consumed: nothing of the result's per-interval data is left to hold memory.
    assert consumed.evidence == []
    assert all(len(lane) == 0 and len(lane.evidence) == 0 for lane in consumed.lanes)
    # Not consumed: the caller's result is untouched (export still reads it).
    assert sum(len(lane) for lane in kept.lanes) == plain.n_intervals


def test_store_columns_are_the_lanes_concatenated_in_the_narrowest_dtype() -> None:
    result = analyze_trace(SAMPLE_TRACE)
    store = StateStore.from_result(result)
    columns = store.columns()
    for column, name in (
        ("starts", "starts"),
        ("states", "states"),
        ("exits", "exit_reasons"),
        ("evidence", "evidence"),
    ):
        expected = _concatenated(result, name)
        assert np.array_equal(columns[column].astype(np.int64), expected), column
    assert columns["exits"].dtype == _smallest_signed(_concatenated(result, "exit_reasons"))
    assert columns["evidence"].dtype == _smallest_signed(_concatenated(result, "evidence"))
    assert columns["starts"].dtype == np.int64 and columns["states"].dtype == np.uint8
    # The per-state index holds, per lane, every interval index once, grouped by state.
    offsets = columns["lane_off"]
    for lane in range(len(store.lanes)):
        a, b = int(offsets[lane]), int(offsets[lane + 1])
        states = columns["states"][a:b]
        stride = b - a + 1
        base = N_STATES * (a + lane)  # (first row + lane), see the store's layout
        keys = columns["gkey"][a:b].astype(np.int64) - base
        assert np.array_equal(keys // stride, np.sort(states))
        assert sorted((keys % stride).tolist()) == list(range(b - a))


def test_result_columns_are_narrow() -> None:
    """Exit reasons fit int16 and evidence ids int32 on this trace: 6 of 16 bytes per
    interval instead of 16 in the analysis result."""
    result = analyze_trace(SAMPLE_TRACE)
    assert result.lanes
    for lane in result.lanes:
        assert lane.exit_reasons.typecode == "h"
        assert lane.evidence.typecode == "i"
        assert len(lane.exit_reasons) == len(lane.evidence) == len(lane)
    exits = _concatenated(result, "exit_reasons")
    assert exits.max() > 0 and exits.min() == -1  # real exit reasons and "none" both kept


def test_finish_frees_the_tracks_it_built_lanes_from() -> None:
    source = open_trace(SAMPLE_TRACE)
    analyzer = Analyzer(source.meta)
    for batch in source.iter_batches(NEEDED_KINDS):
        analyzer.feed(batch)
    gaps_before = sum(len(track.closed_gaps) for track in analyzer.vcpus.values())
    result = analyzer.finish()

    assert gaps_before > 0 and sum(len(lane) for lane in result.lanes) > 0
    for track in analyzer.vcpus.values():
        assert len(track.starts) == len(track.states) == len(track.exits) == 0
        assert len(track.closed_gaps) == 0 and track.marks == []


def test_gap_log_gives_back_every_field_finish_reads() -> None:
    woken_wait = Gap(7, True)
    woken_wait.woken = True
    woken_wait.ready_index = 8
    woken_wait.wake_ts = 1_700_000_000_123_456_789
    woken_wait.waker_tid, woken_wait.waker_comm, woken_wait.waker_ctx = 4321, "qemu", "hrtimer"
    woken_wait.waker_reason = 6
    woken_wait.acc_vec, woken_wait.acc_tid, woken_wait.acc_class = 236, 99, 2
    woken_wait.acc_comm, woken_wait.acc_ctx = "kworker/1:2", "irq:42:virtio1-req.0"
    woken_wait.inj_vec = 34
    blocked = Gap(3, False)
    log = GapLog()
    log.append(woken_wait)
    log.append(blocked)

    assert len(log) == 2
    rows = list(log)
    for row, gap in zip(rows, (woken_wait, blocked), strict=True):
        assert row.interval == gap.index
        for name in row._fields:
            if name != "interval":
                assert getattr(row, name) == getattr(gap, name), name
    assert rows[0].is_wait is True and rows[1].woken is False

"""The state store: every lane's intervals as numpy columns, answering the TUI's per-frame
questions (what does each lane look like over these columns?) without touching more than a
handful of intervals per column edge, however wide the window.

`StateStore` is built here (from an analysis result or lanes) and gets its queries from one
module per job:

- `layout`: the columns (their layout is documented there), checked and viewed per lane;
- `frames`: column summaries and totals for drawing;
- `cursor`: one lane's intervals and state/evidence-filtered moves;
- `interval_stats`: durations and longest intervals over many lanes;
- `records`: the value types answered (`Interval`, `LaneInfo`, `ColumnSummary`).

This module also exports those value types and the store's tuning constants, so users of
the store import them from one place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from w2a_tui.model import AnalysisResult, LaneData, TraceMeta, VmInfo
from w2a_tui.store.build import build_columns
from w2a_tui.store.cursor import CursorQueries
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.store.frames import FRAME_BLOCK, FrameQueries
from w2a_tui.store.interval_stats import LONGEST_KEPT, IntervalStatistics
from w2a_tui.store.layout import CHECKPOINT_EVERY, check_every
from w2a_tui.store.records import NO_DATA, ColumnSummary, Interval, LaneInfo, LaneRecord

__all__ = [
    "CHECKPOINT_EVERY",
    "FRAME_BLOCK",
    "LONGEST_KEPT",
    "NO_DATA",
    "ColumnSummary",
    "Interval",
    "LaneInfo",
    "LaneRecord",
    "StateStore",
]


class StateStore(FrameQueries, CursorQueries, IntervalStatistics):
    """All lanes of an analysis, queryable per frame. Build with `from_result` (or the
    cache's loader); lane indexes follow `lanes`, sorted by (vm_pid, vcpu).

    Queries (times in ns, intervals `[start, end)`):
    - drawing: `column_summaries(lanes, t0, t1, ncols)` (a whole frame at once, the fast
      way), `column_summary` / `dominant_states` (one lane, memoised per frame);
    - cursor: `interval`, `interval_at`, `intervals`, `next_transition`,
      `prev_transition`, `find` (state and evidence filters);
    - statistics: `totals` (ns per state), `durations` (every interval's length in some
      states, for histograms), `longest` (the k longest in some states, e.g. the longest
      disk waits of one VM: pass that VM's `lanes_of_vm`).
    All are exact; none walks a lane interval by interval.

    `pcpu` is the store of the host CPUs' lanes (`store.pcpu`), when the analysis kept
    them; it answers the same queries. A cache's pCPU lanes may be read on first use
    (`defer_pcpu`), so that opening a trace does not wait for them."""

    _pcpu: StateStore | None = None
    _pcpu_load: Callable[[], StateStore | None] | None = None
    _pcpu_lock: threading.Lock | None = None
    _pcpu_damaged = False

    @property
    def pcpu(self) -> StateStore | None:
        """The host CPUs' lanes (None: none kept); the first use of a deferred one reads
        it (any thread; the others wait for that reading)."""
        if self._pcpu_load is not None and self._pcpu_lock is not None:
            with self._pcpu_lock:
                load = self._pcpu_load
                if load is not None:
                    self._pcpu = load()
                    self._pcpu_load = None
                    self._pcpu_damaged = self._pcpu is None
        return self._pcpu

    @pcpu.setter
    def pcpu(self, store: StateStore | None) -> None:
        self._pcpu, self._pcpu_load = store, None

    def defer_pcpu(self, load: Callable[[], StateStore | None]) -> None:
        """`pcpu` is what `load()` returns, called once, at its first use."""
        self._pcpu_lock = threading.Lock()
        self._pcpu, self._pcpu_load = None, load

    @property
    def pcpu_damaged(self) -> bool:
        """The deferred pCPU lanes failed their checks when read (so `pcpu` is None)."""
        return self._pcpu_damaged

    @property
    def pcpu_pending(self) -> bool:
        """The pCPU lanes are deferred and not read yet (`pcpu` would read them)."""
        return self._pcpu_load is not None

    @classmethod
    def from_result(
        cls,
        result: AnalysisResult,
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
        release: bool = False,
    ) -> StateStore:
        """Index an analysis result. Raises ValueError if its lanes break the contract
        (unsorted starts, unknown states, evidence ids past the table).

        `release=True` consumes the result: each lane's columns and the evidence list are
        emptied as soon as the store holds them, so the two never both exist whole (the
        peak memory of opening a big trace). Use it when the result is not needed after."""
        table = EvidenceTable.from_list(result.evidence)
        if release:
            result.evidence = []
        return cls.from_lanes(
            meta=result.meta,
            vms=result.vms,
            lanes=result.lanes,
            evidence_table=table,
            warnings=result.warnings,
            checkpoint_every=checkpoint_every,
            release=release,
        )

    @classmethod
    def from_lanes(
        cls,
        *,
        meta: TraceMeta,
        vms: list[VmInfo],
        lanes: list[LaneData],
        evidence_table: EvidenceTable,
        warnings: list[str],
        checkpoint_every: int = CHECKPOINT_EVERY,
        release: bool = False,
    ) -> StateStore:
        """`from_result` with the evidence already in columns (no `Evidence` objects: the
        way to build a store of millions of intervals quickly). `checkpoint_every` trades
        memory for per-edge work (tests use small values to exercise every path);
        `release` empties each lane once copied (see `from_result`)."""
        check_every(checkpoint_every)
        ordered = sorted(lanes, key=lambda lane: (lane.vm_pid, lane.vcpu))
        records = [
            LaneRecord(
                lane.vm_pid, lane.vcpu, lane.tid, lane.comm, lane.end_ns, dict(lane.exit_counts)
            )
            for lane in ordered
        ]
        columns = build_columns(ordered, len(evidence_table), checkpoint_every, release=release)
        return cls(
            meta=meta,
            vms=list(vms),
            warnings=list(warnings),
            records=records,
            lane_off=columns.lane_off,
            starts=columns.starts,
            states=columns.states,
            exits=columns.exits,
            evidence=columns.evidence,
            gkey=columns.gkey,
            checkpoints=columns.checkpoints,
            group_off=columns.group_off,
            evidence_table=evidence_table,
            checkpoint_every=checkpoint_every,
        )

    def to_result(self) -> AnalysisResult:
        """The analysis result again (lanes sorted by vm pid, vcpu), e.g. for export."""
        lanes = []
        for view, record in zip(self._views, self._records, strict=True):
            data = LaneData(record.vm_pid, record.vcpu, record.tid, record.comm, record.end_ns)
            data.starts.frombytes(view.starts.astype("<i8").tobytes())
            data.states.frombytes(view.states.tobytes())
            data.exit_reasons.frombytes(view.exits.astype("<i8").tobytes())
            data.evidence.frombytes(view.evidence.astype("<i8").tobytes())
            data.exit_counts = dict(record.exit_counts)
            lanes.append(data)
        return AnalysisResult(
            meta=self.meta,
            vms=list(self.vms),
            lanes=lanes,
            evidence=self.evidence_table.to_list(),
            warnings=list(self.warnings),
        )

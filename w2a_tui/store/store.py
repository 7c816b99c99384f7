"""The state store: every lane's intervals as numpy columns, answering the TUI's per-frame
questions (what does each lane look like over these columns?) without touching more than a
handful of intervals per column edge, however wide the window.

Layout (all lanes concatenated, lane `l` owns rows `lane_off[l]:lane_off[l+1]`):

- `starts` int64, `states` uint8, `exits` and `evidence` narrowed signed ints: the lane's
  intervals in time order; interval i is `[starts[i], starts[i+1])`, the last ends at the
  lane's `end`.
- `gkey` (int32 when it fits): the lane's interval indexes grouped by state, each group in
  time order, stored as `base(lane) + state * (n + 1) + index` with `base(lane) =
  N_STATES * (first row of the lane + lane)`, so the whole array (all lanes) is sorted and
  one `searchsorted` finds, for every lane and state at once, the next or previous interval
  of that state (state-filtered cursor moves, `durations`, `longest`).
- `checkpoints` int64 `(rows, N_STATES)`: every `CHECKPOINT_EVERY` intervals of a lane
  (and at its end), the ns the lane spent in each state before that interval. The time per
  state before any interval j is the nearest checkpoint's row corrected by at most
  `CHECKPOINT_EVERY / 2` intervals, so a frame costs one small window per column edge
  instead of a binary search per edge and state (the cost no longer grows with the zoom).

- `ck_start` (derived when the store opens, not cached): each checkpoint's start time,
  what a column edge searches first.

That is 8 + 1 + 2..8 + 2..4 + 4 + (88 + 8) / 16 ≈ 23 bytes per interval, plus the
columnar evidence table.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import (
    N_STATES,
    AnalysisResult,
    Evidence,
    LaneData,
    State,
    TraceMeta,
    VmInfo,
)
from w2a_tui.store.build import build_columns
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.store.scratch import EdgeScratch, ScratchPool

NO_DATA: Final = 255  # `ColumnSummary.dominant` of a column the lane does not cover

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
AnyInts = npt.NDArray[Any]

_STATE_RANGE: Final = np.arange(N_STATES, dtype=np.int64)
_FIND_FIRST_WINDOW: Final = 4096
FRAME_BLOCK: Final = 128  # lanes computed together by one `column_summary` miss
LONGEST_KEPT: Final = 64  # longest intervals remembered per (lane, state)
# Intervals between two checkpoint rows: memory 88 / CHECKPOINT_EVERY bytes per interval,
# work per column edge CHECKPOINT_EVERY / 2 intervals. 16 is the measured sweet spot.
CHECKPOINT_EVERY: Final = 16


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval of one lane, `[start, end)` in ns; `exit_reason` -1 when none."""

    lane: int
    index: int
    start: int
    end: int
    state: State
    exit_reason: int
    evidence: Evidence | None

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class LaneInfo:
    """Who a lane is: one vCPU of one VM."""

    index: int
    vm_pid: int
    vm_name: str
    vcpu: int
    tid: int
    comm: str
    n_intervals: int


@dataclass(frozen=True, slots=True)
class ColumnSummary:
    """A lane over `ncols` columns: `dominant[k]` is the state holding most of column k
    (lowest state value on ties, `NO_DATA` where the lane does not cover the column), and
    `time[k, s]` the ns spent in state s within column k."""

    dominant: U8
    time: I64


@dataclass(frozen=True, slots=True)
class LaneRecord:
    """What the store keeps about a lane besides its columns (round-tripped by the cache)."""

    vm_pid: int
    vcpu: int
    tid: int
    comm: str
    end_ns: int
    exit_counts: Mapping[int, int]


class _Lane:
    """Views of one lane's rows in the store's concatenated columns (no copies)."""

    __slots__ = (
        "ck_start",
        "end",
        "evidence",
        "exits",
        "first",
        "gkey",
        "group_start",
        "group_stop",
        "key_base",
        "n",
        "starts",
        "states",
        "stride",
    )

    def __init__(self, store: StateStore, lane: int) -> None:
        a, b = int(store._lane_off[lane]), int(store._lane_off[lane + 1])
        self.n = b - a
        self.stride = self.n + 1
        self.starts: I64 = store._starts[a:b]
        self.states: U8 = store._states[a:b]
        self.exits: AnyInts = store._exits[a:b]
        self.evidence: AnyInts = store._evidence[a:b]
        self.gkey: AnyInts = store._gkey[a:b]
        self.ck_start: I64 = store._ck_start[store._ck_off[lane] : store._ck_off[lane + 1]]
        self.end = int(store._lane_end[lane])
        self.first = int(self.starts[0]) if self.n else self.end
        goff = store._group_off[lane]
        self.group_start: I64 = goff[:-1]
        self.group_stop: I64 = goff[1:]
        # gkey value of (state s, index 0) of this lane: subtract to get an index back.
        self.key_base: I64 = _STATE_RANGE * self.stride + N_STATES * (a + lane)


def _no_data(ncols: int) -> ColumnSummary:
    return ColumnSummary(
        np.full(ncols, NO_DATA, dtype=np.uint8), np.zeros((ncols, N_STATES), dtype=np.int64)
    )


def _state_filter(states: Collection[int] | None) -> list[int] | None:
    return None if states is None else sorted({int(s) for s in states})


def _boundaries(t0: int, t1: int, ncols: int) -> I64:
    """Column edges `t0 + floor(k * (t1 - t0) / ncols)`, exact without int64 overflow."""
    if ncols <= 0:
        raise ValueError("ncols must be positive")
    if t1 <= t0:
        raise ValueError("the window [t0, t1) is empty")
    q, r = divmod(t1 - t0, ncols)
    k = np.arange(ncols + 1, dtype=np.int64)
    return np.int64(t0) + k * np.int64(q) + (k * np.int64(r)) // np.int64(ncols)


class StateStore:
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
    All are exact; none walks a lane interval by interval."""

    def __init__(
        self,
        *,
        meta: TraceMeta,
        vms: list[VmInfo],
        warnings: list[str],
        records: list[LaneRecord],
        lane_off: I64,
        starts: I64,
        states: U8,
        exits: AnyInts,
        evidence: AnyInts,
        gkey: AnyInts,
        checkpoints: I64,
        group_off: I64,
        evidence_table: EvidenceTable,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        """Adopt already-built columns (no copy); `from_result` is the usual way in."""
        n_lanes = len(records)
        total = int(lane_off[-1]) if len(lane_off) else 0
        if len(lane_off) != n_lanes + 1 or group_off.shape != (n_lanes, N_STATES + 1):
            raise ValueError("lane offsets do not match the lanes")
        for name, column in (
            ("starts", starts),
            ("states", states),
            ("exits", exits),
            ("evidence", evidence),
            ("gkey", gkey),
        ):
            if len(column) != total:
                raise ValueError(f"column {name} has {len(column)} rows, expected {total}")
        _check_every(checkpoint_every)
        counts = np.diff(lane_off) if n_lanes else np.zeros(0, np.int64)
        ck_off = np.zeros(n_lanes + 1, dtype=np.int64)
        ck_off[1:] = np.cumsum(-(-counts // checkpoint_every) + 1)
        if checkpoints.shape != (int(ck_off[-1]), N_STATES):
            raise ValueError("checkpoints do not match the lanes")
        self.meta = meta
        self.vms = vms
        self.warnings = warnings
        self._records = records
        self._lane_off = lane_off
        self._starts = starts
        self._states = states
        self._exits = exits
        self._evidence = evidence
        self._gkey = gkey
        self._checkpoints = checkpoints
        self._ck_every = checkpoint_every
        self._ck_off = ck_off
        self._lane_n = counts.astype(np.int64)
        self._lane_end = np.array([r.end_ns for r in records], dtype=np.int64)
        self._ck_start = _checkpoint_starts(
            starts, lane_off, self._lane_end, ck_off, checkpoint_every
        )
        self._group_off = group_off
        self.evidence_table = evidence_table
        names = {vm.pid: vm.name for vm in vms}
        self.lanes: list[LaneInfo] = [
            LaneInfo(
                i,
                r.vm_pid,
                names.get(r.vm_pid, ""),
                r.vcpu,
                r.tid,
                r.comm,
                int(lane_off[i + 1] - lane_off[i]),
            )
            for i, r in enumerate(records)
        ]
        self._views = [_Lane(self, i) for i in range(n_lanes)]
        self._key_base = np.array([v.key_base for v in self._views], dtype=np.int64).reshape(
            n_lanes, N_STATES
        )
        self._frame: tuple[tuple[int, int, int], dict[int, ColumnSummary]] | None = None
        self._scratch = ScratchPool()
        self._longest: dict[tuple[int, int], tuple[I64, I64]] = {}  # see `longest`
        self._by_vm: dict[int, list[int]] = {}
        for info in self.lanes:
            self._by_vm.setdefault(info.vm_pid, []).append(info.index)
        spans = [(v.first, v.end) for v in self._views if v.n]
        if spans:
            self.start_ns = min(s for s, _ in spans)
            self.end_ns = max(e for _, e in spans)
        else:
            self.start_ns, self.end_ns = meta.first_ns, meta.last_ns
        self._start_runs = _runs(starts, checkpoint_every + 1)
        self._state_runs = _runs(states, checkpoint_every)

    # ---------------------------------------------------------------- building

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
        _check_every(checkpoint_every)
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

    def columns(self) -> dict[str, AnyInts]:
        """The raw columns (for the cache); do not modify them."""
        return {
            "lane_off": self._lane_off,
            "starts": self._starts,
            "states": self._states,
            "exits": self._exits,
            "evidence": self._evidence,
            "gkey": self._gkey,
            "checkpoints": self._checkpoints,
            "group_off": self._group_off,
        }

    @property
    def records(self) -> list[LaneRecord]:
        return list(self._records)

    @property
    def nbytes(self) -> int:
        """Memory held by the columns, what is derived from them and the evidence table."""
        derived = int(self._ck_start.nbytes)  # rebuilt on open, not cached
        columns = sum(int(a.nbytes) for a in self.columns().values())
        return columns + derived + self.evidence_table.nbytes

    @property
    def n_intervals(self) -> int:
        return len(self._starts)

    @property
    def checkpoint_every(self) -> int:
        """Intervals between two checkpoint rows (saved with the cache)."""
        return self._ck_every

    # ----------------------------------------------------------------- queries

    def _view(self, lane: int) -> _Lane:
        if not 0 <= lane < len(self._views):
            raise IndexError(f"lane {lane} out of range (0..{len(self._views) - 1})")
        return self._views[lane]

    def _make(self, lane: int, view: _Lane, i: int) -> Interval:
        end = int(view.starts[i + 1]) if i + 1 < view.n else view.end
        ev = int(view.evidence[i])
        return Interval(
            lane=lane,
            index=i,
            start=int(view.starts[i]),
            end=end,
            state=State(int(view.states[i])),
            exit_reason=int(view.exits[i]),
            evidence=self.evidence_table[ev] if ev >= 0 else None,
        )

    def interval(self, lane: int, index: int) -> Interval:
        view = self._view(lane)
        if not 0 <= index < view.n:
            raise IndexError(f"interval {index} out of range for lane {lane}")
        return self._make(lane, view, index)

    def interval_at(self, lane: int, t: int) -> Interval | None:
        """The interval holding time t, None outside `[lane start, lane end)`."""
        view = self._view(lane)
        if view.n == 0 or t < view.first or t >= view.end:
            return None
        i = int(np.searchsorted(view.starts, t, "right")) - 1
        return self._make(lane, view, i)

    def intervals(self, lane: int, t0: int, t1: int, limit: int | None = None) -> list[Interval]:
        """Intervals overlapping `[t0, t1)` (start < t1 and end > t0), in time order, at most
        `limit` of them (the earliest)."""
        view = self._view(lane)
        if view.n == 0 or t1 <= t0 or t0 >= view.end or t1 <= view.first:
            return []
        i0 = max(int(np.searchsorted(view.starts, t0, "right")) - 1, 0)
        i1 = int(np.searchsorted(view.starts, t1, "left"))
        if limit is not None:
            i1 = min(i1, i0 + max(limit, 0))
        return [self._make(lane, view, i) for i in range(i0, i1)]

    def next_transition(
        self, lane: int, t: int, states: Collection[State] | None = None
    ) -> Interval | None:
        """The first interval whose start is > t (and whose state is in `states`, if given)."""
        view = self._view(lane)
        i = int(np.searchsorted(view.starts, t, "right"))
        found = self._next_in_states(view, i, _state_filter(states))
        return None if found is None else self._make(lane, view, found)

    def prev_transition(
        self, lane: int, t: int, states: Collection[State] | None = None
    ) -> Interval | None:
        """The last interval whose start is < t (state filter as in `next_transition`).

        With t inside an interval, that interval itself is returned (its start is < t); with
        t exactly at an interval start (where cursors sit), the previous interval is. So
        `prev_transition(lane, iv.start)` steps back one interval, like `next_transition(
        lane, iv.start)` steps forward one."""
        view = self._view(lane)
        i = int(np.searchsorted(view.starts, t, "left")) - 1
        found = self._prev_in_states(view, i, _state_filter(states))
        return None if found is None else self._make(lane, view, found)

    def _next_in_states(self, view: _Lane, i: int, states: list[int] | None) -> int | None:
        """Smallest index >= i whose state is in `states` (any state if None)."""
        if i >= view.n:
            return None
        if states is None:
            return i
        if not states:
            return None
        s = np.asarray(states, dtype=np.int64)
        pos = np.searchsorted(view.gkey, (view.key_base[s] + i).astype(view.gkey.dtype), "left")
        ok = pos < view.group_stop[s]
        if not ok.any():
            return None
        hits = view.gkey[pos[ok]].astype(np.int64) - view.key_base[s[ok]]
        return int(hits.min())

    def _prev_in_states(self, view: _Lane, i: int, states: list[int] | None) -> int | None:
        """Largest index <= i whose state is in `states` (any state if None)."""
        if i < 0 or view.n == 0:
            return None
        i = min(i, view.n - 1)
        if states is None:
            return i
        if not states:
            return None
        s = np.asarray(states, dtype=np.int64)
        keys = (view.key_base[s] + i).astype(view.gkey.dtype)
        pos = np.searchsorted(view.gkey, keys, "right") - 1
        ok = pos >= view.group_start[s]
        if not ok.any():
            return None
        hits = view.gkey[pos[ok]].astype(np.int64) - view.key_base[s[ok]]
        return int(hits.max())

    def find(
        self,
        lane: int,
        t: int,
        *,
        states: Collection[State] | None = None,
        evidence_match: Callable[[Evidence], bool] | None = None,
        forward: bool = True,
    ) -> Interval | None:
        """The next (start > t) or previous (start < t, as `prev_transition`) interval whose
        state is in `states` and whose evidence satisfies `evidence_match` (intervals without
        evidence never match a predicate).

        Without a predicate this is `next_transition`/`prev_transition` (O(log n)). With
        one, the lane is scanned outward from t in growing windows, vectorised over states
        and evidence ids; the predicate runs once per distinct evidence id met."""
        if evidence_match is None:
            if forward:
                return self.next_transition(lane, t, states)
            return self.prev_transition(lane, t, states)
        view = self._view(lane)
        wanted = _state_filter(states)
        lut: npt.NDArray[np.bool_] | None = None
        if wanted is not None:
            lut = np.zeros(256, dtype=np.bool_)
            lut[wanted] = True
        memo: dict[int, bool] = {}
        table = self.evidence_table

        def first_match(lo: int, hi: int) -> int | None:
            ev = view.evidence[lo:hi]
            mask = ev >= 0
            if lut is not None:
                mask &= lut[view.states[lo:hi]]
            rows = np.flatnonzero(mask)
            if rows.size == 0:
                return None
            ids = ev[rows]
            for eid in np.unique(ids).tolist():
                if eid not in memo:
                    memo[eid] = bool(evidence_match(table[eid]))
            good = np.fromiter((eid for eid, ok in memo.items() if ok), np.int64)
            hit = np.flatnonzero(np.isin(ids, good))
            if hit.size == 0:
                return None
            row = int(rows[hit[0] if forward else hit[-1]])
            return lo + row

        window = _FIND_FIRST_WINDOW
        if forward:
            lo = int(np.searchsorted(view.starts, t, "right"))
            while lo < view.n:
                hi = min(view.n, lo + window)
                found = first_match(lo, hi)
                if found is not None:
                    return self._make(lane, view, found)
                lo, window = hi, window * 4
        else:
            hi = int(np.searchsorted(view.starts, t, "left"))
            while hi > 0:
                lo = max(0, hi - window)
                found = first_match(lo, hi)
                if found is not None:
                    return self._make(lane, view, found)
                hi, window = lo, window * 4
        return None

    # ------------------------------------------------------------ aggregates

    def _time_before(self, lanes: list[int], x: I64, scratch: EdgeScratch) -> I64:
        """F[l, k, s]: ns that lane `lanes[l]` spent in state s before time x[l, k] (x
        already clipped to each lane's span; lanes not empty). The result lives in
        `scratch`: copy what you keep before the scratch is lent again.

        Per edge: the last checkpoint at or before x (a searchsorted over the lane's
        checkpoint times), then the at most `CHECKPOINT_EVERY` intervals of that block,
        each counting its part before x. No search over the intervals themselves, so the
        cost is about the same at every zoom."""
        n_lanes, k = x.shape
        every = self._ck_every
        lanes_arr = np.asarray(lanes, dtype=np.int64)
        ck_row = self._checkpoint_rows_at(lanes_arr, x).reshape(-1)
        before = scratch.before
        np.take(self._checkpoints, ck_row, axis=0, out=before, mode="clip")
        # First interval row of each edge's block.
        first_row = ck_row.reshape(n_lanes, k)
        first_row -= self._ck_off[lanes_arr][:, None]
        first_row *= every
        first_row += self._lane_off[lanes_arr][:, None]
        stop = self._lane_off[lanes_arr + 1]
        at_end = (first_row + every >= stop[:, None]).reshape(-1)
        inner = np.flatnonzero(~at_end)
        if inner.size:
            rows = first_row.reshape(-1)[inner]
            bounds = self._start_runs[rows].view(self._starts.dtype).reshape(-1, every + 1)
            states = self._state_runs[rows].view(np.uint8).reshape(-1, every)
            self._add_block_time(before, inner, bounds, states, x.reshape(-1)[inner], scratch)
        tail = np.flatnonzero(at_end)
        if tail.size:
            # Blocks reaching a lane's end: the last interval ends at the lane's end, and
            # rows past it (another lane's) become empty intervals there.
            rows = first_row.reshape(-1)[tail, None] + scratch.step
            bounds = np.take(self._starts, rows, mode="clip")
            past = rows >= stop[tail // k][:, None]
            lane_end = self._lane_end[lanes_arr][tail // k][:, None]
            bounds[past] = np.broadcast_to(lane_end, past.shape)[past]
            states = np.take(self._states, rows[:, :-1], mode="clip")
            self._add_block_time(before, tail, bounds, states, x.reshape(-1)[tail], scratch)
        return before.reshape(n_lanes, k, N_STATES)

    @staticmethod
    def _add_block_time(
        before: I64, edges: I64, bounds: I64, states: U8, x: I64, scratch: EdgeScratch
    ) -> None:
        """Add to before[e] the ns each block interval of edge e spent before x[e]
        (`bounds`: the block's starts and the end of its last interval, never decreasing,
        so clipping them at x and differencing does it). `bounds` is overwritten."""
        n = len(states)
        np.minimum(bounds, x[:, None], out=bounds)
        spent = scratch.spent[:n]
        np.subtract(bounds[:, 1:], bounds[:, :-1], out=spent)
        cells = scratch.cells[:n]
        np.multiply(edges[:, None], N_STATES, out=cells)
        cells += states
        np.add.at(before.reshape(-1), cells.reshape(-1), spent.reshape(-1))

    def _checkpoint_rows_at(self, lanes: I64, x: I64) -> I64:
        """Global row of the last checkpoint at or before x[l, k] in lane lanes[l]. One
        searchsorted per lane over its checkpoint times (as fast as one call over all
        lanes' keys: the per-lane arrays keep each search's probes close together)."""
        found = np.empty(x.shape, dtype=np.int64)
        for r, lane in enumerate(lanes.tolist()):
            found[r] = np.searchsorted(self._views[lane].ck_start, x[r], "right")
        found += self._ck_off[lanes][:, None] - 1
        return found

    def column_summaries(
        self, lanes: Collection[int], t0: int, t1: int, ncols: int
    ) -> list[ColumnSummary]:
        """`column_summary` for several lanes at once (much cheaper per lane: one frame of 64
        lanes costs about as much as a handful of single-lane calls). Lanes are computed
        `FRAME_BLOCK` at a time, which bounds the work arrays kept between frames."""
        chosen = list(lanes)
        edges = _boundaries(t0, t1, ncols)
        out: list[ColumnSummary | None] = [None] * len(chosen)
        full = [r for r, lane in enumerate(chosen) if self._view(lane).n]
        for r, lane in enumerate(chosen):
            if not self._views[lane].n:
                out[r] = _no_data(ncols)
        for begin in range(0, len(full), FRAME_BLOCK):
            part = full[begin : begin + FRAME_BLOCK]
            summaries = self._summaries_of([chosen[r] for r in part], edges, ncols)
            for r, summary in zip(part, summaries, strict=True):
                out[r] = summary
        return [summary for summary in out if summary is not None]

    def _summaries_of(self, lanes: list[int], edges: I64, ncols: int) -> list[ColumnSummary]:
        """Column summaries of non-empty lanes over the column `edges`."""
        first = np.array([self._views[lane].first for lane in lanes], dtype=np.int64)
        end = self._lane_end[lanes]
        x = np.clip(edges[None, :], first[:, None], end[:, None])
        time = np.empty((len(lanes), ncols, N_STATES), dtype=np.int64)
        with self._scratch.lend(x.size, self._ck_every) as scratch:
            before = self._time_before(lanes, x, scratch)
            np.subtract(before[:, 1:], before[:, :-1], out=time)
        dominant = np.argmax(time, axis=2).astype(np.uint8)
        dominant[x[:, 1:] == x[:, :-1]] = NO_DATA
        thin = np.flatnonzero(edges[1:] == edges[:-1])
        if thin.size:
            for i, lane in enumerate(lanes):
                self._sample_thin(lane, edges, thin, dominant[i])
        time.flags.writeable = False
        dominant.flags.writeable = False
        return [ColumnSummary(dominant[i], time[i]) for i in range(len(lanes))]

    def _sample_thin(self, lane: int, edges: I64, thin: I64, dominant: U8) -> None:
        """Columns under 1 ns wide show the state at their left edge."""
        view = self._views[lane]
        at = edges[thin]
        inside = (at >= view.first) & (at < view.end)
        j = np.searchsorted(view.starts, at[inside], "right") - 1
        dominant[thin[inside]] = view.states[j]

    def column_summary(self, lane: int, t0: int, t1: int, ncols: int) -> ColumnSummary:
        """Exact time per state in each of `ncols` columns splitting `[t0, t1)`; column k
        is `[t0 + floor(k*(t1-t0)/ncols), t0 + floor((k+1)*(t1-t0)/ncols))`.

        A column narrower than 1 ns (only when t1 - t0 < ncols) has no time; its dominant
        state is the state at its left edge (NO_DATA outside the lane). Raises ValueError
        when t1 <= t0 or ncols <= 0. The arrays are read-only.

        A frame asks every lane for the same window, so the first call for a window computes
        it for a block of up to `FRAME_BLOCK` lanes around `lane` in one vectorised pass and
        later calls for that window are served from it."""
        self._view(lane)
        key = (t0, t1, ncols)
        frame = self._frame
        if frame is None or frame[0] != key or lane not in frame[1]:
            block = lane // FRAME_BLOCK * FRAME_BLOCK
            lanes = range(block, min(block + FRAME_BLOCK, len(self._views)))
            computed = dict(zip(lanes, self.column_summaries(lanes, t0, t1, ncols), strict=True))
            if frame is not None and frame[0] == key:
                computed.update(frame[1])
            self._frame = frame = (key, computed)
        return frame[1][lane]

    def dominant_states(self, lane: int, t0: int, t1: int, ncols: int) -> U8:
        """`column_summary(...).dominant`."""
        return self.column_summary(lane, t0, t1, ncols).dominant

    def totals(self, lane: int, t0: int | None = None, t1: int | None = None) -> I64:
        """ns per state (shape `(N_STATES,)`) within `[t0, t1)`, default the whole lane."""
        view = self._view(lane)
        lo = view.first if t0 is None else min(max(t0, view.first), view.end)
        hi = view.end if t1 is None else min(max(t1, view.first), view.end)
        if view.n == 0 or hi <= lo:
            return np.zeros(N_STATES, dtype=np.int64)
        with self._scratch.lend(2, self._ck_every) as scratch:
            before = self._time_before([lane], np.array([[lo, hi]], dtype=np.int64), scratch)
            spent: I64 = before[0, 1] - before[0, 0]
        return spent

    def _index_range(self, lanes: I64, t0: int | None, t1: int | None) -> tuple[I64, I64]:
        """Per lane, the interval indexes [i0, i1) overlapping [t0, t1) (None: unbounded)."""
        i0 = np.zeros(len(lanes), dtype=np.int64)
        i1 = self._lane_n[lanes].copy()
        if t0 is None and t1 is None:
            return i0, i1
        for r, lane in enumerate(lanes.tolist()):
            view = self._views[lane]
            if t0 is not None:
                if t0 >= view.end:
                    i0[r] = view.n
                else:
                    i0[r] = max(int(np.searchsorted(view.starts, t0, "right")) - 1, 0)
            if t1 is not None:
                i1[r] = int(np.searchsorted(view.starts, t1, "left"))
        return i0, np.maximum(i0, i1)

    def _rows_in_states(
        self, lanes: Collection[int], states: Collection[int], t0: int | None, t1: int | None
    ) -> tuple[I64, I64, I64]:
        """(global rows, durations, group sizes) of the intervals of `lanes` whose state is
        in `states` and which overlap [t0, t1); grouped by lane (ascending), then state
        (ascending), each group in time order; one size per (lane, state), lane-major.

        Two searchsorted calls over the state index for all lanes and states at once, then
        one slice per (lane, state) and gathers proportional to the answer (with in-place
        temporaries: fresh multi-MB arrays are slow here)."""
        lanes_arr = np.array(sorted({int(lane) for lane in lanes}), dtype=np.int64)
        for lane in lanes_arr.tolist():
            self._view(lane)
        wanted = np.asarray(_state_filter(states) or [], dtype=np.int64)
        if not len(lanes_arr) or not len(wanted):
            nothing = np.zeros(0, np.int64)
            return nothing, nothing, np.zeros(len(lanes_arr) * len(wanted), np.int64)
        i0, i1 = self._index_range(lanes_arr, t0, t1)
        base = self._key_base[lanes_arr][:, wanted]  # (lanes, states): key of index 0
        dtype = self._gkey.dtype
        lo = np.searchsorted(self._gkey, (base + i0[:, None]).astype(dtype).ravel(), "left")
        hi = np.searchsorted(self._gkey, (base + i1[:, None]).astype(dtype).ravel(), "left")
        counts = hi - lo
        total = int(counts.sum())
        rows = np.empty(total, dtype=np.int64)
        key_to_row = (base - self._lane_off[lanes_arr][:, None]).ravel()
        group_lane = np.repeat(lanes_arr, len(wanted))
        last_rows = self._lane_off[group_lane + 1] - 1
        at_end: list[int] = []  # output positions of lanes' last intervals
        done = 0
        for g, a, b in zip(
            np.flatnonzero(counts).tolist(),
            lo[counts > 0].tolist(),
            hi[counts > 0].tolist(),
            strict=True,
        ):
            segment = rows[done : done + b - a]
            np.subtract(self._gkey[a:b], key_to_row[g], out=segment, casting="unsafe")
            done += b - a
            if segment[-1] == last_rows[g]:
                at_end.append(done - 1)
        spent = np.add(rows, 1)
        np.minimum(spent, len(self._starts) - 1, out=spent)
        ends = np.take(self._starts, spent)
        np.take(self._starts, rows, out=spent)
        if at_end:
            # The last interval of a lane ends at the lane's end, not at the next start.
            where = np.asarray(at_end, dtype=np.int64)
            ends[where] = self._lane_end[np.searchsorted(self._lane_off, rows[where], "right") - 1]
        np.subtract(ends, spent, out=spent)
        return rows, spent, counts

    def durations(
        self,
        lane_or_lanes: int | Collection[int],
        states: Collection[State],
        t0: int | None = None,
        t1: int | None = None,
    ) -> I64:
        """Durations (ns, int64) of every interval of `lane_or_lanes` (one lane or several)
        whose state is in `states` and which overlaps `[t0, t1)` (None: unbounded), e.g. for
        a histogram of wait times.

        Durations are whole, not clipped to the window: a wait straddling the window's edge
        counts with its real length. Order: by lane, then state, then time. Cost is
        proportional to the number returned (no scan of the other states' intervals)."""
        chosen: Collection[int]
        if isinstance(lane_or_lanes, int | np.integer):
            chosen = [int(lane_or_lanes)]
        else:
            chosen = lane_or_lanes
        return self._rows_in_states(chosen, states, t0, t1)[1]

    def longest(
        self, states: Collection[State], k: int = 20, lanes: Collection[int] | None = None
    ) -> list[Interval]:
        """The k longest intervals whose state is in `states`, over `lanes` (default all),
        longest first (ties: lane, then time order).

        Each (lane, state) remembers its `LONGEST_KEPT` longest intervals the first time it
        is asked, so later calls (the summary switching between VMs) cost a merge of those
        short lists; k above that limit computes afresh."""
        if k <= 0:
            return []
        chosen = sorted(
            {int(lane) for lane in (range(len(self._views)) if lanes is None else lanes)}
        )
        for lane in chosen:
            self._view(lane)
        wanted = _state_filter(states) or []
        if k > LONGEST_KEPT:
            rows, spent, _ = self._rows_in_states(chosen, wanted, None, None)
            return self._top_rows(rows, spent, k)
        missing = [(lane, s) for lane in chosen for s in wanted if (lane, s) not in self._longest]
        if missing:
            self._remember_longest(
                sorted({lane for lane, _ in missing}), sorted({s for _, s in missing})
            )
        kept = [self._longest[lane, s] for lane in chosen for s in wanted]
        if not kept:
            return []
        rows = np.concatenate([r for r, _ in kept])
        spent = np.concatenate([d for _, d in kept])
        return self._top_rows(rows, spent, k)

    def _remember_longest(self, lanes: list[int], states: list[int]) -> None:
        """Keep the `LONGEST_KEPT` longest intervals of every (lane, state) given."""
        rows, spent, counts = self._rows_in_states(lanes, states, None, None)
        done = 0
        for g, count in enumerate(counts.tolist()):
            group_rows = rows[done : done + count]
            group_spent = spent[done : done + count]
            done += count
            if count > LONGEST_KEPT:
                kth = np.partition(group_spent, count - LONGEST_KEPT)[count - LONGEST_KEPT]
                keep = np.flatnonzero(group_spent >= kth)
                group_rows, group_spent = group_rows[keep], group_spent[keep]
            order = np.lexsort((group_rows, -group_spent))[:LONGEST_KEPT]
            key = (lanes[g // len(states)], states[g % len(states)])
            self._longest[key] = (group_rows[order].copy(), group_spent[order].copy())

    def _top_rows(self, rows: I64, spent: I64, k: int) -> list[Interval]:
        """The k longest of these rows as intervals (ties: lower global row first, which
        is lane order then time order)."""
        if not len(rows):
            return []
        if len(rows) > k:
            kth = np.partition(spent, len(spent) - k)[len(spent) - k]
            keep = np.flatnonzero(spent >= kth)
            rows, spent = rows[keep], spent[keep]
        top = rows[np.lexsort((rows, -spent))[:k]]
        lane_of = np.searchsorted(self._lane_off, top, "right") - 1
        return [
            self._make(lane, self._views[lane], row - int(self._lane_off[lane]))
            for lane, row in zip(lane_of.tolist(), top.tolist(), strict=True)
        ]

    def lanes_of_vm(self, vm_pid: int) -> list[int]:
        return list(self._by_vm.get(vm_pid, []))


def _checkpoint_starts(starts: I64, lane_off: I64, lane_end: I64, ck_off: I64, every: int) -> I64:
    """Start time of the interval each checkpoint row stands for (the lane's end for the
    row at its end): what `_time_before` searches, 8 / `every` bytes per interval."""
    lane = np.repeat(np.arange(len(lane_end), dtype=np.int64), np.diff(ck_off))
    at = np.minimum(
        (np.arange(int(ck_off[-1]), dtype=np.int64) - ck_off[lane]) * every,
        lane_off[lane + 1] - lane_off[lane],
    )
    rows = lane_off[lane] + at
    inside = rows < lane_off[lane + 1]
    out = lane_end[lane].copy()
    out[inside] = starts[rows[inside]]
    return out


def _runs(column: AnyInts, length: int) -> npt.NDArray[np.void]:
    """Overlapping view of `column`: item i is the raw bytes of column[i : i + length], so
    one fancy index gathers a whole block per edge (a 2-D index array is several times
    slower). No copy; items exist for i <= len(column) - length."""
    column = np.ascontiguousarray(column)
    size = column.itemsize
    count = max(len(column) - length + 1, 0)
    return np.ndarray(
        (count,), dtype=np.dtype((np.void, size * length)), buffer=column, strides=(size,)
    )


def _check_every(every: int) -> None:
    if every < 2 or every % 2:
        raise ValueError("checkpoint_every must be an even number >= 2")

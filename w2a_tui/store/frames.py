"""Per-frame drawing queries: the time each lane spends in each state within each column of
a window (`column_summaries`, `column_summary`, `totals`), from the checkpoint rows plus
at most one block of intervals per column edge."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import N_STATES
from w2a_tui.store.layout import IndexedLanes
from w2a_tui.store.records import NO_DATA, ColumnSummary
from w2a_tui.store.scratch import EdgeScratch, ScratchPool

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
AnyInts = npt.NDArray[Any]

FRAME_BLOCK: Final = 128  # lanes computed together by one `column_summary` miss


def _no_data(ncols: int) -> ColumnSummary:
    return ColumnSummary(
        np.full(ncols, NO_DATA, dtype=np.uint8), np.zeros((ncols, N_STATES), dtype=np.int64)
    )


def _boundaries(t0: int, t1: int, ncols: int) -> I64:
    """Column edges `t0 + floor(k * (t1 - t0) / ncols)`, exact without int64 overflow."""
    if ncols <= 0:
        raise ValueError("ncols must be positive")
    if t1 <= t0:
        raise ValueError("the window [t0, t1) is empty")
    q, r = divmod(t1 - t0, ncols)
    k = np.arange(ncols + 1, dtype=np.int64)
    return np.int64(t0) + k * np.int64(q) + (k * np.int64(r)) // np.int64(ncols)


class FrameQueries(IndexedLanes):
    """Column summaries and totals; keeps the last frame (see `column_summary`) and the
    work arrays reused between frames."""

    def _open(self) -> None:
        super()._open()
        self._frame: tuple[tuple[int, int, int], dict[int, ColumnSummary]] | None = None
        self._scratch = ScratchPool()
        self._start_runs = _runs(self._starts, self._ck_every + 1)
        self._state_runs = _runs(self._states, self._ck_every)

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

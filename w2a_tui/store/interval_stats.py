"""Interval statistics over many lanes: every duration in some states (`durations`, for
histograms) and the k longest intervals (`longest`), found through the grouped `gkey`
index with work proportional to the answer."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import State
from w2a_tui.store.layout import IndexedLanes, state_filter
from w2a_tui.store.records import Interval

I64 = npt.NDArray[np.int64]

LONGEST_KEPT: Final = 64  # longest intervals remembered per (lane, state)


class IntervalStatistics(IndexedLanes):
    """Durations and longest intervals; remembers each (lane, state)'s longest ones."""

    def _open(self) -> None:
        super()._open()
        self._longest: dict[tuple[int, int], tuple[I64, I64]] = {}  # see `longest`

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
        wanted = np.asarray(state_filter(states) or [], dtype=np.int64)
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

    def rows_in_states(
        self,
        lanes: Collection[int],
        states: Collection[State],
        t0: int | None = None,
        t1: int | None = None,
    ) -> tuple[I64, I64, I64, I64, I64]:
        """(lane, start, duration, evidence id, exit reason) columns of every interval of
        `lanes` in `states` overlapping `[t0, t1)`; durations whole, as in `durations`.
        For aggregates (who preempted a vCPU, exits) without an object per interval."""
        rows, spent, _ = self._rows_in_states(lanes, states, t0, t1)
        lane_of = np.searchsorted(self._lane_off, rows, "right") - 1
        return (
            lane_of.astype(np.int64),
            self._starts[rows],
            spent,
            self._evidence[rows].astype(np.int64),
            self._exits[rows].astype(np.int64),
        )

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
        wanted = state_filter(states) or []
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

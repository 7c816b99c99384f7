"""Cursor queries: one lane's interval at a time or index, its intervals in a window, and
the next or previous one in some states or with matching evidence (`find`). State filters
use the grouped `gkey` index, so none walks the lane interval by interval."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import Evidence, State
from w2a_tui.store.layout import IndexedLanes, LaneView, state_filter
from w2a_tui.store.records import Interval

_FIND_FIRST_WINDOW: Final = 4096


class CursorQueries(IndexedLanes):
    """Moving a cursor along one lane."""

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
        found = self._next_in_states(view, i, state_filter(states))
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
        found = self._prev_in_states(view, i, state_filter(states))
        return None if found is None else self._make(lane, view, found)

    def _next_in_states(self, view: LaneView, i: int, states: list[int] | None) -> int | None:
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

    def _prev_in_states(self, view: LaneView, i: int, states: list[int] | None) -> int | None:
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
        wanted = state_filter(states)
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

"""The state store's columns: every lane's intervals as numpy columns, laid out so the
TUI's per-frame questions touch a handful of intervals per column edge, however wide the
window.

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

`IndexedLanes` adopts and checks these columns and resolves a lane to its views; the
query mixins (`frames`, `cursor`, `interval_stats`) build on it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import N_STATES, State, TraceMeta, VmInfo
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.store.records import Interval, LaneInfo, LaneRecord

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
AnyInts = npt.NDArray[Any]

_STATE_RANGE: Final = np.arange(N_STATES, dtype=np.int64)
# Intervals between two checkpoint rows: memory 88 / CHECKPOINT_EVERY bytes per interval,
# work per column edge CHECKPOINT_EVERY / 2 intervals. 16 is the measured sweet spot.
CHECKPOINT_EVERY: Final = 16


class LaneView:
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

    def __init__(self, store: IndexedLanes, lane: int) -> None:
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


def state_filter(states: Collection[int] | None) -> list[int] | None:
    return None if states is None else sorted({int(s) for s in states})


class IndexedLanes:
    """The concatenated lane columns of a store, checked on adoption, with a view per lane
    (what every query starts from). Subclasses add their per-store caches in `_open`."""

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
        check_every(checkpoint_every)
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
        self._views = [LaneView(self, i) for i in range(n_lanes)]
        self._key_base = np.array([v.key_base for v in self._views], dtype=np.int64).reshape(
            n_lanes, N_STATES
        )
        self._by_vm: dict[int, list[int]] = {}
        for info in self.lanes:
            self._by_vm.setdefault(info.vm_pid, []).append(info.index)
        spans = [(v.first, v.end) for v in self._views if v.n]
        if spans:
            self.start_ns = min(s for s, _ in spans)
            self.end_ns = max(e for _, e in spans)
        else:
            self.start_ns, self.end_ns = meta.first_ns, meta.last_ns
        self._open()

    def _open(self) -> None:
        """Set up what a subclass derives from the columns (caches, extra views); each
        override calls `super()._open()` first."""

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

    # ------------------------------------------------------------ lane access

    def _view(self, lane: int) -> LaneView:
        if not 0 <= lane < len(self._views):
            raise IndexError(f"lane {lane} out of range (0..{len(self._views) - 1})")
        return self._views[lane]

    def _make(self, lane: int, view: LaneView, i: int) -> Interval:
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


def check_every(every: int) -> None:
    if every < 2 or every % 2:
        raise ValueError("checkpoint_every must be an even number >= 2")

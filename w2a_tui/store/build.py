"""Build a store's columns from analysis lanes, lane by lane, straight into arrays of the
final size and dtype.

Why not concatenate per-lane parts: on a 7.5 M-interval trace the parts, their
concatenation and the narrowed copy were alive at once (three copies of every column on
top of the analysis result). Here each column is allocated once; a lane's temporaries
(the argsort of its states) are the only extra memory, and `release` frees each lane's
arrays as soon as they are copied, so the result and the store are not both whole.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from w2a_tui.model import N_STATES, LaneData
from w2a_tui.store.columns import narrow_signed

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
AnyInts = npt.NDArray[Any]


@dataclass(slots=True)
class Columns:
    """Everything `StateStore.__init__` adopts besides the lane records."""

    lane_off: I64
    starts: I64
    states: U8
    exits: AnyInts
    evidence: AnyInts
    gkey: AnyInts
    checkpoints: I64
    group_off: I64


def ints(column: Any) -> AnyInts:
    """A zero-copy integer view of a lane column (`array` of any typecode, or numpy)."""
    values = np.asarray(column)
    if values.dtype.kind not in "iu":
        values = values.astype(np.int64)
    return values


def _span(lanes: Sequence[LaneData], name: str) -> tuple[int, int]:
    """(min, max) of one column over every lane, (0, 0) when all are empty."""
    lows: list[int] = []
    highs: list[int] = []
    for lane in lanes:
        values = ints(getattr(lane, name))
        if len(values):
            lows.append(int(values.min()))
            highs.append(int(values.max()))
    return (min(lows), max(highs)) if lows else (0, 0)


def _narrow_dtype(lanes: Sequence[LaneData], name: str) -> np.dtype[Any]:
    """The dtype `narrow_signed` would pick for the concatenated column."""
    if not any(len(lane) for lane in lanes):
        return np.dtype(np.int8)
    lo, hi = _span(lanes, name)
    return narrow_signed(np.array([lo, hi], dtype=np.int64)).dtype


def build_columns(
    lanes: Sequence[LaneData], n_evidence: int, every: int, *, release: bool = False
) -> Columns:
    """The store's columns of `lanes` (already in store order). Raises ValueError when a
    lane breaks LaneData's contract. `release` empties each lane once it is copied."""
    sizes = [len(lane) for lane in lanes]
    total = sum(sizes)
    lane_off = np.zeros(len(lanes) + 1, dtype=np.int64)
    lane_off[1:] = np.cumsum(sizes)
    ck_rows = [-(-n // every) + 1 for n in sizes]
    ck_off = np.zeros(len(lanes) + 1, dtype=np.int64)
    ck_off[1:] = np.cumsum(ck_rows)
    key_span = (total + len(lanes)) * N_STATES
    key_dtype = np.dtype(np.int32 if key_span < 2**31 else np.int64)
    out = Columns(
        lane_off=lane_off,
        starts=np.empty(total, dtype=np.int64),
        states=np.empty(total, dtype=np.uint8),
        exits=np.empty(total, dtype=_narrow_dtype(lanes, "exit_reasons")),
        evidence=np.empty(total, dtype=_narrow_dtype(lanes, "evidence")),
        gkey=np.empty(total, dtype=key_dtype),
        checkpoints=np.empty((int(ck_off[-1]), N_STATES), dtype=np.int64),
        group_off=np.zeros((len(lanes), N_STATES + 1), dtype=np.int64),
    )
    for li, lane in enumerate(lanes):
        a, b = int(lane_off[li]), int(lane_off[li + 1])
        starts = ints(lane.starts)
        states = ints(lane.states)
        exits = ints(lane.exit_reasons)
        evidence = ints(lane.evidence)
        check_lane(lane, starts, states, exits, evidence, n_evidence)
        np.copyto(out.starts[a:b], starts, casting="unsafe")
        np.copyto(out.states[a:b], states, casting="unsafe")
        np.copyto(out.exits[a:b], exits, casting="unsafe")  # the dtype holds every lane
        np.copyto(out.evidence[a:b], evidence, casting="unsafe")
        del starts, states, exits, evidence
        lane_states = out.states[a:b]
        out.group_off[li] = _group_keys(lane_states, N_STATES * (a + li), out.gkey[a:b])
        checkpoint_rows(
            out.starts[a:b],
            lane_states,
            lane.end_ns,
            every,
            out.checkpoints[int(ck_off[li]) : int(ck_off[li + 1])],
        )
        if release:
            _empty(lane)
    return out


def _empty(lane: LaneData) -> None:
    """Drop a lane's columns (its owner asked for them to be freed once copied)."""
    lane.starts = array("q")
    lane.states = array("B")
    lane.exit_reasons = array("q")
    lane.evidence = array("q")


def check_lane(
    lane: LaneData,
    starts: AnyInts,
    states: AnyInts,
    exits: AnyInts,
    evidence: AnyInts,
    n_evidence: int,
) -> None:
    """Refuse lanes that break LaneData's contract: every query relies on it."""
    where = f"lane vm {lane.vm_pid} vcpu {lane.vcpu}"
    n = len(starts)
    if not len(states) == len(exits) == len(evidence) == n:
        raise ValueError(f"{where}: columns have different lengths")
    if n == 0:
        return
    if np.any(starts[1:] < starts[:-1]) or lane.end_ns < int(starts[-1]):
        raise ValueError(f"{where}: interval starts are not in time order")
    if int(states.min()) < 0 or int(states.max()) >= N_STATES:
        raise ValueError(f"{where}: unknown state value {int(states.max())}")
    if int(evidence.min()) < -1 or int(evidence.max()) >= n_evidence:
        raise ValueError(f"{where}: evidence ids outside the evidence table")


def _group_keys(states: U8, key_shift: int, gkey: AnyInts) -> I64:
    """Fill `gkey` (the lane's per-state index, see the store's layout) and return the
    lane's group offsets: where each state's group starts in it."""
    n = len(states)
    order = np.argsort(states, kind="stable")
    counts = np.bincount(states, minlength=N_STATES)[:N_STATES]
    offsets = np.zeros(N_STATES + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(counts)
    # gkey = key_shift + state * (n + 1) + index, the state being constant per group.
    group_base = key_shift + np.arange(N_STATES, dtype=np.int64) * (n + 1)
    order += np.repeat(group_base, counts)
    np.copyto(gkey, order, casting="unsafe")
    return offsets


def checkpoint_rows(starts: I64, states: U8, end_ns: int, every: int, rows: I64) -> None:
    """Fill `rows` (shape `(ceil(n / every) + 1, N_STATES)`): row m is the ns per state
    before interval `min(m * every, n)`."""
    rows.fill(0)
    if len(starts):
        block_sums(starts, states, end_ns, every, rows[1:])
        np.cumsum(rows, axis=0, out=rows)


def block_sums(starts: I64, states: U8, end_ns: int, every: int, out: I64) -> None:
    """Add to `out` (shape `(ceil(n / every), N_STATES)`, n > 0) the ns per state spent in
    each block of `every` intervals: what two checkpoint rows differ by."""
    n = len(starts)
    durations = np.empty(n, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=durations[:-1])
    durations[-1] = end_ns - int(starts[-1])
    # Interval i adds to cell (i // every, state): the whole blocks in one broadcast.
    blocks = n // every
    whole = blocks * every
    cells = np.empty(n, dtype=np.intp)
    base = np.arange(0, blocks * N_STATES, N_STATES, dtype=np.intp)
    np.add(
        states[:whole].reshape(blocks, every),
        base[:, None],
        out=cells[:whole].reshape(blocks, every),
    )
    cells[whole:] = states[whole:]
    cells[whole:] += blocks * N_STATES
    np.add.at(out.reshape(-1), cells, durations)

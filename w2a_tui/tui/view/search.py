"""`/` find: turn what the user typed into a state set and/or an evidence filter, then
find every matching interval at once (vectorised over the store's columns), so `n`/`N`
are a binary search per lane and "nothing matches" is known before any walk.

Matches are searched ACROSS ALL LANES IN TIME ORDER: `n` goes to the earliest matching
interval that starts after the cursor on any lane (ties: the next lane down), `N` to the
latest one that starts before it. That is what "where does this happen next?" means when
one vCPU's disk wait is usually caused by another's I/O. Past the last match the search
wraps around to the first (the screen says so), like a pager.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from w2a_tui.errors import W2AError
from w2a_tui.model import N_STATES, WAIT_STATES, Source, State
from w2a_tui.store import Interval, StateStore
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.tui.view.looks import LOOKS

Mask = npt.NDArray[np.bool_]
# Which rows of the evidence table a query accepts (vectorised: one call per query).
EvidenceRows = Callable[[EvidenceTable], Mask]

# A state prefix shorter than this is read as a thread name (`ta` is not `task`).
MIN_PREFIX = 3


def _state_names() -> dict[str, frozenset[State]]:
    """Every way a user may name states: contract labels (`wait_disk`), reasons (`disk`),
    the legend's short names (`hyp`, `preempt`, `wait?`) and `wait` for any wait."""
    names: dict[str, frozenset[State]] = {"wait": frozenset(WAIT_STATES)}
    for state in State:
        names[state.label] = frozenset({state})
        names[LOOKS[state].short] = frozenset({state})
        if state.is_wait:
            names.setdefault(state.label.removeprefix("wait_"), frozenset({state}))
    return names


STATE_NAMES = _state_names()
SOURCES = {s.label: s for s in Source if s is not Source.EMPTY}
COMM_COLUMNS = ("waker_comm", "emitter_comm", "next_comm")


@dataclass(frozen=True, slots=True)
class Query:
    """`states` None = any state; `evidence` None = any evidence. `what` says in words
    what the text was understood as (shown to the user with the match count)."""

    text: str
    states: frozenset[State] | None = None
    evidence: EvidenceRows | None = field(default=None, compare=False)
    what: str = ""


def _parse_vector(text: str) -> int | None:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        return None
    return value if 0 <= value <= 255 else None


def _state_by_prefix(low: str) -> tuple[str, frozenset[State]] | None:
    """`pree` → preempted, `hyper` → hypervisor: a prefix naming exactly one state set."""
    if len(low) < MIN_PREFIX:
        return None
    hits = {name: states for name, states in STATE_NAMES.items() if name.startswith(low)}
    distinct = set(hits.values())
    if len(distinct) != 1:
        return None
    name = min(hits, key=len)
    return name, distinct.pop()


def _states_what(states: frozenset[State]) -> str:
    if states == WAIT_STATES:
        return "any wait"
    return " or ".join(sorted(s.label for s in states))


def parse_query(text: str) -> Query:
    """State name (`wait_disk`, `preempted`, `hyp`), reason (`disk`, `timer`), a unique
    state prefix (`pree`), rule (`waker`, `inj_virq`), vector (`0xec`, `236`), `wait`
    (any wait), else a thread-name substring of the waker, emitter or preempting thread
    (case-insensitive)."""
    q = text.strip()
    if not q:
        raise W2AError("type something to find: a state, a reason, a vector or a thread name.")
    low = q.lower()
    if low in STATE_NAMES:
        states = STATE_NAMES[low]
        return Query(q, states=states, what=_states_what(states))
    if low in SOURCES:
        src = int(SOURCES[low])
        return Query(
            q,
            evidence=lambda t: np.asarray(t.columns()["source"] == src),
            what=f"waits decided by rule {low}",
        )
    vector = _parse_vector(low)
    if vector is not None:
        return Query(
            q,
            evidence=lambda t: np.asarray(t.columns()["vector"] == vector),
            what=f"vector 0x{vector:02x} ({vector})",
        )
    prefix = _state_by_prefix(low)
    if prefix is not None:
        return Query(q, states=prefix[1], what=_states_what(prefix[1]))

    def comm_rows(table: EvidenceTable) -> Mask:
        ids = [i for i, s in enumerate(table.strings) if s and low in s.lower()]
        columns = table.columns()
        rows = np.zeros(len(table), dtype=np.bool_)
        for name in COMM_COLUMNS:
            rows |= np.isin(columns[name], ids)
        return rows

    return Query(
        q, evidence=comm_rows, what=f"thread name with {q!r} (waker, emitter or preemptor)"
    )


class Matches:
    """Every interval of the store that matches a query: per lane, the sorted start times
    and interval indexes. Built in one vectorised pass (~tens of ms on millions of
    intervals); each `n`/`N` is then one binary search per lane."""

    def __init__(self, store: StateStore, query: Query) -> None:
        self.store = store
        self.query = query
        columns: dict[str, Any] = store.columns()
        lane_off = columns["lane_off"]
        starts = columns["starts"]
        ok = self._state_mask(query, columns["states"])
        if query.evidence is not None:
            ok = self._evidence_mask(store, query.evidence, columns["evidence"], ok)
        self.indexes: list[npt.NDArray[np.int64]] = []
        self.starts: list[npt.NDArray[np.int64]] = []
        for lane in range(len(store.lanes)):
            a, b = int(lane_off[lane]), int(lane_off[lane + 1])
            hit = np.flatnonzero(ok[a:b]) if ok is not None else np.arange(b - a)
            self.indexes.append(hit)
            self.starts.append(np.asarray(starts[a:b][hit], dtype=np.int64))
        self.total = sum(len(h) for h in self.indexes)
        self.lanes_with = sum(1 for h in self.indexes if len(h))

    @staticmethod
    def _state_mask(query: Query, states: npt.NDArray[np.uint8]) -> Mask | None:
        if query.states is None:
            return None
        lut = np.zeros(256, dtype=np.bool_)
        lut[[int(s) for s in query.states if int(s) < N_STATES]] = True
        mask: Mask = lut[states]
        return mask

    @staticmethod
    def _evidence_mask(
        store: StateStore, rows_of: EvidenceRows, evidence: npt.NDArray[Any], ok: Mask | None
    ) -> Mask:
        table = store.evidence_table
        # One extra False row at the end: evidence id -1 (none) indexes it.
        accepted = np.zeros(len(table) + 1, dtype=np.bool_)
        if len(table):
            accepted[:-1] = rows_of(table)
        mask: Mask = accepted[evidence]
        return mask if ok is None else mask & ok

    def __len__(self) -> int:
        return self.total

    def _interval(self, lane: int, k: int) -> Interval:
        return self.store.interval(lane, int(self.indexes[lane][k]))

    def next_after(self, t: int, lane: int, *, forward: bool = True) -> Interval | None:
        """The nearest match strictly after (before) `t` across all lanes; ties on the same
        start go to lanes after (before) `lane`, so repeated `n` visits every match once."""
        n = len(self.starts)
        best: tuple[int, int] | None = None
        best_at: tuple[int, int] | None = None
        for other in range(n):
            starts = self.starts[other]
            if not len(starts):
                continue
            # On lanes after the current one (in search order) an interval starting
            # exactly at t is still ahead of us; on the current lane and those before, not.
            ahead = other > lane if forward else other < lane
            if forward:
                k = int(np.searchsorted(starts, t, "left" if ahead else "right"))
                if k >= len(starts):
                    continue
                key = (int(starts[k]), (other - lane) % n)
            else:
                k = int(np.searchsorted(starts, t, "right" if ahead else "left")) - 1
                if k < 0:
                    continue
                key = (-int(starts[k]), (lane - other) % n)
            if best is None or key < best:
                best, best_at = key, (other, k)
        return None if best_at is None else self._interval(*best_at)

    def first(self, *, forward: bool = True) -> Interval | None:
        """The first match of the trace (the last one going backward): where `n` wraps."""
        if forward:
            return self.next_after(self.store.start_ns - 1, 0, forward=True)
        return self.next_after(self.store.end_ns, len(self.starts) - 1, forward=False)

    def position(self, iv: Interval) -> int:
        """1-based rank of `iv` among all matches in (start, lane) order: `37 of 1,204`."""
        rank = 0
        for other, starts in enumerate(self.starts):
            if other <= iv.lane:
                rank += int(np.searchsorted(starts, iv.start, "right"))
            else:
                rank += int(np.searchsorted(starts, iv.start, "left"))
        return rank


def find_next(
    store: StateStore, query: Query, t: int, lane: int, *, forward: bool = True
) -> Interval | None:
    """One-shot `Matches(store, query).next_after(...)` (no wrap-around)."""
    return Matches(store, query).next_after(t, lane, forward=forward)

"""`/` find: turn what the user typed into a state set and/or an evidence predicate, then
walk the store for the next match.

Matches are searched ACROSS ALL LANES IN TIME ORDER: `n` goes to the earliest matching
interval that starts after the cursor on any lane (ties: the next lane down), `N` to the
latest one that starts before it. That is what "where does this happen next?" means when
one vCPU's disk wait is usually caused by another's I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from w2a_tui.errors import W2AError
from w2a_tui.model import WAIT_STATES, Evidence, Reason, Source, State
from w2a_tui.store import Interval, StateStore

EvidenceMatch = Callable[[Evidence], bool]


@dataclass(frozen=True, slots=True)
class Query:
    """`states` None = any state; `evidence` None = any evidence."""

    text: str
    states: frozenset[State] | None = None
    evidence: EvidenceMatch | None = None

    def matches(self, iv: Interval) -> bool:
        if self.states is not None and iv.state not in self.states:
            return False
        if self.evidence is not None:
            return iv.evidence is not None and self.evidence(iv.evidence)
        return True


def _parse_vector(text: str) -> int | None:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        return None
    return value if 0 <= value <= 255 else None


def parse_query(text: str) -> Query:
    """State name (`wait_disk`, `preempted`), reason (`disk`, `timer`), rule (`waker`,
    `inj_virq`), vector (`0xec`, `236`), `wait` (any wait), else a thread-name substring
    of the waker, emitter or preempting thread (case-insensitive)."""
    q = text.strip()
    if not q:
        raise W2AError("type something to find: a state, a reason, a vector or a thread name.")
    low = q.lower()
    if low == "wait":
        return Query(q, states=frozenset(WAIT_STATES))
    if low in State.__members__.keys() | {s.label for s in State}:
        return Query(q, states=frozenset({State.from_label(low)}))
    if low in {r.label for r in Reason}:
        return Query(q, states=frozenset({Reason[low.upper()].state}))
    sources = {s.label: s for s in Source if s is not Source.EMPTY}
    if low in sources:
        src = sources[low]
        return Query(q, evidence=lambda e: e.source is src)
    vector = _parse_vector(low)
    if vector is not None:
        return Query(q, evidence=lambda e: e.vector == vector)

    def comm_match(e: Evidence) -> bool:
        return any(low in c.lower() for c in (e.waker_comm, e.emitter_comm, e.next_comm) if c)

    return Query(q, evidence=comm_match)


def find_next(
    store: StateStore, query: Query, t: int, lane: int, *, forward: bool = True
) -> Interval | None:
    """The nearest match strictly after (before) `t` across all lanes; ties on the same start
    go to lanes after (before) `lane`, so repeated `n` visits every match once."""
    best: Interval | None = None
    best_key: tuple[int, int] | None = None
    n = len(store.lanes)
    for other in range(n):
        found = _find_on_lane(store, query, other, t, lane, forward)
        if found is None:
            continue
        # Order key: time first, then lane distance in the search direction.
        dist = (other - lane) % n if forward else (lane - other) % n
        key = (found.start, dist) if forward else (-found.start, dist)
        if best_key is None or key < best_key:
            best, best_key = found, key
    return best


def _find_on_lane(
    store: StateStore, query: Query, other: int, t: int, lane: int, forward: bool
) -> Interval | None:
    # On lanes after the current one (in search order), an interval starting exactly at t
    # is still ahead of us; on the current lane and those before, it is not.
    ahead = (other > lane) if forward else (other < lane)
    probe = t - 1 if ahead else t
    if not forward:
        probe = t + 1 if ahead else t
    found = store.find(
        other, probe, states=query.states, evidence_match=query.evidence, forward=forward
    )
    return found

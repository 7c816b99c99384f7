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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from w2a_tui.errors import W2AError
from w2a_tui.model import N_STATES, WAIT_STATES, Source, State, VmInfo
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
TID_COLUMNS = ("waker_tid", "emitter_tid", "next_tid")
DURATION_TERM = re.compile(r"(>=|<=|>|<)(\d+(?:\.\d+)?)(ns|us|µs|ms|s)")
UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


@dataclass(frozen=True, slots=True)
class Query:
    """`states` None = any state; `evidence` None = any evidence. `what` says in words
    what the text was understood as (shown to the user with the match count)."""

    text: str
    states: frozenset[State] | None = None
    evidence: EvidenceRows | None = field(default=None, compare=False)
    what: str = ""
    lanes: frozenset[int] | None = None  # only these lanes (a VM, a vCPU thread's tid)
    min_ns: int = 0  # `>5ms`: intervals at least this long
    max_ns: int | None = None  # `<1ms`: shorter than this


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


def _single(q: str) -> Query | None:
    """One term that names states, a rule or a vector (None: a name, a tid, a duration)."""
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
    return None


def _comm_rows(name: str, tids: frozenset[int] | None) -> EvidenceRows:
    """Rows whose waker, emitter or preemptor is named with `name` (and, scoped to a VM,
    is one of its threads `tids`)."""
    low = name.lower()

    def rows_of(table: EvidenceTable) -> Mask:
        ids = [i for i, s in enumerate(table.strings) if s and low in s.lower()]
        columns = table.columns()
        rows = np.zeros(len(table), dtype=np.bool_)
        for comm, tid in zip(COMM_COLUMNS, TID_COLUMNS, strict=True):
            named = np.isin(columns[comm], ids)
            if tids is not None:
                named &= np.isin(columns[tid], list(tids))
            rows |= named
        return rows

    return rows_of


def _tid_rows(tid: int) -> EvidenceRows:
    def rows_of(table: EvidenceTable) -> Mask:
        columns = table.columns()
        rows = np.zeros(len(table), dtype=np.bool_)
        for name in TID_COLUMNS:
            rows |= np.asarray(columns[name] == tid)
        return rows

    return rows_of


def _both(a: EvidenceRows | None, b: EvidenceRows) -> EvidenceRows:
    if a is None:
        return b
    return lambda t: a(t) & b(t)


def _duration(term: str) -> tuple[str, int] | None:
    """`>5ms` / `<200us` / `>=1s`: (comparison, ns)."""
    m = DURATION_TERM.fullmatch(term.lower())
    if m is None:
        return None
    value = float(m.group(2)) * UNIT_NS[m.group(3)]
    return m.group(1), round(value)


def _vm_of(term: str, store: StateStore | None) -> VmInfo | None:
    if store is None:
        return None
    low = term.lower()
    for vm in store.vms:
        name = vm.name.lower()
        if low in (name, name.rsplit(":", 1)[-1], str(vm.pid)):
            return vm
    return None


def _vm_threads(vm: VmInfo, store: StateStore) -> frozenset[int]:
    tids = {vm.pid, vm.main_tid, *vm.io_tids, *vm.vhost_tids}
    tids.update(store.lanes[i].tid for i in store.lanes_of_vm(vm.pid))
    return frozenset(t for t in tids if t >= 0)


def parse_query(text: str, store: StateStore | None = None) -> Query:
    """State name (`wait_disk`, `preempted`, `hyp`), reason (`disk`, `timer`), a unique
    state prefix (`pree`), rule (`waker`, `inj_virq`), vector (`0xec`, `236`), `wait`
    (any wait), a tid above 255 (`6100`: that vCPU's lane, else intervals whose waker,
    emitter or preemptor it is), else a thread-name substring of the waker, emitter or
    preempting thread (case-insensitive). Terms combine (all must hold): `preempt cc1`,
    `disk >5ms`; with the store, a VM's name scopes the search to its vCPUs and a thread
    name to its threads (`db01 CPU 2/KVM`)."""
    q = text.strip()
    if not q:
        raise W2AError("type something to find: a state, a reason, a vector or a thread name.")
    single = _single(q)
    if single is not None:
        return single
    states: frozenset[State] | None = None
    evidence: EvidenceRows | None = None
    lanes: frozenset[int] | None = None
    min_ns, max_ns = 0, None
    words: list[str] = []
    name: list[str] = []
    scope: VmInfo | None = None
    for term in q.split():
        term_query = _single(term)
        duration = _duration(term)
        vm = _vm_of(term, store)
        if term_query is not None and not name:
            if term_query.states is not None:
                states = term_query.states if states is None else states & term_query.states
            if term_query.evidence is not None:
                evidence = _both(evidence, term_query.evidence)
            words.append(term_query.what)
        elif duration is not None:
            op, ns = duration
            if op.startswith(">"):
                min_ns = max(min_ns, ns + (0 if op == ">=" else 1))
                words.append(f"longer than {term[len(op) :]}")
            else:
                limit = ns + (1 if op == "<=" else 0)
                max_ns = limit if max_ns is None else min(max_ns, limit)
                words.append(f"shorter than {term[len(op) :]}")
        elif vm is not None and not name and scope is None:
            scope = vm
            assert store is not None
            lanes = frozenset(store.lanes_of_vm(vm.pid))
            words.append(f"in VM {vm.name}")
        elif term.isdigit() and int(term) > 255 and not name:
            tid = int(term)
            own = [x.index for x in store.lanes if x.tid == tid] if store is not None else []
            if own:
                lanes = frozenset(own) if lanes is None else lanes & frozenset(own)
                words.append(f"vCPU thread {tid}")
            else:
                evidence = _both(evidence, _tid_rows(tid))
                words.append(f"tid {tid} (waker, emitter or preemptor)")
        else:
            name.append(term)
    if (
        name
        and scope is not None
        and lanes == frozenset(store.lanes_of_vm(scope.pid) if store else ())
    ):
        lanes = None  # the VM names whose thread it is, not where to look
    if name:
        thread = " ".join(name)
        tids = _vm_threads(scope, store) if scope is not None and store is not None else None
        evidence = _both(evidence, _comm_rows(thread, tids))
        whose = f" of {scope.name}" if scope is not None else ""
        words.append(f"thread name with {thread!r}{whose} (waker, emitter or preemptor)")
    if states is not None and not states:
        raise W2AError(f"no interval can match {q!r}: its states exclude each other.")
    return Query(
        q,
        states=states,
        evidence=evidence,
        what=", ".join(words),
        lanes=lanes,
        min_ns=min_ns,
        max_ns=max_ns,
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
        timed = query.min_ns > 0 or query.max_ns is not None
        records = store.records if timed else []
        for lane in range(len(store.lanes)):
            a, b = int(lane_off[lane]), int(lane_off[lane + 1])
            if query.lanes is not None and lane not in query.lanes:
                a = b  # no match on this lane
            hit = np.flatnonzero(ok[a:b]) if ok is not None else np.arange(b - a)
            if timed and len(hit):
                ends = np.append(starts[a + 1 : b], records[lane].end_ns)
                spent = ends[hit] - starts[a:b][hit]
                keep = spent >= query.min_ns
                if query.max_ns is not None:
                    keep &= spent < query.max_ns
                hit = hit[keep]
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

    def in_time_order(self, limit: int) -> list[Interval]:
        """The first `limit` matches of the trace, in (start, lane) order: the results list."""
        if not self.total:
            return []
        lanes = np.concatenate([np.full(len(h), i) for i, h in enumerate(self.indexes)])
        ks = np.concatenate([np.arange(len(h)) for h in self.indexes])
        starts = np.concatenate(self.starts)
        order = np.lexsort((lanes, starts))[:limit]
        return [self._interval(int(lanes[i]), int(ks[i])) for i in order.tolist()]

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

"""The cache's column checks accept exactly the columns the builder would have made
(issue 13 made them faster: no sort, no rebuilt checkpoint table). Seeded mutations of the
derived columns (`gkey`, `group_off`, `checkpoints`) and of the states they derive from
must be accepted if and only if the derived columns equal a naive, independent rebuild."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from w2a_tui.model import N_STATES
from w2a_tui.store import StateStore
from w2a_tui.store.cache_check import CacheInvalid, check_columns

EVERY = 4
CASES = 400

Columns = dict[str, npt.NDArray[Any]]


def naive_derived(columns: Columns, ends: list[int], every: int) -> Columns:
    """gkey, group_off and checkpoints by their definitions (store/layout.py), in Python."""
    lane_off = columns["lane_off"].tolist()
    starts = columns["starts"].tolist()
    states = columns["states"].tolist()
    gkey: list[int] = []
    group_off: list[list[int]] = []
    rows: list[list[int]] = []
    for lane, end in enumerate(ends):
        a, b = lane_off[lane], lane_off[lane + 1]
        n = b - a
        order = sorted(range(n), key=lambda i: (states[a + i], i))
        base = N_STATES * (a + lane)
        gkey += [base + states[a + i] * (n + 1) + i for i in order]
        counts = [sum(1 for i in range(n) if states[a + i] == s) for s in range(N_STATES)]
        group_off.append([sum(counts[:s]) for s in range(N_STATES + 1)])
        spent = [0] * N_STATES
        for i in range(n + 1):
            if i % every == 0 or i == n:
                if i % every == 0:
                    rows.append(list(spent))
                if i == n:
                    if n % every:
                        rows.append(list(spent))
                    break
            stop = starts[a + i + 1] if i + 1 < n else end
            spent[states[a + i]] += stop - starts[a + i]
    return {
        "gkey": np.array(gkey, dtype=np.int64),
        "group_off": np.array(group_off, dtype=np.int64),
        "checkpoints": np.array(rows, dtype=np.int64).reshape(-1, N_STATES),
    }


@pytest.fixture(scope="module")
def small(sample_store: StateStore) -> tuple[Columns, list[int], int]:
    result = sample_store.to_result()
    for lane in result.lanes:  # a few hundred intervals per lane: the naive rebuild is quick
        keep = min(len(lane.starts), 300)
        lane.starts, lane.states = lane.starts[:keep], lane.states[:keep]
        lane.exit_reasons, lane.evidence = lane.exit_reasons[:keep], lane.evidence[:keep]
        lane.end_ns = lane.starts[-1] + 1000 if keep else lane.end_ns
    store = StateStore.from_result(result, checkpoint_every=EVERY)
    ends = [r.end_ns for r in store.records]
    return dict(store.columns()), ends, len(store.evidence_table)


def _accepted(columns: Columns, ends: list[int], n_evidence: int) -> bool:
    try:
        check_columns(columns, np.array(ends, dtype=np.int64), n_evidence, EVERY)
    except CacheInvalid:
        return False
    return True


def _matches(columns: Columns, ends: list[int]) -> bool:
    want = naive_derived(columns, ends, EVERY)
    return all(
        columns[name].shape == want[name].shape and np.array_equal(columns[name], want[name])
        for name in want
    )


def test_the_builder_and_the_naive_rebuild_agree(small: tuple[Columns, list[int], int]) -> None:
    columns, ends, n_evidence = small
    assert _matches(columns, ends) and _accepted(columns, ends, n_evidence)
    assert len(columns["starts"]) > 1000 and len(ends) > 1


def _mutate(rng: random.Random, columns: Columns) -> str:
    name = rng.choice(["gkey", "gkey", "group_off", "checkpoints", "states", "states"])
    flat = columns[name].reshape(-1)
    i = rng.randrange(flat.size)
    how = rng.choice(["swap", "bump", "value", "copy"])
    if how == "swap" and i + 1 < flat.size:
        flat[i], flat[i + 1] = flat[i + 1].copy(), flat[i].copy()
    elif how == "bump":
        inside = 0 < flat[i] < np.iinfo(flat.dtype).max
        flat[i] = int(flat[i]) + rng.choice([-1, 1]) if inside else 1
    elif how == "copy":
        flat[i] = flat[rng.randrange(flat.size)]
    else:
        top = N_STATES if name == "states" else int(flat.max()) + 2
        flat[i] = rng.randrange(top)
    return f"{name}[{i}] {how}"


def test_mutated_columns_are_accepted_exactly_when_they_are_right(
    small: tuple[Columns, list[int], int],
) -> None:
    original, ends, n_evidence = small
    rng = random.Random(13)
    verdicts = {True: 0, False: 0}
    for _ in range(CASES):
        columns = {name: array.copy() for name, array in original.items()}
        what = [_mutate(rng, columns) for _ in range(rng.choice([1, 1, 2]))]
        accepted = _accepted(columns, ends, n_evidence)
        assert accepted == _matches(columns, ends), what
        verdicts[accepted] += 1
    assert verdicts[False] > CASES // 2 and verdicts[True] > 10  # both sides exercised


def test_checkpoints_shifted_together_are_refused(small: tuple[Columns, list[int], int]) -> None:
    """Rows that all differ right from each other, but do not start at zero."""
    original, ends, n_evidence = small
    columns = {name: array.copy() for name, array in original.items()}
    sizes = np.diff(columns["lane_off"])
    first_lane_rows = int(-(-sizes[0] // EVERY) + 1)
    columns["checkpoints"][:first_lane_rows, 2] += 1
    assert not _matches(columns, ends) and not _accepted(columns, ends, n_evidence)


def test_group_offsets_whose_differences_wrap_around_are_refused(
    small: tuple[Columns, list[int], int],
) -> None:
    """Differences of 2**62 each add up to n modulo 2**64: the offsets must rise."""
    original, ends, n_evidence = small
    columns = {name: array.copy() for name, array in original.items()}
    n = int(columns["lane_off"][1])
    crafted = [0, 2**62, -(2**63), -(2**62)] + [n] * (N_STATES - 3)
    columns["group_off"][0] = np.array(crafted, dtype=np.int64)
    assert not _accepted(columns, ends, n_evidence)

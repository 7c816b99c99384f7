"""Search by tid and thread name, combined terms and durations, VM scoping, and the
results list (issue 12.6), checked against the store's own intervals."""

from __future__ import annotations

import pytest

from w2a_tui.errors import W2AError
from w2a_tui.model import State
from w2a_tui.store import Interval, StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.screens.results import ResultsScreen
from w2a_tui.tui.view.search import Matches, parse_query
from w2a_tui.tui.widgets.timeline import Timeline


@pytest.fixture(scope="module")
def store(sample_store: StateStore) -> StateStore:
    return sample_store


def every(store: StateStore) -> list[Interval]:
    return [iv for lane in range(len(store.lanes)) for iv in store.intervals(lane, 0, 2**62)]


def found(store: StateStore, text: str) -> set[tuple[int, int]]:
    matches = Matches(store, parse_query(text, store))
    return {(iv.lane, iv.start) for iv in matches.in_time_order(10**9)}


def test_combined_terms_are_all_required(store: StateStore) -> None:
    want = {
        (iv.lane, iv.start)
        for iv in every(store)
        if iv.state is State.PREEMPTED
        and iv.evidence is not None
        and "cc1" in iv.evidence.next_comm
    }
    assert want and found(store, "preempt cc1") == want


def test_durations_filter_the_intervals(store: StateStore) -> None:
    disk = [iv for iv in every(store) if iv.state is State.WAIT_DISK]
    long = {(iv.lane, iv.start) for iv in disk if iv.duration > 5_000_000}
    short = {(iv.lane, iv.start) for iv in disk if iv.duration < 1_000_000}
    assert long and short
    assert found(store, "disk >5ms") == long
    assert found(store, "disk <1ms") == short


def test_a_tid_finds_its_lane_or_where_it_woke_or_preempted(store: StateStore) -> None:
    vcpu = store.lanes[2]
    assert found(store, str(vcpu.tid)) == {(2, iv.start) for iv in every(store) if iv.lane == 2}
    want = {
        (iv.lane, iv.start)
        for iv in every(store)
        if iv.evidence is not None
        and 6100 in (iv.evidence.waker_tid, iv.evidence.emitter_tid, iv.evidence.next_tid)
    }
    assert want and found(store, "6100") == want


def test_a_vm_name_scopes_lanes_and_thread_names(store: StateStore) -> None:
    db = next(vm for vm in store.vms if vm.name.endswith("db01"))
    lanes = set(store.lanes_of_vm(db.pid))
    net = found(store, "db01 wait")
    assert net and {lane for lane, _ in net} <= lanes
    db_vcpu_tids = {store.lanes[i].tid for i in lanes}
    scoped = found(store, "db01 CPU 2/KVM")
    everyone = found(store, "CPU 2/KVM")
    assert scoped and scoped < everyone
    by_start = {(iv.lane, iv.start): iv for iv in every(store)}
    for key in scoped:
        ev = by_start[key].evidence
        assert ev is not None
        assert {ev.waker_tid, ev.emitter_tid, ev.next_tid} & db_vcpu_tids


def test_terms_that_exclude_each_other_are_refused(store: StateStore) -> None:
    with pytest.raises(W2AError):
        parse_query("disk net", store)


async def test_l_lists_the_matches_and_enter_jumps(store: StateStore) -> None:
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"disk >5ms", "enter")
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        first = screen.found[:3]
        assert [iv.start for iv in first] == sorted(iv.start for iv in first)
        assert all(iv.duration > 5_000_000 for iv in screen.found)
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        tl = app.screen.query_one(Timeline)
        assert (tl.lane, tl.cursor) == (first[2].lane, first[2].start)

"""The per-pCPU view (issue 12.1): host CPU lanes built in the same pass as the analysis,
kept in a store of their own (cached beside the vCPU cache), and `p` in the TUI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Static

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.analysis.pcpu import HOST_LOOK, IDLE_LOOK, PCPU_LANE_VM, Occupancy, vm_look
from w2a_tui.model import State
from w2a_tui.pipeline import load_store
from w2a_tui.store import StateStore
from w2a_tui.store.pcpu import cpu_running, load_pcpu
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.widgets.timeline import Timeline


@pytest.fixture(scope="module")
def store(sample_store: StateStore) -> StateStore:
    return sample_store


def _pcpu(store: StateStore) -> StateStore:
    assert store.pcpu is not None
    return store.pcpu


def _time_of_thread(pcpu: StateStore, tid: int) -> dict[Occupancy, int]:
    spent = dict.fromkeys(Occupancy, 0)
    for lane in range(len(pcpu.lanes)):
        for iv in pcpu.intervals(lane, pcpu.start_ns, pcpu.end_ns):
            if iv.evidence is not None and iv.evidence.next_tid == tid:
                spent[Occupancy(iv.exit_reason)] += iv.duration
    return spent


def test_one_lane_per_host_cpu_in_cpu_order(store: StateStore) -> None:
    pcpu = _pcpu(store)
    assert [lane.vcpu for lane in pcpu.lanes] == sorted(store.meta.cpus or range(6))[:6]
    assert all(lane.vm_pid == PCPU_LANE_VM for lane in pcpu.lanes)
    assert pcpu.end_ns == store.end_ns


def test_each_vcpus_guest_time_is_found_on_the_pcpus(store: StateStore) -> None:
    """The two views agree: a vCPU's guest time equals its threads' guest time summed over
    every host CPU; its hypervisor time there is at most the vCPU lane's (interrupts taken
    while it was in the hypervisor are drawn as irq on the pCPU)."""
    pcpu = _pcpu(store)
    for lane in store.lanes:
        totals = store.totals(lane.index)
        spent = _time_of_thread(pcpu, lane.tid)
        assert spent[Occupancy.GUEST] == totals[State.GUEST]
        hyp = int(totals[State.HYPERVISOR])
        assert 0.97 * hyp <= spent[Occupancy.HYPERVISOR] <= hyp


def test_looks_colour_each_vm_and_keep_host_threads_neutral(store: StateStore) -> None:
    pcpu = _pcpu(store)
    pids = [vm.pid for vm in store.vms]
    assert len({vm_look(pids, pid) for pid in pids}) == len(pids)
    for lane in range(len(pcpu.lanes)):
        for iv in pcpu.intervals(lane, pcpu.start_ns, pcpu.start_ns + 50_000_000):
            ev = iv.evidence
            assert ev is not None
            what = Occupancy(iv.exit_reason)
            if what in (Occupancy.GUEST, Occupancy.HYPERVISOR):
                assert iv.state == vm_look(pids, ev.emitter_tid) and ev.vector >= 0
            elif what is Occupancy.THREAD:
                assert iv.state == HOST_LOOK and ev.emitter_tid == -1
            elif what is Occupancy.IDLE:
                assert iv.state == IDLE_LOOK and ev.next_tid == 0


def test_the_pcpu_lanes_are_cached_beside_the_store(tmp_path: Path) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    fresh, hit = load_store(trace)
    assert not hit and fresh.pcpu is not None
    again, hit = load_store(trace)
    assert hit and again.pcpu is not None
    for name, column in fresh.pcpu.columns().items():
        assert np.array_equal(column, again.pcpu.columns()[name]), name
    sidecar = next(tmp_path.glob("*.w2a-cache.pcpu"))
    sidecar.write_bytes(sidecar.read_bytes()[:100])  # damaged: analysed again, not trusted
    assert load_pcpu(trace) is None
    third, hit = load_store(trace)
    assert not hit and third.pcpu is not None


async def test_p_toggles_keeping_time_and_window_and_follows_the_thread(
    store: StateStore,
) -> None:
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        await pilot.press("w", "w", "w", *["right"] * 40)
        guest = store.next_transition(tl.lane, tl.cursor, {State.GUEST})
        assert guest is not None
        tl.goto(guest.start + guest.duration // 2)
        await pilot.pause()
        lane = store.lanes[tl.lane]
        here = tl.interval_under_cursor()
        assert here is not None and here.state in (State.GUEST, State.HYPERVISOR)
        cursor, window = tl.cursor, tl.window
        await pilot.press("p")
        await pilot.pause()
        assert tl.pcpu and tl.state is not None and tl.state.pcpu
        assert (tl.cursor, tl.window) == (cursor, window)
        cpu = cpu_running(_pcpu(store), lane.tid, cursor)
        assert cpu is not None and tl.store.lanes[tl.lane].vcpu == cpu
        status = str(app.screen.query_one("#status", Static).render())
        assert f"pCPU {cpu}" in status and lane.comm in status
        legend = str(app.screen.query_one("#legend", Static).render())
        assert all(vm.name in legend for vm in store.vms) and "host thread" in legend
        await pilot.press("enter")
        await pilot.pause()
        details = str(app.screen.query_one("#details", Static).render())
        assert f"on pCPU {cpu}" in details and str(lane.tid) in details
        await pilot.press("p")
        await pilot.pause()
        assert not tl.pcpu and tl.lane == lane.index and tl.cursor == cursor
        details = str(app.screen.query_one("#details", Static).render())
        assert f"on pCPU {cpu}" in details  # the vCPU's drill-down names its host CPU


async def test_a_bookmark_set_in_the_pcpu_view_returns_to_the_vcpu_lane(
    store: StateStore,
) -> None:
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        await pilot.press("down", "down", "w", *["right"] * 9)
        lane, t = tl.lane, tl.cursor
        await pilot.press("p", "down", "m", "p", "up", "b", "enter")
        await pilot.pause()
        assert not tl.pcpu and (tl.lane, tl.cursor) == (lane, t)

"""pCPU lanes of a trace without kvm_entry/kvm_exit (the real PVM host trace): a vCPU
thread's time on a host CPU is `running`, as on its vCPU lane, never called hypervisor,
and it adds up to the vCPU lane's `running` time. A vCPU of an unidentified VM (no pid
known: negative pid) is still a vCPU there."""

from __future__ import annotations

import pytest

from tests.support.paths import REAL_FTRACE
from w2a_tui.analysis.pcpu import Occupancy
from w2a_tui.model import State
from w2a_tui.pipeline import load_store
from w2a_tui.store import StateStore
from w2a_tui.tui.view.pcpu import describe_pcpu, occupancy, occupant_text

PVM = REAL_FTRACE / "pvm-minivm-2vcpu" / "trace.dat"


@pytest.fixture(scope="module")
def store() -> StateStore:
    store, _ = load_store(PVM, use_cache=False)
    return store


def _time_per_occupancy(pcpu: StateStore, tid: int) -> dict[Occupancy, int]:
    spent = dict.fromkeys(Occupancy, 0)
    for lane in range(len(pcpu.lanes)):
        for iv in pcpu.intervals(lane, pcpu.start_ns, pcpu.end_ns):
            if iv.evidence is not None and iv.evidence.next_tid == tid:
                spent[occupancy(iv)] += iv.duration
    return spent


def test_vcpu_threads_run_on_the_pcpus_as_running(store: StateStore) -> None:
    pcpu = store.pcpu
    assert pcpu is not None
    assert [lane.vcpu for lane in store.lanes] == [0, 1]
    for lane in store.lanes:
        spent = _time_per_occupancy(pcpu, lane.tid)
        assert spent[Occupancy.HYPERVISOR] == spent[Occupancy.GUEST] == 0
        totals = store.totals(lane.index)
        running = int(totals[State.RUNNING])
        assert running > 0
        # Interrupts taken while the thread ran are drawn as irq/softirq on the pCPU; the
        # vCPU lane is `unknown` before the thread's first KVM event.
        assert 0.9 * running <= spent[Occupancy.RUNNING] <= running + totals[State.UNKNOWN]


def test_the_status_and_drill_down_say_running(store: StateStore) -> None:
    pcpu = store.pcpu
    assert pcpu is not None
    tid = store.lanes[0].tid
    iv = next(
        iv
        for lane in range(len(pcpu.lanes))
        for iv in pcpu.intervals(lane, pcpu.start_ns, pcpu.end_ns)
        if iv.evidence is not None and iv.evidence.next_tid == tid
    )
    assert occupant_text(iv, {}).endswith("vCPU 0, running)")
    text = describe_pcpu(iv, 0, {}, pcpu.start_ns).plain
    assert "guest or hypervisor: the trace has no kvm_entry/kvm_exit" in text

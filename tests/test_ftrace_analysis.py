"""The real KVM-host ftrace trace analysed (pvm-minivm-2vcpu, issue 10 item 4), from its
trace.dat and from its text alike.

That host's KVM (PVM) emits no kvm_entry/kvm_exit/kvm_inj_virq: vCPU threads are found by
their other KVM events, on-CPU time is `running`, a wait is a blocking switch-out ended by
kvm_vcpu_wakeup, and the device vectors are learned from what woke the thread that
delivered them (the guest's README: LAPIC timer 0x40 and IPIs 0x41 on vCPU 0, IPIs on both,
disk MSI 0x42 on vCPU 1 after real O_DIRECT reads, net MSI 0x43 on vCPU 0 after real UDP).
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from functools import cache

import pytest

from tests.support.paths import REAL_FTRACE
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.events import ACCEPT_APICID, ACCEPT_VECTOR, EventKind
from w2a_tui.model import WAIT_STATES, AnalysisResult, State
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore
from w2a_tui.trace import open_trace
from w2a_tui.tui.view.details import describe, thread_roles

PVM = REAL_FTRACE / "pvm-minivm-2vcpu"
FILES = {"dat": PVM / "trace.dat", "text": PVM / "trace.txt.xz"}
VCPU_THREADS = {0: 31788, 1: 31789}


def _event_count(name: str) -> int:
    for line in (PVM / "event_counts.txt").read_text().splitlines():
        count, event = line.split()
        if event.rstrip(":") == name:
            return int(count)
    raise AssertionError(f"{name} not in event_counts.txt")


@cache
def _analysed(name: str) -> AnalysisResult:
    return analyze_trace(FILES[name])


@pytest.fixture(scope="module", params=sorted(FILES))
def result(request: pytest.FixtureRequest) -> AnalysisResult:
    return _analysed(request.param)


@pytest.fixture(scope="module")
def accepts() -> dict[int, list[int]]:
    """Times of the kvm_apic_accept_irq events per APIC id (from the binary trace)."""
    out: dict[int, list[int]] = {}
    kinds = frozenset({EventKind.KVM_APIC_ACCEPT_IRQ})
    for batch in open_trace(FILES["dat"]).iter_batches(kinds):
        for ev in batch:
            if ev[2] == EventKind.KVM_APIC_ACCEPT_IRQ:
                out.setdefault(ev[ACCEPT_APICID], []).append(ev[0])
                assert ev[ACCEPT_VECTOR] in (0x40, 0x41, 0x42, 0x43)
    return out


def _waits(result: AnalysisResult, vcpu: int) -> Counter[str]:
    lane = next(x for x in result.lanes if x.vcpu == vcpu)
    return Counter(State(s).label for s in lane.states if State(s) in WAIT_STATES)


def test_one_vm_with_two_vcpu_lanes(result: AnalysisResult) -> None:
    assert len(result.vms) == 1
    assert [(x.vcpu, x.tid) for x in result.lanes] == sorted(VCPU_THREADS.items())
    assert {x.vm_pid for x in result.lanes} == {result.vms[0].pid}
    # No tgids and no fork events: a pseudo VM, and the warning says so.
    assert result.vms[0].pid < 0
    assert any("unidentified VMs" in w for w in result.warnings)


def test_on_cpu_time_is_running_and_the_partial_event_set_is_said_once(
    result: AnalysisResult,
) -> None:
    for lane in result.lanes:
        states = {State(s) for s in lane.states}
        assert State.RUNNING in states
        assert not states & {State.GUEST, State.HYPERVISOR}
        assert all(e < 0 for e in lane.exit_reasons)
    limits = [w for w in result.warnings if "no kvm_entry/kvm_exit" in w]
    assert len(limits) == 1 and "running" in limits[0] and "kvm:kvm_entry" in limits[0]


def test_vectors_are_learned_from_what_caused_their_delivery(result: AnalysisResult) -> None:
    vm = result.vms[0]
    assert vm.disk_vectors == [0x42] and vm.net_vectors == [0x43]
    chains = {line.split()[0]: line for line in vm.vector_chains}
    assert chains["0x40"].startswith("0x40 timer <- vCPU 0 itself, tid 31788 <- hrtimer")
    assert chains["0x41"].startswith("0x41 task <- vCPU ")
    # The disk thread was woken by the block completion, the net thread by the receive.
    assert chains["0x42"].startswith("0x42 disk <- minivm tid 31790 <- BLOCK softirq on CPU")
    assert chains["0x43"].startswith("0x43 net <- minivm tid 31791 <- NET_RX softirq on CPU")


def test_each_vcpu_waits_for_what_the_guest_routes_to_it(result: AnalysisResult) -> None:
    vcpu0, vcpu1 = _waits(result, 0), _waits(result, 1)
    known0 = {k for k in vcpu0 if k != "wait_unknown"}
    known1 = {k for k in vcpu1 if k != "wait_unknown"}
    assert known0 == {"wait_timer", "wait_task", "wait_net"}
    assert known1 == {"wait_task", "wait_disk"}
    # Guest counters (minivm.log): 1471 timer ticks, 1159 net MSIs on vCPU 0, 1849 disk
    # MSIs on vCPU 1; a wait ends at the first of them, others arrive while it runs.
    assert 1300 <= vcpu0["wait_timer"] <= 1471
    assert 1000 <= vcpu0["wait_net"] <= 1159
    assert 1600 <= vcpu1["wait_disk"] <= 1849
    assert vcpu0["wait_unknown"] + vcpu1["wait_unknown"] <= 6


def test_waits_match_the_kvm_vcpu_wakeup_count(result: AnalysisResult) -> None:
    waits = sum(sum(_waits(result, vcpu).values()) for vcpu in VCPU_THREADS)
    wakeups = _event_count("kvm_vcpu_wakeup")
    assert abs(waits - wakeups) <= 0.02 * wakeups, (waits, wakeups)


def test_no_wait_is_unknown_when_an_accept_for_it_precedes_its_wake_up(
    result: AnalysisResult, accepts: dict[int, list[int]]
) -> None:
    checked = 0
    for lane in result.lanes:
        times = accepts[lane.vcpu]
        for i in range(len(lane)):
            if State(lane.states[i]) not in WAIT_STATES or lane.evidence[i] < 0:
                continue
            woken = result.evidence[lane.evidence[i]].wakeup_ns
            if woken < 0:
                continue  # still waiting at the end of the trace
            # The text trace has µs times: allow for its rounding.
            first = bisect.bisect_left(times, lane.starts[i] - 1000)
            if first < len(times) and times[first] <= woken + 1000:
                checked += 1
                assert State(lane.states[i]) is not State.WAIT_UNKNOWN, (lane.vcpu, i)
    assert checked > 3000


def test_drill_down_shows_the_delivery_chain_of_a_disk_and_a_net_wait(
    result: AnalysisResult,
) -> None:
    store = StateStore.from_result(result)
    roles = thread_roles(store)
    shown = {}
    for index, lane in enumerate(store.lanes):
        for state, words in ((State.WAIT_DISK, "BLOCK softirq"), (State.WAIT_NET, "NET_RX")):
            iv = store.find(index, store.start_ns, states=[state])
            if iv is None:
                continue
            text = describe(iv, lane, store.vms[0], store.start_ns, roles=roles).plain
            assert "learned: 0x4" in text and words in text, text
            shown[state] = text
    assert set(shown) == {State.WAIT_DISK, State.WAIT_NET}


def test_export_of_trace_dat_and_text_give_the_same_rows() -> None:
    """Every row and cell equal; the text prints µs, so times compare as it prints them."""

    def rows(name: str) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for row in export_rows(_analysed(name)):
            start, end = (row[4] + 500) // 1000, (row[5] + 500) // 1000
            out.append((*row[:4], start, end, *row[6:]))
        return out

    dat, text = rows("dat"), rows("text")
    assert len(dat) > 20000
    assert dat == text


def test_analyze_and_info_say_what_the_trace_cannot_tell_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["info", "--json", str(FILES["dat"])]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["w2a"]["usable"] is True
    assert [x["key"] for x in report["w2a"]["limits"]] == ["no-entry-exit"]
    assert main(["analyze", "--no-cache", str(FILES["dat"])]) == 0
    out = capsys.readouterr().out
    assert "no kvm_entry/kvm_exit" in out and "running" in out

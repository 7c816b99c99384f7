"""What the drill-down, the summary, `analyze` and the exports say about a wait's cause,
checked on the rendered text: a wait the trace ended in is "still waiting", not woken for
no reason; a thread an interrupt happened to interrupt is not its sender; a waker's
context is not confused with the `task` wait reason; distinct threads show their tids."""

from __future__ import annotations

from rich.console import Console

from tests.support.host import RUNNING, SLEEPING, Host
from w2a_tui.analysis.report import render_report
from w2a_tui.analysis.rows import EXPORT_COLUMNS, export_rows
from w2a_tui.analysis.totals import compute_totals, totals_to_json
from w2a_tui.analysis.wording import in_context, interrupt_name, short_cause
from w2a_tui.model import AnalysisResult
from w2a_tui.store import Interval, StateStore
from w2a_tui.tui.screens.summary import cause_text
from w2a_tui.tui.view.details import describe

VM, V0, V1, VHOST, VHOST2, CC1 = 100, 101, 102, 104, 105, 6100
HLT = 12


def _trace() -> AnalysisResult:
    """vCPU 0: a timer wait (the hrtimer fires on CPU 3 while cc1 runs there), then
    preempted by two vhost workers with one comm, then asleep until the trace ends.
    vCPU 1: a net wait woken by vhost in task context."""
    h = Host().thread(VM, VM, "qemu:db01").thread(V0, VM, "CPU 0/KVM")
    h.thread(V1, VM, "CPU 1/KVM").thread(VHOST, VM, "vhost-100").thread(VHOST2, VM, "vhost-100")
    h.thread(CC1, CC1, "cc1")
    h.runs(0, 0).runs(1, 0).runs(2, VHOST).runs(3, CC1).mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    h.switch(21, 0, V0, SLEEPING, 0)
    h.switch(10, 1, 0, RUNNING, V1).entry(11, 1, V1, 1).exit(20, 1, V1, HLT)
    h.switch(21, 1, V1, SLEEPING, 0)
    h.accept(30, 2, VHOST, 1, 0x51).waking(31, 2, VHOST, V1)
    h.switch(35, 1, 0, RUNNING, V1).entry(36, 1, V1, 1)
    h.hrtimer_entry(40, 3).accept(41, 3, -1, 0, 0xEC).waking(42, 3, -1, V0).hrtimer_exit(43, 3)
    h.switch(50, 0, 0, RUNNING, V0).inj(51, 0, V0, 0xEC).entry(52, 0, V0, 0)
    h.switch(55, 0, V0, RUNNING, VHOST).switch(57, 0, VHOST, SLEEPING, V0).entry(58, 0, V0, 0)
    h.switch(60, 0, V0, RUNNING, VHOST2).switch(63, 0, VHOST2, SLEEPING, V0)
    h.entry(64, 0, V0, 0).exit(70, 0, V0, HLT).switch(71, 0, V0, SLEEPING, 0)
    return h.mark(1000).analyze()


def _at(store: StateStore, lane: int, t: int) -> tuple[Interval, str]:
    iv = store.interval_at(lane, t)
    assert iv is not None
    text = describe(iv, store.lanes[lane], store.vms[0], store.start_ns).plain
    return iv, text


def test_a_timer_wait_names_the_interrupt_not_the_thread_it_interrupted() -> None:
    store = StateStore.from_result(_trace())
    iv, text = _at(store, 0, 30)
    assert "wait_timer" in text
    assert "interrupt sent from hrtimer interrupt on CPU 3 (interrupting cc1 (tid 6100))" in text
    assert "woken by hrtimer interrupt on CPU 3 (interrupting cc1 (tid 6100)) at" in text
    assert "emitted by" not in text and "in hrtimer context" not in text
    assert cause_text(iv).endswith("woken by hrtimer interrupt on CPU 3")
    assert "cc1" not in cause_text(iv)


def test_a_waker_in_task_context_is_a_thread_not_a_reason() -> None:
    store = StateStore.from_result(_trace())
    iv, text = _at(store, 1, 25)
    assert "wait_net" in text
    assert "woken by vhost-100 (tid 104) in task context at" in text
    assert "interrupt sent by vhost-100 (tid 104) in task context" in text
    assert cause_text(iv).endswith("woken by vhost-100 (thread)")
    assert "(task)" not in cause_text(iv)


def test_a_wait_the_trace_ended_in_is_still_waiting() -> None:
    result = _trace()
    store = StateStore.from_result(result)
    iv, text = _at(store, 0, 500)
    assert "wait_unknown" in text
    assert "still waiting when the trace ended" in text
    assert "rule 4" not in text and "why it woke" not in text
    assert cause_text(iv) == "still waiting when the trace ended"
    rows = [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in export_rows(result)]
    last = [r for r in rows if r["vcpu"] == 0][-1]
    assert (last["state"], last["source"], last["start_ns"]) == ("wait_unknown", "open", 71)


def _report(result: AnalysisResult) -> str:
    console = Console(record=True, width=80, color_system=None)
    render_report(compute_totals(result), result.meta, console)
    return console.export_text()


def test_analyze_says_which_waits_were_open_and_which_threads_preempted() -> None:
    result = _trace()
    text = _report(result)
    assert "still waiting when the trace ended" in text
    preempted = text[text.index("Preempted by:") :]
    assert "vhost-100 (tid 104)" in preempted and "vhost-100 (tid 105)" in preempted
    vm = totals_to_json(compute_totals(result))["vms"][0]
    assert vm["still_waiting_ns"] == 1000 - 71
    assert [v["still_waiting_ns"] for v in vm["vcpus"]] == [1000 - 71, 0]


def test_context_phrases() -> None:
    assert interrupt_name("softirq:NET_RX") == "NET_RX softirq"
    assert interrupt_name("irq:42:virtio1-req.0") == "irq 42 (virtio1-req.0)"
    assert in_context("swapper/3", "hrtimer", -1) == "hrtimer interrupt (interrupting swapper/3)"
    assert in_context("kworker/1:1 (tid 50)", "task", 1) == "kworker/1:1 (tid 50) in task context"
    assert short_cause("IO iothread0", "task", 2) == "IO iothread0 (thread)"
    assert short_cause("qemu:db01", "", -1) == "qemu:db01"

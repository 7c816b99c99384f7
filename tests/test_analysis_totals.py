"""Totals (from a result alone), the verdict, the rich report and `w2a-tui analyze`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from tests.support.host import RUNNING, SLEEPING, Host
from tests.support.paths import REAL_TRACES
from w2a_tui.analysis.report import render_report
from w2a_tui.analysis.totals import DECADES, WaitStats, compute_totals, totals_to_json
from w2a_tui.cli import main
from w2a_tui.errors import EXIT_NO_KVM
from w2a_tui.model import AnalysisResult

VM, V0, V1, STRESS, KWORKER = 100, 101, 102, 60, 50


def _two_vcpus() -> AnalysisResult:
    """vCPU 0: guest 0-10 (unknown before), HLT, wait_timer 11-40, ready 40-50, hyp 50-52,
    guest 52-100. vCPU 1: guest 5-20, EPT exit, preempted by stress-ng 21-81 then by
    kworker 83-93, guest to 100."""
    h = Host()
    h.thread(VM, VM, "qemu-system-x86").thread(V0, VM, "CPU 0/KVM").thread(V1, VM, "CPU 1/KVM")
    h.thread(STRESS, STRESS, "stress-ng").thread(KWORKER, KWORKER, "kworker/1:1")
    h.runs(0, V0).runs(1, V1).runs(2, 0).mark(0)
    h.entry(1, 0, V0, 0).exit(10, 0, V0, 12).switch(11, 0, V0, SLEEPING, 0)
    h.waking(40, 2, 0, V0).switch(50, 0, 0, RUNNING, V0).inj(51, 0, V0, 0xEC).entry(52, 0, V0, 0)
    h.entry(5, 1, V1, 1).exit(20, 1, V1, 48).switch(21, 1, V1, RUNNING, STRESS)
    h.switch(81, 1, STRESS, SLEEPING, V1).exit(82, 1, V1, 48)
    h.switch(83, 1, V1, RUNNING, KWORKER).switch(93, 1, KWORKER, SLEEPING, V1)
    h.entry(94, 1, V1, 1).mark(100)
    return h.analyze()


def test_time_per_state_and_exits_per_vcpu() -> None:
    totals = compute_totals(_two_vcpus())
    (vm,) = totals.vms
    v0, v1 = vm.vcpus
    assert v0.span_ns == 99  # [1, 100): the unknown head is not counted
    assert v0.time_by_state["guest"] == 9 + 48
    assert v0.time_by_state["wait_timer"] == 29
    assert v0.time_by_state["ready"] == 10
    assert v0.wait_by_reason == {"timer": 29, "task": 0, "disk": 0, "net": 0, "unknown": 0}
    assert v1.time_by_state["preempted"] == 60 + 10
    assert v1.exits == {48: 2}
    assert vm.exits == {48: 2, 12: 1}
    assert vm.time_by_state["guest"] == 57 + (15 + 6)


def test_top_preemptors_ranked_by_time() -> None:
    (vm,) = compute_totals(_two_vcpus()).vms
    top = vm.vcpus[1].top_preemptors
    assert [(p.comm, p.tid, p.time_ns, p.count) for p in top] == [
        ("stress-ng", STRESS, 60, 1),
        ("kworker/1:1", KWORKER, 10, 1),
    ]
    assert vm.top_preemptors[0].comm == "stress-ng"


def test_verdict_names_the_worst_preempted_vcpu_and_its_preemptor() -> None:
    (vm,) = compute_totals(_two_vcpus()).vms
    # vCPU 1 was preempted 70 of its 95 known ns.
    assert vm.verdict == (
        "vCPU 1 spent 74 % of its time preempted by host threads, mostly stress-ng."
    )


def test_wait_distribution_and_decade_histogram() -> None:
    import numpy as np

    durations = np.array([500, 5_000, 5_000, 2_000_000, 3_000_000_000], dtype=np.int64)
    stats = WaitStats.of(durations)
    assert (stats.count, stats.total_ns, stats.max_ns) == (5, 3_002_010_500, 3_000_000_000)
    assert stats.p50_ns == 5_000
    assert stats.histogram == {
        "<1us": 1,
        "1-10us": 2,
        "10-100us": 0,
        "0.1-1ms": 0,
        "1-10ms": 1,
        "10-100ms": 0,
        "0.1-1s": 0,
        ">=1s": 1,
    }
    assert list(WaitStats.of(np.zeros(0, np.int64)).histogram) == [label for _, label in DECADES]


def test_json_totals_are_plain_and_complete() -> None:
    data = totals_to_json(compute_totals(_two_vcpus()))
    text = json.dumps(data)
    assert json.loads(text) == data
    vm = data["vms"][0]
    assert vm["exits"][0] == {"reason": 48, "name": "EPT_VIOLATION", "count": 2}
    assert [v["vcpu"] for v in vm["vcpus"]] == [0, 1]
    assert vm["vcpus"][0]["waits"]["count"] == 1


def test_report_fits_80_columns() -> None:
    result = _two_vcpus()
    console = Console(width=80, record=True, color_system=None)
    render_report(compute_totals(result), result.meta, console)
    text = console.export_text()
    assert "vCPU 1 spent 74 %" in text
    assert any(line.split() == ["48", "EPT_VIOLATION", "2"] for line in text.splitlines())
    assert max(len(line) for line in text.splitlines()) <= 80


def _generated(tmp_path: Path, scenario: str) -> Path:
    out = tmp_path / scenario
    assert main(["generate", str(out), "--scenario", scenario, "--seconds", "0.3"]) == 0
    return out


def test_analyze_command_on_a_preempted_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _generated(tmp_path, "preempt")
    assert main(["analyze", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "VM qemu-system-x86" in out and "preempted" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert main(["analyze", "--json", str(trace)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["vms"] and all(vm["verdict"] for vm in data["vms"])
    preempted = sum(v["time_by_state_ns"]["preempted"] for vm in data["vms"] for v in vm["vcpus"])
    assert preempted > 0


@pytest.mark.parametrize("command", ["analyze", "export"])
def test_traces_without_kvm_get_one_sentence_and_status_3(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = REAL_TRACES / "tracevizlab-simple-kernel"
    assert main([command, str(trace)]) == EXIT_NO_KVM
    err = capsys.readouterr().err
    assert err.startswith("w2a-tui: No KVM vCPU activity in this trace")
    assert "kvm_entry" in err and "lttng enable-event" in err
    assert err.count("\n") == 1

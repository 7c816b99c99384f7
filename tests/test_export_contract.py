"""Export cells the contract pins down and the simulator never exercises: unnamed VMs,
0 versus empty, numeric (not textual) sort order, `source` only on waits."""

from __future__ import annotations

import csv
import io
import json

from tests.support.host import RUNNING, SLEEPING, Host
from w2a_tui.analysis.rows import export_rows
from w2a_tui.commands.export import write_csv, write_json
from w2a_tui.model import AnalysisResult


def _csv(result: AnalysisResult) -> list[dict[str, str]]:
    buffer = io.StringIO()
    write_csv(export_rows(result), buffer)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


def _json(result: AnalysisResult) -> list[dict[str, object]]:
    buffer = io.StringIO()
    write_json(export_rows(result), buffer)
    records: list[dict[str, object]] = json.loads(buffer.getvalue())
    return records


def test_a_vm_the_trace_never_names_has_an_empty_name() -> None:
    """Only vCPU threads appear (their comm is `CPU 0/KVM`, not the process comm)."""
    h = Host().thread(501, 500, "CPU 0/KVM").runs(0, 501).mark(0)
    h.entry(1, 0, 501, 0).exit(5, 0, 501, 48).mark(9)
    result = h.analyze()
    assert result.vms[0].name == "pid 500"  # what the screens show
    assert {r["vm_name"] for r in _csv(result)} == {""}
    assert {r["vm_name"] for r in _json(result)} == {None}


def test_zero_is_a_value_not_an_empty_cell() -> None:
    """Exit reason 0 (EXCEPTION_NMI) and the idle task (tid 0) as waker are real values."""
    h = Host().thread(100, 100, "qemu-kvm").thread(101, 100, "CPU 0/KVM")
    h.runs(0, 101).runs(1, 0).mark(0)
    h.entry(1, 0, 101, 0).exit(5, 0, 101, 0).switch(6, 0, 101, SLEEPING, 0)
    h.waking(10, 1, 0, 101).switch(20, 0, 0, RUNNING, 101).entry(21, 0, 101, 0).mark(30)
    rows = {r["state"]: r for r in _csv(h.analyze())}
    blocked = rows["blocked"]
    assert (blocked["exit_reason"], blocked["waker_tid"], blocked["waker_comm"]) == (
        "0",
        "0",
        "swapper/0",
    )
    assert (blocked["source"], blocked["vector"], blocked["next_comm"]) == ("", "", "")
    assert rows["hypervisor"]["exit_reason"] == "0"
    assert rows["ready"]["waker_tid"] == "0" and rows["ready"]["exit_reason"] == ""


def test_a_wait_without_evidence_says_none_and_no_vector() -> None:
    h = Host().thread(100, 100, "qemu-kvm").thread(101, 100, "CPU 0/KVM").runs(0, 101).mark(0)
    h.entry(1, 0, 101, 0).exit(5, 0, 101, 12).switch(6, 0, 101, SLEEPING, 0).mark(30)
    record = _json(h.analyze())[-1]
    assert (record["state"], record["source"], record["vector"], record["exit_reason"]) == (
        "wait_unknown",
        "none",
        None,
        12,
    )
    assert record["waker_tid"] is None and record["next_comm"] is None


def test_rows_sort_by_number_not_text() -> None:
    """VM 1000 after VM 200 and vCPU 10 after vCPU 2 (a text sort would invert both)."""
    h = Host().mark(0)
    lanes = [(1000, 1010, 10), (1000, 1002, 2), (200, 210, 10), (200, 202, 2)]
    for cpu, (pid, tid, vcpu) in enumerate(lanes):
        h.thread(tid, pid, f"CPU {vcpu}/KVM").runs(cpu, tid)
        h.entry(1 + cpu, cpu, tid, vcpu).exit(5 + cpu, cpu, tid, 30)
    h.mark(20)
    rows = _csv(h.analyze())
    order = [(r["vm_pid"], r["vcpu"]) for r in rows]
    assert list(dict.fromkeys(order)) == [
        ("200", "2"),
        ("200", "10"),
        ("1000", "2"),
        ("1000", "10"),
    ]
    starts = [int(r["start_ns"]) for r in rows if (r["vm_pid"], r["vcpu"]) == ("200", "10")]
    assert starts == sorted(starts)
    records = _json(h.analyze())
    assert all(isinstance(r["vm_pid"], int) and isinstance(r["start_ns"], int) for r in records)

"""`w2a-tui export`: the contract's columns and rules, CSV and JSON alike."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.host import RUNNING, SLEEPING, Host
from w2a_tui.analysis.rows import EXPORT_COLUMNS, export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv, write_json

VM, V0, STRESS = 100, 101, 60


def _rows() -> list[dict[str, str]]:
    h = Host()
    h.thread(VM, VM, "qemu-system-x86").thread(V0, VM, "CPU 0/KVM")
    h.thread(STRESS, STRESS, "stress-ng").runs(0, V0).runs(1, VM).mark(0)
    h.entry(1, 0, V0, 0).exit(10, 0, V0, 12).switch(11, 0, V0, SLEEPING, STRESS)
    h.accept(20, 1, VM, 0, 0x41).waking(21, 1, VM, V0)
    h.switch(30, 0, STRESS, RUNNING, V0).inj(31, 0, V0, 0x41).entry(32, 0, V0, 0)
    h.exit(40, 0, V0, 30).switch(41, 0, V0, RUNNING, STRESS).mark(50)
    buffer = io.StringIO()
    write_csv(export_rows(h.analyze()), buffer)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


def test_columns_and_cells_follow_the_contract() -> None:
    rows = _rows()
    by_state = {r["state"]: r for r in rows}
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [r["state"] for r in rows] == [
        "unknown",
        "guest",
        "hypervisor",
        "wait_disk",
        "ready",
        "hypervisor",
        "guest",
        "hypervisor",
        "preempted",
    ]
    wait = by_state["wait_disk"]
    assert (wait["source"], wait["vector"], wait["exit_reason"]) == ("inj_virq", "65", "12")
    assert (wait["waker_tid"], wait["waker_comm"]) == (str(VM), "qemu-system-x86")
    assert (wait["start_ns"], wait["end_ns"]) == ("11", "21")
    ready = by_state["ready"]
    assert (ready["source"], ready["vector"], ready["exit_reason"]) == ("", "", "")
    assert ready["waker_comm"] == "qemu-system-x86"
    assert (by_state["guest"]["exit_reason"], by_state["guest"]["source"]) == ("", "")
    assert by_state["unknown"]["exit_reason"] == ""
    preempted = by_state["preempted"]
    assert (preempted["next_comm"], preempted["exit_reason"]) == ("stress-ng", "30")
    assert preempted["waker_tid"] == "" and preempted["source"] == ""
    assert all(r["vm_name"] == "qemu-system-x86" and r["tid"] == str(V0) for r in rows)
    assert all(rows[i]["end_ns"] == rows[i + 1]["start_ns"] for i in range(len(rows) - 1))


def test_json_carries_the_same_fields_with_nulls_for_empty_cells() -> None:
    h = Host().thread(V0, VM, "CPU 0/KVM").runs(0, V0).mark(0)
    h.entry(1, 0, V0, 3).exit(5, 0, V0, 48).mark(9)
    result = h.analyze()
    text_csv, text_json = io.StringIO(), io.StringIO()
    write_csv(export_rows(result), text_csv)
    write_json(export_rows(result), text_json)
    records = json.loads(text_json.getvalue())
    csv_rows = list(csv.DictReader(io.StringIO(text_csv.getvalue())))
    assert len(records) == len(csv_rows) == 3
    for record, row in zip(records, csv_rows, strict=True):
        assert list(record) == list(EXPORT_COLUMNS)
        assert {k: ("" if v is None else str(v)) for k, v in record.items()} == row
    assert records[2]["exit_reason"] == 48 and records[1]["exit_reason"] is None


def test_export_command_writes_sorted_rows_to_a_file(tmp_path: Path) -> None:
    trace = tmp_path / "two"
    assert main(["generate", str(trace), "--scenario", "two-vms", "--seconds", "0.2"]) == 0
    out = tmp_path / "out.csv"
    assert main(["export", str(trace), "--format", "csv", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    keys = [(int(r["vm_pid"]), int(r["vcpu"]), int(r["start_ns"])) for r in rows]
    assert keys == sorted(keys)
    assert len({(k[0], k[1]) for k in keys}) == 4  # two VMs x two vCPUs, never mixed
    out_json = tmp_path / "out.json"
    assert main(["export", str(trace), "--format", "json", "-o", str(out_json)]) == 0
    assert len(json.loads(out_json.read_text())) == len(rows)


def test_export_to_a_directory_is_one_clear_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t"
    assert main(["generate", str(trace), "--scenario", "timer", "--seconds", "0.05"]) == 0
    assert main(["export", str(trace), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err

"""`w2a-tui info` on every real trace: its JSON equals the golden manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.paths import manifest_entry, real_trace, real_trace_names
from w2a_tui.cli import main


def _info_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["info", "--json", str(path)]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


@pytest.mark.parametrize("name", real_trace_names())
def test_info_json_matches_manifest(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = manifest_entry(name)
    report = _info_json(real_trace(name), capsys)
    assert report["counts"] == expected["counts"]
    assert report["cpus"] == expected["cpus"]
    assert report["first_ns"] == expected["first_ns"]
    assert report["last_ns"] == expected["last_ns"]
    assert report["events"] == expected["events"]
    assert report["discarded_events"] == expected["discarded_events"]
    assert report["env"] == expected["env"]
    # No real trace holds KVM events: info must say W2A cannot use them, and how to record.
    w2a = report["w2a"]
    assert isinstance(w2a, dict) and w2a["usable"] is False
    assert any("kvm_x86_entry" in c for c in w2a["record_commands"])


def test_info_canonical_names_for_old_tracers(capsys: pytest.CaptureFixture[str]) -> None:
    report = _info_json(real_trace("tc-bug446190"), capsys)
    names = report["canonical_names"]
    assert isinstance(names, dict)
    assert names["softirq_entry"] == "irq_softirq_entry"
    assert names["hrtimer_expire_exit"] == "timer_hrtimer_expire_exit"
    assert names["sched_switch"] == "sched_switch"


def test_info_requirements_follow_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    # tracevizlab-wget-k-115406 has sched_switch and sched_wakeup but no sched_waking.
    report = _info_json(real_trace("tracevizlab-wget-k-115406"), capsys)
    w2a = report["w2a"]
    assert isinstance(w2a, dict)
    ok = {r["what"].split(" (")[0]: r["ok"] for r in w2a["requirements"]}
    assert ok == {
        "KVM entry/exit": False,
        "interrupt injection": False,
        "sched_switch": True,
        "wake-ups": True,
        "pid/tid contexts": False,
        "per-CPU streams": True,
    }


def test_info_human_output_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(real_trace("tracevizlab-simple-kernel"))]) == 0
    out = capsys.readouterr().out
    assert "host wilbrod" in out and "11,980" in out and "lttng enable-event -k" in out
    assert "sched_switch" in out and "W2A cannot analyse this trace" in out
    assert max(len(line) for line in out.splitlines()) <= 80

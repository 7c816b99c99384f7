"""The simulator's traces read back by babeltrace2 (bt2 API and CLI): same events, same
counts per event name, real lost-event records, byte-identical output for one seed.

The read-back helpers are in `tests.support.sim`; test_sim_truth.py's per-scenario test
runs `assert_reads_back` and the truth check on the same read, so each trace is read once.
"""

from __future__ import annotations

import filecmp
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.sim import SimTraces, read_trace
from w2a_tui.cli import main
from w2a_tui.sim import SCENARIOS, generate, get_scenario, truth_paths, with_overrides


def test_lost_scenario_really_misses_the_events_it_declares(sim_traces: SimTraces) -> None:
    trace = sim_traces.get("lost")
    doc = json.loads(truth_paths(trace)[1].read_text())
    back = read_trace(trace)
    assert back.discarded == doc["discarded_events"] > 0
    # The simulator simulated more events than the streams hold: exactly the discarded ones.
    truth_rows_kvm = sum(1 for line in truth_paths(trace)[0].open() if ",guest," in line)
    assert truth_rows_kvm > back.counts["kvm_x86_entry"] - back.discarded


def test_babeltrace2_cli_prints_one_line_per_event(sim_traces: SimTraces) -> None:
    trace = sim_traces.get("two-vms")
    doc = json.loads(truth_paths(trace)[1].read_text())
    text = subprocess.run(
        ["babeltrace2", str(trace)], capture_output=True, text=True, check=True
    ).stdout
    lines = text.splitlines()
    assert len(lines) == doc["events"]
    assert (
        sum("kvm_x86_apic_accept_irq:" in ln for ln in lines)
        == doc["counts"]["kvm_x86_apic_accept_irq"]
    )
    assert 'procname = "CPU 0/KVM"' in text


def test_metadata_is_text_tsdl_shaped_like_lttng_modules(sim_traces: SimTraces) -> None:
    meta = (sim_traces.get("timer") / "metadata").read_text()
    assert meta.startswith("/* CTF 1.8 */")
    for needle in (
        'tracer_name = "lttng-modules";',
        "uint64_t stream_instance_id;",
        "unsigned long events_discarded;",
        "integer { size = 8; align = 8; signed = 0; encoding = UTF8; base = 10; } _prev_comm[16];",
        "_procname[16];",
        'name = "kvm_x86_exit";',
        'name = "lttng_statedump_process_state";',
    ):
        assert needle in meta, needle
    names = sorted(p.name for p in sim_traces.get("timer").iterdir())
    assert names == ["channel0_0", "channel0_1", "channel0_2", "channel0_3", "metadata"]


def test_old_names_and_svm_fields(sim_traces: SimTraces) -> None:
    old = read_trace(sim_traces.get("old-names"))
    assert old.counts["kvm_exit"] > 0 and "kvm_x86_exit" not in old.counts
    exit_ev = next(e for e in old.events if e.name == "kvm_exit")
    assert set(exit_ev.fields) == {"exit_reason", "guest_rip", "isa", "info1", "info2"}
    preempt = [e.fields["prev_state"] for e in old.events if e.name == "sched_switch"]
    assert 0x800 in preempt  # TASK_RUNNING | TASK_STATE_MAX on Linux 4.4
    svm = read_trace(sim_traces.get("svm"))
    exits = [e.fields for e in svm.events if e.name == "kvm_x86_exit"]
    assert {f["isa"] for f in exits} == {2}
    assert any(f["exit_reason"] == 0x78 for f in exits)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    sc = with_overrides(get_scenario("two-vms"), seconds=0.05, seed=11)
    generate(tmp_path / "a", sc)
    generate(tmp_path / "b", sc)
    generate(tmp_path / "c", with_overrides(sc, seed=12))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert match == names and not mismatch and not errors
    for suffix in (".truth.csv", ".truth.json"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    assert (tmp_path / "a.truth.csv").read_bytes() != (tmp_path / "c.truth.csv").read_bytes()


def test_cli_generate_lists_and_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--list-scenarios"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SCENARIOS)
    assert main(["generate", str(tmp_path / "x"), "--scenario", "nope"]) == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "y"), "--scenario", "timer", "--vcpus", "0"]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    assert main(["generate", str(tmp_path / "full"), "--scenario", "timer"]) == 2
    assert "not empty" in capsys.readouterr().err
    out = tmp_path / "ok"
    assert (
        main(["generate", str(out), "--scenario", "ipi", "--seconds", "0.02", "--seed", "3"]) == 0
    )
    assert (out / "metadata").is_file() and truth_paths(out)[0].is_file()

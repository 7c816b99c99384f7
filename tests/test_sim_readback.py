"""The simulator's traces read back by babeltrace2 (bt2 API and CLI): same events, same
counts per event name, real lost-event records, byte-identical output for one seed.

Also the bt2 read-back helpers that test_sim_truth.py uses to check the ground truth
against the trace itself (never against the simulator's internals); its per-scenario test
runs `assert_reads_back` and the truth check on the same read, so each trace is read once.
"""

from __future__ import annotations

import filecmp
import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import bt2
import pytest

from w2a_tui.cli import main
from w2a_tui.sim import SCENARIOS, generate, get_scenario, truth_paths, with_overrides

TEST_SECONDS = 0.15
# The busiest scenarios are shorter, so that every trace costs about the same to read back.
SCENARIO_SECONDS = {"mixed": 0.05, "halt-poll": 0.06}


@dataclass
class Ev:
    ts: int
    cpu: int
    name: str
    tid: int  # the running thread: the tid context, else derived from sched_switch
    fields: dict[str, Any]


@dataclass
class Readback:
    events: list[Ev] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    discarded: int = 0
    env: dict[str, Any] = field(default_factory=dict)
    has_context: bool = False
    context_mismatches: int = 0


def _value(f: Any) -> Any:
    if isinstance(f, bt2._StringFieldConst):
        return str(f)
    if isinstance(f, bt2._IntegerFieldConst):
        return int(f)
    if isinstance(f, bt2._ArrayFieldConst):  # comm arrays are strings; sequences are lists
        return [_value(item) for item in f]
    return f


@cache
def read_trace(path: Path) -> Readback:
    """Every event via bt2, with the current thread per CPU derived from sched_switch."""
    out = Readback()
    current: dict[int, int] = {}
    for msg in bt2.TraceCollectionMessageIterator(str(path)):
        if type(msg) is bt2._DiscardedEventsMessageConst:
            out.discarded += msg.count
            continue
        if type(msg) is bt2._StreamBeginningMessageConst and not out.env:
            out.env = {k: _value(v) for k, v in msg.stream.trace.environment.items()}
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        cpu = int(ev.packet.context_field["cpu_id"])
        fields = {k: _value(v) for k, v in ev.payload_field.items()}
        name = ev.name
        if name == "lttng_statedump_process_state" and fields["status"] == 6:
            current.setdefault(fields["cpu"], fields["tid"])
        tid = current.get(cpu, -1)
        ctx = ev.common_context_field
        if ctx is not None:
            out.has_context = True
            if tid >= 0 and int(ctx["tid"]) != tid:
                out.context_mismatches += 1
            tid = int(ctx["tid"])  # also before the statedump names the CPU's thread
        out.events.append(Ev(msg.default_clock_snapshot.ns_from_origin, cpu, name, tid, fields))
        out.counts[name] += 1
        if name == "sched_switch":
            current[cpu] = fields["next_tid"]
    return out


@cache
def generated(name: str, root: str, seconds: float = 0.0, seed: int = 7) -> Path:
    """One small trace per scenario, generated once per test process."""
    seconds = seconds or SCENARIO_SECONDS.get(name, TEST_SECONDS)
    out = Path(root) / f"{name}-{seconds}-{seed}"
    if not out.exists():
        generate(out, with_overrides(get_scenario(name), seconds=seconds, seed=seed))
    return out


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("sim"))


def assert_reads_back(trace: Path) -> None:
    """bt2 reads back every event the simulator wrote: same counts per name, same first
    and last times, the declared lost events, contexts naming the running thread."""
    doc = json.loads(truth_paths(trace)[1].read_text())
    back = read_trace(trace)
    assert dict(back.counts) == doc["counts"]
    assert back.discarded == doc["discarded_events"]
    assert back.events[0].ts == doc["first_ns"]
    assert back.events[-1].ts == doc["last_ns"]
    if not back.discarded:  # a lost sched_switch leaves the derived current thread stale
        assert back.context_mismatches == 0
    assert back.has_context == doc["scenario"]["context"]
    assert back.env["domain"] == "kernel" and back.env["tracer_name"] == "lttng-modules"
    entry = "kvm_entry" if doc["scenario"]["kernel"] == "old" else "kvm_x86_entry"
    assert back.counts[entry] > 100


def test_lost_scenario_really_misses_the_events_it_declares(sim_root: str) -> None:
    trace = generated("lost", sim_root)
    doc = json.loads(truth_paths(trace)[1].read_text())
    back = read_trace(trace)
    assert back.discarded == doc["discarded_events"] > 0
    # The simulator simulated more events than the streams hold: exactly the discarded ones.
    truth_rows_kvm = sum(1 for line in truth_paths(trace)[0].open() if ",guest," in line)
    assert truth_rows_kvm > back.counts["kvm_x86_entry"] - back.discarded


def test_babeltrace2_cli_prints_one_line_per_event(sim_root: str) -> None:
    trace = generated("two-vms", sim_root)
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


def test_metadata_is_text_tsdl_shaped_like_lttng_modules(sim_root: str) -> None:
    meta = (generated("timer", sim_root) / "metadata").read_text()
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
    names = sorted(p.name for p in generated("timer", sim_root).iterdir())
    assert names == ["channel0_0", "channel0_1", "channel0_2", "channel0_3", "metadata"]


def test_old_names_and_svm_fields(sim_root: str) -> None:
    old = read_trace(generated("old-names", sim_root))
    assert old.counts["kvm_exit"] > 0 and "kvm_x86_exit" not in old.counts
    exit_ev = next(e for e in old.events if e.name == "kvm_exit")
    assert set(exit_ev.fields) == {"exit_reason", "guest_rip", "isa", "info1", "info2"}
    preempt = [e.fields["prev_state"] for e in old.events if e.name == "sched_switch"]
    assert 0x800 in preempt  # TASK_RUNNING | TASK_STATE_MAX on Linux 4.4
    svm = read_trace(generated("svm", sim_root))
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

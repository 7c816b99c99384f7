"""Our own ftrace readers on the real KVM-host trace (pvm-minivm-2vcpu): trace.dat (v7 zstd,
and the v6 / uncompressed v7 that `trace-cmd convert` makes of it) and the text of
tracefs's `trace`, against the trace's own counts and against `trace-cmd report`."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.ftrace_report import compare_with_report
from tests.support.paths import REAL_FTRACE
from w2a_tui.analysis import NEEDED_KINDS
from w2a_tui.commands.info import _record_commands
from w2a_tui.events import EventKind
from w2a_tui.trace import open_trace
from w2a_tui.trace.ftrace.textsource import PREEMPTED, prev_state_value

PVM = REAL_FTRACE / "pvm-minivm-2vcpu"
DAT = PVM / "trace.dat"
TEXT = PVM / "trace.txt.xz"


def _expected_counts() -> dict[str, int]:
    counts = {}
    for line in (PVM / "event_counts.txt").read_text().splitlines():
        number, name = line.split()
        counts[name.rstrip(":")] = int(number)
    return counts


def _info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "info", "--json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data: dict[str, object] = json.loads(out)
    return data


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real trace rewritten by trace-cmd itself as v6 and as uncompressed v7."""
    folder = tmp_path_factory.mktemp("converted")
    out = {}
    for name, args in (("v6", ["--file-version", "6"]), ("v7-none", ["--compression", "none"])):
        target = folder / f"{name}.dat"
        subprocess.run(
            ["trace-cmd", "convert", "-i", str(DAT), "-o", str(target), *args],
            capture_output=True,
            check=True,
        )
        out[name] = target
    return out


@pytest.mark.parametrize("name", ["trace.dat", "trace.txt.xz"])
def test_info_counts_equal_the_traces_event_counts(name: str) -> None:
    info = _info(PVM / name)
    assert info["counts"] == _expected_counts()
    assert info["events"] == sum(_expected_counts().values()) == 430930
    assert info["cpus"] == [0, 1]
    assert info["discarded_events"] == 0


def test_info_says_format_and_clock() -> None:
    info = _info(DAT)
    assert "trace.dat v7, zstd" in str(info["description"])
    assert "clock local" in str(info["description"])
    assert info["hostname"] == "vm" and info["kernel"] == "6.18.44-fc-v595"
    assert info["first_ns"] == 2240704360371  # trace-cmd report -t's first timestamp


def test_converted_versions_read_the_same(converted: dict[str, Path]) -> None:
    reference = _info(DAT)
    for name, path in converted.items():
        info = _info(path)
        assert info["counts"] == reference["counts"], name
        assert (info["first_ns"], info["last_ns"]) == (reference["first_ns"], reference["last_ns"])
        assert f"trace.dat v{6 if name == 'v6' else 7}" in str(info["description"])


def test_decoder_equals_trace_cmd_report_field_by_field() -> None:
    count, problems = compare_with_report(DAT)
    assert problems == []
    assert count == 430930


def test_v6_equals_trace_cmd_report(converted: dict[str, Path]) -> None:
    count, problems = compare_with_report(converted["v6"])
    assert problems == [] and count == 430930


def test_dat_and_text_give_the_same_tuples() -> None:
    """The text prints microseconds (rounded) and hashed pointers; all else is equal."""
    timer_kinds = {int(EventKind.HRTIMER_EXPIRE_ENTRY), int(EventKind.HRTIMER_EXPIRE_EXIT)}

    def events(path: Path) -> Iterator[tuple[object, ...]]:
        for batch in open_trace(path).iter_batches(NEEDED_KINDS):
            for event in batch:
                if event[2] != EventKind.STATEDUMP_PROCESS_STATE:
                    yield event

    count = 0
    for a, b in itertools.zip_longest(events(DAT), events(TEXT)):
        assert a is not None and b is not None
        count += 1
        left, right = list(a), list(b)
        left[0] = (int(left[0]) + 500) // 1000
        right[0] = int(right[0]) // 1000
        if left[2] in timer_kinds:
            left, right = left[:6], right[:6]
        assert left == right, count
    assert count == 257325


def test_prev_state_letters_map_to_the_kernel_bits() -> None:
    assert prev_state_value("R") == 0
    assert prev_state_value("R+") == PREEMPTED == 0x100
    assert prev_state_value("S") == 1
    assert prev_state_value("D") == 2
    assert prev_state_value("D|K") == 2
    assert prev_state_value("I") == 0x80
    assert prev_state_value("32") == 32


def test_sched_switch_prev_state_is_numeric_on_both_readers() -> None:
    for path in (DAT, TEXT):
        states: set[int] = set()
        for batch in open_trace(path).iter_batches([EventKind.SCHED_SWITCH]):
            states.update(e[8] for e in batch if e[2] == EventKind.SCHED_SWITCH)
        assert states <= {0, 1, 2, 0x10, 0x20, 0x80, 0x100}, states
        assert {0, 1} <= states


@pytest.mark.parametrize("cut", [100, 70000, 1500000])
def test_truncated_trace_dat_is_one_sentence_exit_2(tmp_path: Path, cut: int) -> None:
    broken = tmp_path / "trace.dat"
    broken.write_bytes(DAT.read_bytes()[:cut])
    proc = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "info", str(broken)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(broken) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_folder_holding_trace_dat_opens_it(tmp_path: Path) -> None:
    shutil.copy(DAT, tmp_path / "trace.dat")
    source = open_trace(tmp_path)
    assert source.decoder == "trace.dat"
    assert source.count_events().total == 430930


def test_both_readers_name_the_threads_from_the_saved_comms() -> None:
    """trace.dat's saved_cmdlines and the text's comm column are one process table; both
    readers hand it to the analysis as statedump tuples (pid -1: no tgids in this trace)."""

    def names(path: Path) -> dict[int, str]:
        out = {}
        for batch in open_trace(path).iter_batches([EventKind.STATEDUMP_PROCESS_STATE]):
            for event in batch:
                assert event[2] == EventKind.STATEDUMP_PROCESS_STATE and event[7] == -1
                out[int(event[6])] = str(event[8])
        return out

    from_dat, from_text = names(DAT), names(TEXT)
    assert from_dat[31785] == from_text[31785] == "minivm"
    shared = set(from_dat) & set(from_text)
    assert len(shared) > 50
    assert all(from_dat[tid] == from_text[tid] for tid in shared)


def test_info_text_names_the_clock_and_suggests_trace_cmd() -> None:
    """The PVM trace has no kvm_entry/kvm_exit: a partial event set W2A analyses, said so
    (no recording advice then); the advice for an ftrace trace that W2A cannot analyse
    is a trace-cmd command line, not LTTng's."""
    proc = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "info", str(DAT)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(line.split()[:2] == ["clock", "local"] for line in lines if line.strip())
    assert any(line.startswith("partial event set: The trace has no kvm_entry") for line in lines)
    assert lines[-1] == "W2A can analyse this trace."
    assert _info(DAT)["clock"] == "local"
    for decoder in ("trace.dat", "ftrace-text"):
        advice = _record_commands(decoder)
        assert any(line.startswith("trace-cmd record -b 65536") for line in advice), decoder
        assert not any("lttng" in line for line in advice)


def test_not_a_trace_file_says_what_to_give(tmp_path: Path) -> None:
    junk = tmp_path / "trace.txt.xz"
    junk.write_bytes(b"not xz at all")
    proc = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "info", str(junk)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "a trace-cmd trace.dat, or the text of /sys/kernel/tracing/trace" in proc.stderr


def test_text_with_the_tgid_column_gives_pids(tmp_path: Path) -> None:
    """With options/record-tgid the kernel prints `COMM-TID (TGID) [CPU] FLAGS TS: ...`."""
    lines = [
        "# tracer: nop",
        "#",
        "#           TASK-PID     TGID     CPU#  |||||  TIMESTAMP  FUNCTION",
        "      CPU 0/KVM-3310    (   3300) [001] d..2.   100.000001: sched_switch: "
        "prev_comm=CPU 0/KVM prev_pid=3310 prev_prio=120 prev_state=S ==> "
        "next_comm=swapper/1 next_pid=0 next_prio=120",
        "          <idle>-0       (-------) [001] d.h2.   100.000005: sched_waking: "
        "comm=CPU 0/KVM pid=3310 prio=120 target_cpu=001",
        "      CPU 0/KVM-3310    (   3300) [001] .....   100.000009: kvm_entry: vcpu 0, rip 0x0",
        "      CPU 0/KVM-3310    (   3300) [001] .....   100.000019: kvm_exit: vcpu 0 reason "
        "HLT rip 0xffffffff8100 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0",
        "      CPU 0/KVM-3310    (   3300) [001] .....   100.000020: kvm_inj_virq: IRQ 0xec",
        "      CPU 0/KVM-3310    (   3300) [001] .....   100.000021: kvm_apic_accept_irq: "
        "apicid 1 vec 236 (Fixed|edge)",
    ]
    path = tmp_path / "trace"
    path.write_text("\n".join(lines) + "\n")
    source = open_trace(path)
    assert source.meta.has_pid_tid
    events = [e for b in source.iter_batches() for e in b if e[2] != 20]
    assert [tuple(e[:5]) for e in events] == [
        (100000001000, 1, EventKind.SCHED_SWITCH, 3310, 3300),
        (100000005000, 1, EventKind.SCHED_WAKING, 0, -1),
        (100000009000, 1, EventKind.KVM_ENTRY, 3310, 3300),
        (100000019000, 1, EventKind.KVM_EXIT, 3310, 3300),
        (100000020000, 1, EventKind.KVM_INJ_VIRQ, 3310, 3300),
        (100000021000, 1, EventKind.KVM_APIC_ACCEPT_IRQ, 3310, 3300),
    ]
    switch, waking, entry, exit_, inj, accept = (e[6:] for e in events)
    assert switch == ("CPU 0/KVM", 3310, 1, "swapper/1", 0)
    assert waking == ("CPU 0/KVM", 3310, 1)
    assert entry == (0,)
    assert exit_ == (12, 1, 0)  # HLT, VMX, vcpu 0
    assert inj == (0xEC, 0)
    assert accept == (1, 236, 0, 0)


@pytest.mark.parametrize("path", [DAT, TEXT], ids=["trace.dat", "text"])
def test_progress_rises_to_one_and_stopping_cancels(path: Path) -> None:
    fractions: list[float] = []
    batches = 0
    for _ in open_trace(path).iter_batches(
        NEEDED_KINDS, progress=lambda p: fractions.append(p.fraction)
    ):
        batches += 1
    assert batches > 10 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and fractions[len(fractions) // 2] < 1.0
    source = open_trace(path)
    stream = source.iter_batches(NEEDED_KINDS)
    first = next(stream)
    assert isinstance(stream, Generator)
    stream.close()  # the reader lets go of its file at once
    assert first and source.meta.event_count == 0

"""Our own ftrace readers on the real KVM-host trace (pvm-minivm-2vcpu): trace.dat (v7 zstd,
and the v6 / uncompressed v7 that `trace-cmd convert` makes of it) and the text of
tracefs's `trace`, against the trace's own counts and against `trace-cmd report`."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ftrace_report import report_raw, same_value, split_fields
from tests.support.paths import REAL_FTRACE
from w2a_tui.analysis import NEEDED_KINDS
from w2a_tui.events import EventKind
from w2a_tui.trace import open_trace
from w2a_tui.trace.ftrace.datfile import read_dat, symbol_table
from w2a_tui.trace.ftrace.raw import raw_events
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


def _compare_with_report(path: Path) -> tuple[int, list[str]]:
    symbols = symbol_table(read_dat(path).kallsyms)
    problems: list[str] = []
    count = 0
    for ours, ref in itertools.zip_longest(raw_events(path), report_raw(path)):
        count += 1
        assert ours is not None and ref is not None, f"event counts differ at {count}"
        ts, cpu, name, pid, rest = ref
        if (ours.ts, ours.cpu, ours.name, ours.pid) != (ts, cpu, name, pid):
            problems.append(f"#{count}: {ours} vs {ref}")
            continue
        printed = split_fields(rest, list(ours.fields))
        for field, value in ours.fields.items():
            if field not in printed or not same_value(value, printed[field], symbols):
                problems.append(f"#{count} {name}.{field}: {value!r} vs {printed.get(field)!r}")
        if len(problems) > 20:
            break
    return count, problems


def test_decoder_equals_trace_cmd_report_field_by_field() -> None:
    count, problems = _compare_with_report(DAT)
    assert problems == []
    assert count == 430930


def test_v6_equals_trace_cmd_report(converted: dict[str, Path]) -> None:
    count, problems = _compare_with_report(converted["v6"])
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

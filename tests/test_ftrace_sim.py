"""The simulator's trace.dat twin (`generate --format trace-cmd`): trace-cmd reads it as
we do, and the analysis of every scenario gives the same rows as its CTF twin."""

from __future__ import annotations

import csv
import io
import itertools
import subprocess
from pathlib import Path

import pytest

from tests.support.ftrace_report import report_raw, same_value, split_fields
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv
from w2a_tui.pipeline import analyze_trace
from w2a_tui.sim.generate import EPOCH_OF_BOOT_NS
from w2a_tui.sim.scenarios import SCENARIOS
from w2a_tui.sim.tracecmd import ctf_to_dat
from w2a_tui.trace import open_trace
from w2a_tui.trace.ftrace.raw import raw_events


def _generate(tmp_path: Path, scenario: str, *extra: str) -> Path:
    out = tmp_path / scenario
    assert (
        main(
            [
                "generate",
                str(out),
                "--scenario",
                scenario,
                "--seconds",
                "0.3",
                "--seed",
                "3",
                *extra,
            ]
        )
        == 0
    )
    return out


def _rows(trace: Path) -> list[dict[str, str]]:
    buffer = io.StringIO()
    write_csv(export_rows(analyze_trace(trace)), buffer)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


def _without_lane_heads(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each lane's leading `unknown` starts at the trace's first event, and the CTF has
    LTTng's statedump before the first event ftrace can hold; every other row counts."""
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        lane = (row["vm_pid"], row["vcpu"])
        if lane not in seen:
            seen.add(lane)
            assert row["state"] == "unknown"
            row = {**row, "start_ns": ""}
        out.append(row)
    return out


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_trace_dat_twin_analyses_as_its_ctf(tmp_path: Path, scenario: str) -> None:
    ctf = _generate(tmp_path, scenario)
    twin = tmp_path / f"{scenario}-dat"
    twin.mkdir()
    kernel = SCENARIOS[scenario].kernel
    ctf_to_dat(ctf, twin / "trace.dat", kernel, EPOCH_OF_BOOT_NS, "Linux sim 5.15 x86_64")
    assert open_trace(twin).decoder == "trace.dat"
    ctf_rows, dat_rows = _rows(ctf), _rows(twin)
    assert len(dat_rows) == len(ctf_rows) > 0
    assert _without_lane_heads(dat_rows) == _without_lane_heads(ctf_rows)


def test_generate_format_trace_cmd_writes_a_folder_with_truth(tmp_path: Path) -> None:
    out = _generate(tmp_path, "two-vms", "--format", "trace-cmd")
    assert sorted(p.name for p in out.iterdir()) == ["saved_tgids", "trace.dat"]
    assert Path(f"{out}.truth.csv").is_file() and Path(f"{out}.truth.json").is_file()
    result = analyze_trace(out)
    assert len(result.vms) == 2 and all(vm.pid > 0 for vm in result.vms)


@pytest.mark.parametrize("scenario", ["mixed", "old-names", "new-inj-layout", "lost", "svm"])
def test_trace_cmd_report_reads_the_twin_as_we_do(tmp_path: Path, scenario: str) -> None:
    out = _generate(tmp_path, scenario, "--format", "trace-cmd")
    dat = out / "trace.dat"
    count = 0
    for ours, ref in itertools.zip_longest(raw_events(dat), report_raw(dat)):
        assert ours is not None and ref is not None, count
        count += 1
        ts, cpu, name, pid, rest = ref
        assert (ours.ts, ours.cpu, ours.name, ours.pid) == (ts, cpu, name, pid)
        printed = split_fields(rest, list(ours.fields))
        for field, value in ours.fields.items():
            assert same_value(value, printed[field]), (count, name, field, value, rest)
    assert count == open_trace(dat).count_events().total > 1000


def test_lost_scenario_twin_reports_the_ctf_lost_events(tmp_path: Path) -> None:
    ctf = _generate(tmp_path, "lost")
    twin = tmp_path / "lost-dat"
    twin.mkdir()
    ctf_to_dat(ctf, twin / "trace.dat", "new", EPOCH_OF_BOOT_NS, "Linux sim 5.15 x86_64")
    assert open_trace(twin).count_events().discarded == open_trace(ctf).count_events().discarded > 0


def test_zstd_v7_conversion_reads_the_same(tmp_path: Path) -> None:
    out = _generate(tmp_path, "mixed", "--format", "trace-cmd")
    v7 = tmp_path / "v7.dat"
    subprocess.run(
        [
            "trace-cmd",
            "convert",
            "-i",
            str(out / "trace.dat"),
            "-o",
            str(v7),
            "--file-version",
            "7",
            "--compression",
            "zstd",
        ],
        capture_output=True,
        check=True,
    )
    assert b"zstd" in v7.read_bytes()[:64]
    a, b = open_trace(out / "trace.dat").count_events(), open_trace(v7).count_events()
    assert (a.by_name, a.first_ns, a.last_ns) == (b.by_name, b.first_ns, b.last_ns)

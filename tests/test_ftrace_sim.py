"""The simulator's trace.dat twin (`generate --format trace-cmd`): trace-cmd reads it as
we do, and the analysis of every scenario gives the same rows as its CTF twin."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ftrace_report import compare_with_report
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv
from w2a_tui.events import EventKind
from w2a_tui.pipeline import analyze_trace
from w2a_tui.sim.generate import EPOCH_OF_BOOT_NS
from w2a_tui.sim.scenarios import SCENARIOS
from w2a_tui.sim.tracecmd import ctf_to_dat
from w2a_tui.trace import open_trace
from w2a_tui.trace.ftrace.datsource import DatSource


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
    count, problems = compare_with_report(dat)
    assert problems == []
    assert count == open_trace(dat).count_events().total > 1000


def test_x86_tsc_clock_converts_as_trace_cmd(tmp_path: Path) -> None:
    """Raw stamps in TSC cycles with a TSC2NSEC option: trace-cmd and we give the same ns,
    which are the CTF's own."""
    ctf = _generate(tmp_path, "mixed")
    twin = tmp_path / "tsc"
    twin.mkdir()
    dat = twin / "trace.dat"
    ctf_to_dat(ctf, dat, "new", EPOCH_OF_BOOT_NS, "Linux sim 5.15 x86_64", clock="x86-tsc")
    count, problems = compare_with_report(dat)
    assert problems == [] and count > 1000
    source = open_trace(dat)
    assert getattr(source, "clock", "").startswith("x86-tsc")

    def stamps(path: Path) -> list[int]:
        return [e[0] for b in open_trace(path).iter_batches([EventKind.KVM_EXIT]) for e in b]

    assert stamps(dat) == stamps(ctf)


def test_lost_scenario_twin_reports_the_ctf_lost_events(tmp_path: Path) -> None:
    ctf = _generate(tmp_path, "lost")
    twin = tmp_path / "lost-dat"
    twin.mkdir()
    ctf_to_dat(ctf, twin / "trace.dat", "new", EPOCH_OF_BOOT_NS, "Linux sim 5.15 x86_64")
    assert open_trace(twin).count_events().discarded == open_trace(ctf).count_events().discarded > 0


@pytest.mark.parametrize("compression", ["none", "zstd", "zlib"])
def test_v7_twin_reads_as_v6(tmp_path: Path, compression: str) -> None:
    """Our format-7 writer: sections and per-CPU chunks compressed or not. trace-cmd
    reads the none and zstd files as we do; Debian's trace-cmd has no zlib, so the zlib
    file is checked against its v6 twin only."""
    v6 = _generate(tmp_path, "two-vms", "--format", "trace-cmd")
    name = f"v7-{compression}"
    v7 = _generate(
        tmp_path / name, "two-vms", "--format", "trace-cmd",
        "--dat-version", "7", "--compression", compression,
    )  # fmt: skip
    head = (v7 / "trace.dat").read_bytes()[:32]
    assert head.startswith(b"\x17\x08Dtracing7\0") and compression.encode() in head
    a, b = open_trace(v6).count_events(), open_trace(v7).count_events()
    assert (a.by_name, a.first_ns, a.last_ns) == (b.by_name, b.first_ns, b.last_ns)
    assert _rows(v6) == _rows(v7)
    if compression != "zlib":
        count, problems = compare_with_report(v7 / "trace.dat")
        assert problems == [] and count == b.total


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


@pytest.mark.parametrize("scenario", ["mixed", "svm", "new-inj-layout", "lost"])
def test_trace_cmd_report_text_analyses_as_the_trace_dat(tmp_path: Path, scenario: str) -> None:
    """`trace-cmd report` output (its sched and kvm plugins' sentences, ns with -t), kept
    beside saved_tgids, is read by the text reader into the same analysis."""
    out = _generate(tmp_path, scenario, "--format", "trace-cmd")
    text = tmp_path / "report" / "trace.txt"
    text.parent.mkdir()
    with text.open("w") as sink:
        subprocess.run(
            ["trace-cmd", "report", "-t", "-i", str(out / "trace.dat")],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    (text.parent / "saved_tgids").write_text((out / "saved_tgids").read_text())
    assert open_trace(text).decoder == "ftrace-text"
    from_text, from_dat = open_trace(text).count_events(), open_trace(out).count_events()
    assert (from_text.by_name, from_text.discarded) == (from_dat.by_name, from_dat.discarded)
    assert _rows(text) == _rows(out)


def test_cache_identity_covers_the_trace_dat_and_its_tgids(tmp_path: Path) -> None:
    from w2a_tui.store.cache import trace_identity

    out = _generate(tmp_path, "two-vms", "--format", "trace-cmd")
    before = trace_identity(out)
    assert [name for name, *_ in before] == ["saved_tgids", "trace.dat"]
    assert [name for name, *_ in trace_identity(out / "trace.dat")] == [
        "saved_tgids",
        "trace.dat",
    ]
    (out / "saved_tgids").write_text("1 1\n")
    assert trace_identity(out) != before


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_damaged_cpu_data_is_one_sentence_exit_2(tmp_path: Path, compression: str) -> None:
    """A page whose commit claims more than the page holds (v6), or a compressed chunk
    that does not decompress (v7 zstd): one sentence naming the file, exit 2."""
    args = ["--format", "trace-cmd"]
    if compression != "none":
        args += ["--dat-version", "7", "--compression", compression]
    out = _generate(tmp_path, "two-vms", *args)
    dat = out / "trace.dat"
    data = bytearray(dat.read_bytes())
    source = open_trace(dat)
    assert isinstance(source, DatSource)
    first = source.dat.cpus[0].offset
    if compression == "none":
        data[first + 8 : first + 16] = (4000 + 4096).to_bytes(8, "little")  # commit
    else:
        data[first + 12 : first + 40] = bytes(28)  # inside the first chunk
    dat.write_bytes(bytes(data))
    proc = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "analyze", "--no-cache", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert str(dat) in proc.stderr and "damaged" in proc.stderr

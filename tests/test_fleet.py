"""`w2a-tui fleet`: simulated hosts on a real local Dask cluster and on a real
`dask scheduler` / `dask worker` pair on 127.0.0.1; the table read back with Polars equals
each trace's `analyze --json`; a broken trace is one row; the ranking TUI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from w2a_tui.cli import main
from w2a_tui.fleet.table import REASONS, RUN_STATES
from w2a_tui.fleet.view import load_fleet
from w2a_tui.tui.screens.fleet import FleetApp, TimelineAtVm
from w2a_tui.tui.widgets.timeline import Timeline

SCENARIOS = ("preempt", "disk", "two-vms")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three simulated hosts and one broken trace."""
    root = tmp_path_factory.mktemp("fleet") / "hosts"
    for name in SCENARIOS:
        args = ["generate", str(root / name), "--scenario", name, "--seconds", "0.3"]
        assert main(args) == 0
    broken = root / "broken"
    broken.mkdir()
    (broken / "metadata").write_text("not CTF at all\n")
    return root


@pytest.fixture(scope="module")
def local_table(hosts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet-out") / "fleet.parquet"
    assert main(["fleet", str(hosts), "-o", str(out), "--workers", "2"]) == 0
    return out


def _analyze_json(trace: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["analyze", str(trace), "--json", "--top", "3"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_local_cluster_table_equals_analyze_json(
    hosts: Path, local_table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pl.read_parquet(local_table)
    ok = frame.filter(pl.col("error").is_null())
    assert set(ok["trace"].map_elements(lambda t: Path(t).name, return_dtype=pl.String)) == set(
        SCENARIOS
    )
    for name in SCENARIOS:
        trace = hosts / name
        expected = _analyze_json(trace, capsys)
        rows = ok.filter(pl.col("trace") == str(trace.resolve())).to_dicts()
        assert len(rows) == sum(len(vm["vcpus"]) for vm in expected["vms"])
        by_key = {(r["vm_pid"], r["vcpu"]): r for r in rows}
        for vm in expected["vms"]:
            for v in vm["vcpus"]:
                row = by_key[(vm["pid"], v["vcpu"])]
                assert row["host"] == "kvm-host-sim" and row["vm_name"] == vm["name"]
                assert row["verdict"] == vm["verdict"] and row["span_ns"] == v["span_ns"]
                for state in RUN_STATES:
                    assert row[f"time_{state}_ns"] == v["time_by_state_ns"][state]
                for reason in REASONS:
                    assert row[f"wait_{reason}_ns"] == v["wait_by_reason_ns"][reason]
                assert row["wait_ns"] == sum(v["wait_by_reason_ns"].values())
                waits = v["waits"]
                assert (row["wait_count"], row["wait_p99_ns"], row["wait_max_ns"]) == (
                    waits["count"],
                    waits["p99_ns"],
                    waits["max_ns"],
                )
                assert row["top_preemptors"] == v["top_preemptors"]
    preempt = ok.filter(pl.col("trace").str.ends_with("preempt"))
    assert preempt["time_preempted_ns"].sum() > 0
    assert "stress-ng-cpu" in set(preempt["top_preemptor"])


def test_a_broken_trace_is_one_row_with_its_error(local_table: Path) -> None:
    frame = pl.read_parquet(local_table)
    failed = frame.filter(pl.col("error").is_not_null())
    assert failed.height == 1
    row = failed.row(0, named=True)
    assert Path(row["trace"]).name == "broken" and "not CTF metadata" in row["error"]
    assert row["vm_pid"] is None and row["time_guest_ns"] is None


def test_progress_counts_traces_done(hosts: Path, tmp_path: Path) -> None:
    out = tmp_path / "one.parquet"
    cmd = [sys.executable, "-m", "w2a_tui", "fleet", str(hosts / "disk"), str(hosts / "broken")]
    done = subprocess.run(
        [*cmd, "-o", str(out), "--workers", "1"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if "traces done" in ln]
    assert [ln.split()[1] for ln in lines] == ["1/2", "2/2"]
    assert "1 of 2 traces analysed on 1 worker(s)" in done.stderr
    assert "failed: " in done.stderr and "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A real `dask scheduler` and one `dask worker` on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    sched = subprocess.Popen(
        [*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker_cmd = [sys.executable, "-m", "distributed.cli.dask_worker", address]
    worker = subprocess.Popen(
        [*worker_cmd, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from dask.distributed import Client

        deadline = time.monotonic() + 60
        with Client(address, timeout="60s") as client:  # type: ignore[no-untyped-call]
            while not client.scheduler_info()["workers"]:
                assert time.monotonic() < deadline, "the dask worker never joined"
                time.sleep(0.2)
        yield address
    finally:
        for proc in (worker, sched):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_running_scheduler_gives_the_same_table(
    hosts: Path, local_table: Path, scheduler: str, tmp_path: Path
) -> None:
    out = tmp_path / "remote.parquet"
    assert main(["fleet", str(hosts), "-o", str(out), "--scheduler", scheduler]) == 0
    assert pl.read_parquet(out).equals(pl.read_parquet(local_table))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["fleet"], "which traces"),
        (["fleet", "x"], "give the table to write with -o"),
        (["fleet", "x", "-o", "f.parquet", "--workers", "0"], "--workers must be"),
        (["fleet", "--view", "missing.parquet"], "not a readable Parquet file"),
        (["fleet", "x", "-o", "f.parquet", "--scheduler", "no port"], "tcp://HOST:PORT"),
    ],
)
def test_bad_input_is_one_sentence(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


async def test_view_ranks_filters_and_opens_a_vm(local_table: Path) -> None:
    table = load_fleet(local_table)
    app = FleetApp(table)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        by_preempted = [f"{v.trace}:{v.vm_pid}" for v in app.shown]
        top = app.shown[0]
        assert top.share("preempted") == max(v.share("preempted") for v in table.vms)
        await pilot.press("w")
        by_wait = [f"{v.trace}:{v.vm_pid}" for v in app.shown]
        shares = [v.share("wait") for v in app.shown if not v.error]
        assert shares == sorted(shares, reverse=True)
        await pilot.press("slash", *"two-vms", "enter")
        filtered = [Path(v.trace).name for v in app.shown]
        await pilot.press("down", "enter")
        await pilot.pause()
    choice = app.return_value
    assert by_preempted[0].split(":")[0].endswith("preempt")
    assert by_wait != by_preempted and by_wait[-1].split(":")[0].endswith("broken")
    assert filtered == ["two-vms", "two-vms"]
    assert choice is not None
    trace, pid = choice
    assert Path(trace).name == "two-vms" and pid in (3100, 3300)


async def test_enter_opens_the_timeline_at_that_vm(hosts: Path) -> None:
    trace = str((hosts / "two-vms").resolve())
    app = TimelineAtVm(trace, 3300)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.placed:
                break
        timeline = app.screen.query_one(Timeline)
        row = timeline.current_row
        vm_pid, lanes = row.vm_pid, len(timeline.store.lanes)
    assert vm_pid == 3300 and lanes == 4


def test_view_of_another_parquet_file_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "intervals.parquet"
    pl.DataFrame({"vm_pid": [1], "state": ["guest"]}).write_parquet(other)
    assert main(["fleet", "--view", str(other)]) == 2
    assert "is not a fleet table" in capsys.readouterr().err

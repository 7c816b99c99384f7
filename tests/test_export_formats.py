"""`export --format perfetto|parquet` and `--from/--to/--vm/--vcpu/--state`, each read back
by a reader that is not ours (Python's json with exact decimals, Polars for Parquet) and
compared cell by cell with the CSV export of the same trace."""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support.paths import SAMPLE_TRACE
from tests.support.scenes import host
from w2a_tui.analysis.finish import placeholder_name
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv
from w2a_tui.errors import W2AError
from w2a_tui.export.parquet import write_parquet
from w2a_tui.export.perfetto import HOST_PID, export_selection, write_perfetto
from w2a_tui.pipeline import load_result, load_store


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample, copied (its cache is written beside the copy)."""
    target = tmp_path_factory.mktemp("fmt") / "sample"
    shutil.copytree(SAMPLE_TRACE, target)
    return target


def _csv(trace: Path, tmp: Path, *extra: str) -> list[dict[str, str]]:
    out = tmp / f"rows{abs(hash(extra))}.csv"
    assert main(["export", str(trace), "-o", str(out), *extra]) == 0
    with out.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def csv_rows(trace: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    return _csv(trace, tmp_path_factory.mktemp("csv"))


def _perfetto(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(), parse_float=Decimal)
    return data


def _slices_as_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    """The vCPU slices, turned back into CSV rows from what a trace viewer sees."""
    origin = int(data["otherData"]["origin_ns"])
    events = data["traceEvents"]
    names = {
        e["pid"]: e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "process_name"
    }
    rows = []
    for e in events:
        if e["ph"] != "X" or e["cat"] != "vcpu":
            continue
        a = e["args"]
        start = origin + int(Decimal(e["ts"]) * 1000)
        end = start + int(Decimal(e["dur"]) * 1000)
        assert (start, end) == (a["start_ns"], a["end_ns"])
        vm_name, _, pid = names[e["pid"]].rpartition(" [")
        pid = pid.rstrip("]")
        rows.append(
            {
                "vm_pid": pid,
                "vm_name": "" if vm_name == placeholder_name(int(pid)) else vm_name,
                "vcpu": str(a["vcpu"]),
                "tid": str(e["tid"]),
                "start_ns": str(start),
                "end_ns": str(end),
                "state": e["name"],
                "source": a.get("source", ""),
                "vector": str(a.get("vector", "")),
                "waker_tid": str(a.get("waker_tid", "")),
                "waker_comm": a.get("waker_comm", ""),
                "exit_reason": str(a.get("exit_reason", "")),
                "next_comm": a.get("preemptor", ""),
            }
        )
    return rows


def test_perfetto_holds_every_interval_of_the_csv(
    trace: Path, tmp_path: Path, csv_rows: list[dict[str, str]]
) -> None:
    out = tmp_path / "sample.json"
    assert main(["export", str(trace), "--format", "perfetto", "-o", str(out)]) == 0
    data = _perfetto(out)
    assert _slices_as_rows(data) == csv_rows
    events = data["traceEvents"]
    # One process per VM, one named track per vCPU.
    vms = {(r["vm_pid"], r["vcpu"], r["tid"]) for r in csv_rows}
    threads = {
        (e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"
    }
    assert {(int(p), int(t)) for p, _, t in vms} <= threads
    assert {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"} >= {
        int(p) for p, _, _ in vms
    }
    # Wait args name the reason and the rule.
    disk = next(e for e in events if e.get("name") == "wait_disk")
    assert disk["args"]["reason"] == "disk" and disk["args"]["source"] in ("inj_virq", "waker")


def test_perfetto_flows_go_from_the_waker_to_the_end_of_the_wait(
    trace: Path, tmp_path: Path, csv_rows: list[dict[str, str]]
) -> None:
    out = tmp_path / "flows.json"
    assert main(["export", str(trace), "--format", "perfetto", "-o", str(out)]) == 0
    events = _perfetto(out)["traceEvents"]
    starts = {e["bind_id"]: e for e in events if e.get("flow_out")}
    ends = {e["bind_id"]: e for e in events if e.get("flow_in")}
    assert starts and starts.keys() == ends.keys()
    woken = [r for r in csv_rows if r["state"].startswith("wait_") and r["waker_tid"] != ""]
    # Every woken wait that is not the lane's last interval has its arrow.
    last = {(r["vm_pid"], r["vcpu"]): r["start_ns"] for r in csv_rows}
    expected = [r for r in woken if last[(r["vm_pid"], r["vcpu"])] != r["start_ns"]]
    assert len(starts) == len(expected)
    vm_of_tid = {int(r["tid"]): int(r["vm_pid"]) for r in csv_rows}
    for bind, src in starts.items():
        dst = ends[bind]
        woke = src["args"]["woke_at_ns"]
        assert dst["args"]["start_ns"] == woke  # lands where the wait ended
        assert Decimal(src["ts"]) + Decimal(src["dur"]) == Decimal(dst["ts"])  # just before
        assert src["tid"] == dst["args"]["waker_tid"]
        if src["tid"] in vm_of_tid:  # a vCPU thread: its track is in its VM's process
            assert src["pid"] == vm_of_tid[src["tid"]]
    # Interrupt-context wake-ups say so (a timer fires on whatever thread runs there).
    timer_wakes = [e for e in starts.values() if e["args"]["ends"] == "wait_timer"]
    assert timer_wakes and all(e["name"].endswith("(hrtimer)") for e in timer_wakes)
    waits = {
        (e["tid"], e["args"]["end_ns"]): e
        for e in events
        if e["ph"] == "X" and str(e["name"]).startswith("wait_")
    }
    for e in timer_wakes:
        wait = waits[(ends[e["bind_id"]]["tid"], e["args"]["woke_at_ns"])]
        assert wait["args"]["waker_context"] == "hrtimer"
    hosts = {e["pid"] for e in starts.values()}
    assert HOST_PID in hosts or hosts <= {e["pid"] for e in ends.values()}


def test_from_to_vm_vcpu_state_select_and_clip(
    trace: Path, tmp_path: Path, csv_rows: list[dict[str, str]]
) -> None:
    origin = load_result(trace).meta.first_ns
    lo, hi = origin + 500_000_000, origin + 700_000_000
    rows = _csv(trace, tmp_path, "--from", "0.5", "--to", str(hi), "--vm", "qemu:db01")
    assert rows and {r["vm_name"] for r in rows} == {"qemu:db01"}
    assert min(int(r["start_ns"]) for r in rows) == lo
    assert max(int(r["end_ns"]) for r in rows) == hi
    # Time per lane in the range = the range (contiguous lanes, clipped at both ends).
    for lane in {(r["vcpu"]) for r in rows}:
        span = sum(int(r["end_ns"]) - int(r["start_ns"]) for r in rows if r["vcpu"] == lane)
        assert span == hi - lo
    inside = [
        r
        for r in csv_rows
        if r["vm_name"] == "qemu:db01" and int(r["start_ns"]) >= lo and int(r["end_ns"]) <= hi
    ]
    assert all(r in rows for r in inside) and len(rows) <= len(inside) + 2 * 4
    waits = _csv(trace, tmp_path, "--state", "wait", "--vcpu", "1,2", "--vm", "3300")
    assert {r["state"][:5] for r in waits} == {"wait_"} and {r["vcpu"] for r in waits} == {
        "1",
        "2",
    }
    assert waits == [
        r
        for r in csv_rows
        if r["vm_pid"] == "3300" and r["vcpu"] in ("1", "2") and r["state"].startswith("wait_")
    ]
    out = tmp_path / "sel.json"
    args = ["--format", "perfetto", "--from", "500ms", "--to", "0.7s", "--vm", "qemu:db01"]
    assert main(["export", str(trace), *args, "-o", str(out)]) == 0
    assert _slices_as_rows(_perfetto(out)) == _csv(
        trace, tmp_path, "--from", "500ms", "--to", "0.7s", "--vm", "qemu:db01"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "soon"], "is not a time"),
        (["--from", "2", "--to", "1"], "must be after"),
        (["--vm", "nosuchvm"], "matches no VM"),
        (["--vcpu", "x"], "not a vCPU number"),
        (["--state", "sleeping"], "not a state"),
        (["--format", "parquet"], "give a file with -o"),
    ],
)
def test_bad_selections_are_one_sentence(
    trace: Path, args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(trace), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1


def test_parquet_has_typed_columns_equal_to_the_csv(
    trace: Path, tmp_path: Path, csv_rows: list[dict[str, str]]
) -> None:
    out = tmp_path / "sample.parquet"
    assert main(["export", str(trace), "--format", "parquet", "-o", str(out)]) == 0
    frame = pl.read_parquet(out)
    schema = frame.schema
    for name in ("vm_pid", "vcpu", "tid", "start_ns", "end_ns", "vector", "exit_reason"):
        assert schema[name] == pl.Int64, name
    for name in ("host", "state", "source", "vm_name", "waker_comm", "next_comm"):
        assert schema[name] == pl.Categorical, name
    assert frame["host"].unique().to_list() == ["kvm-host-sim"]
    assert frame["vector"].null_count() > 0  # nullable, not -1 or 0
    back = [
        {k: "" if v is None else str(v) for k, v in row.items() if k != "host"}
        for row in frame.iter_rows(named=True)
    ]
    assert back == csv_rows
    waits = tmp_path / "waits.parquet"
    args = ["--format", "parquet", "--state", "wait_net", "--from", "1", "-o", str(waits)]
    assert main(["export", str(trace), *args]) == 0
    net = pl.read_parquet(waits)
    assert net.height > 0 and set(net["state"].cast(pl.String)) == {"wait_net"}


def test_tui_export_selection_writes_the_range(
    trace: Path, tmp_path: Path, csv_rows: list[dict[str, str]]
) -> None:
    result = load_result(trace)
    origin = result.meta.first_ns
    out = tmp_path / "tui.json"
    summary = export_selection(
        result, out, start_ns=origin + 100_000_000, end_ns=origin + 200_000_000, vm_pids=(3100,)
    )
    rows = _slices_as_rows(_perfetto(out))
    assert summary.intervals == len(rows) > 0
    assert {r["vm_pid"] for r in rows} == {"3100"}
    assert rows == _csv(trace, tmp_path, "--from", "0.1", "--to", "0.2", "--vm", "3100")
    # The TUI holds a store, not a result: the same file from it.
    from_store = tmp_path / "store.json"
    store, _ = load_store(trace)
    export_selection(
        store,
        from_store,
        start_ns=origin + 100_000_000,
        end_ns=origin + 200_000_000,
        vm_pids=(3100,),
    )
    assert from_store.read_text() == out.read_text()
    with pytest.raises(W2AError, match="cannot write"):
        export_selection(store, tmp_path / "no" / "such" / "dir.json")


def test_an_unidentified_vm_keeps_its_placeholder_in_both_formats(tmp_path: Path) -> None:
    """A vCPU thread the trace never names (negative VM pid, tid -1): Perfetto gets a
    positive process id apart from the host threads, Parquet the same cells as the CSV."""
    h = host(contexts=False).mark(0)
    h.entry(10, 2, -1, 3).exit(20, 2, -1, 48).entry(25, 2, -1, 3).mark(50)
    result = h.analyze()
    text = io.StringIO()
    write_csv(export_rows(result), text)
    expected = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert int(expected[0]["vm_pid"]) < 0 and expected[0]["vm_name"] == ""
    out = tmp_path / "unidentified.json"
    with out.open("w") as handle:
        write_perfetto(result, handle)
    data = _perfetto(out)
    assert _slices_as_rows(data) == expected
    pids = {e["pid"] for e in data["traceEvents"] if e["ph"] == "X"}
    assert len(pids) == 1 and pids.pop() > HOST_PID
    pq = tmp_path / "unidentified.parquet"
    write_parquet(result, pq)
    back = [
        {k: "" if v is None else str(v) for k, v in row.items() if k != "host"}
        for row in pl.read_parquet(pq).iter_rows(named=True)
    ]
    assert back == expected

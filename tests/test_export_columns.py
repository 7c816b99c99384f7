"""The column-wise export writers (store.export_text) against the row-wise reference
(`write_csv` / `write_json` of `export_rows`): the same bytes on the sample, on simulated
traces, and on random results full of cells that need quoting or escaping."""

from __future__ import annotations

import io
import random
from array import array
from pathlib import Path

import pytest
from paths import SAMPLE_TRACE

from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv, write_json
from w2a_tui.model import AnalysisResult, Evidence, LaneData, Source, State, TraceMeta, VmInfo
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore
from w2a_tui.store.export_text import write_csv_columns, write_json_columns

NASTY = ["", "qemu", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "tab\there", "é日本", "?", " "]


def _reference(result: AnalysisResult) -> tuple[str, str]:
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_csv(export_rows(result), csv_out)
    write_json(export_rows(result), json_out)
    return csv_out.getvalue(), json_out.getvalue()


def _columns(result: AnalysisResult, block_rows: int) -> tuple[str, str]:
    store = StateStore.from_result(result)
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_csv_columns(store, csv_out, block_rows=block_rows)
    write_json_columns(store, json_out, block_rows=block_rows)
    return csv_out.getvalue(), json_out.getvalue()


def _random_result(seed: int, *, max_exit: int = 80) -> AnalysisResult:
    rng = random.Random(seed)
    evidence = [
        Evidence(
            source=rng.choice(list(Source)),
            vector=rng.choice([-1, 0, 0xEC, 0x31, 255]),
            emitter_tid=rng.choice([-1, 7]),
            emitter_comm=rng.choice(NASTY),
            waker_tid=rng.choice([-1, 0, 5, 123456]),
            waker_comm=rng.choice(NASTY),
            waker_context=rng.choice(["", "hrtimer", "softirq:NET_RX"]),
            wakeup_ns=rng.choice([-1, 10]),
            next_tid=rng.choice([-1, 0, 99]),
            next_comm=rng.choice(NASTY),
        )
        for _ in range(rng.randint(0, 40))
    ]
    vms = [VmInfo(pid=pid, name=name) for pid, name in ((100, "web,01"), (200, "pid 200"))]
    vms.append(VmInfo(pid=-1, name="unidentified VM 1"))
    vms.append(VmInfo(pid=300, name='db "main"\n'))
    lanes = []
    for vm in vms:
        for vcpu in range(rng.randint(0, 3)):
            lane = LaneData(vm.pid, vcpu, abs(vm.pid) + vcpu + 1, f"CPU {vcpu}/KVM")
            t = rng.choice([0, 7, 10**18 - 5])
            for _ in range(rng.randint(0, 70)):
                lane.starts.append(t)
                t += rng.choice([1, 9, 10, 999, 10_000, 123_456_789])
                lane.states.append(rng.choice(list(State)))
                lane.exit_reasons.append(rng.choice([-1, 0, 12, 48, max_exit]))
                lane.evidence.append(rng.randrange(-1, len(evidence)) if evidence else -1)
            lane.end_ns = t + rng.choice([0, 5])
            lanes.append(lane)
    lanes.sort(key=lambda x: (x.vm_pid, x.vcpu))
    return AnalysisResult(TraceMeta(path="<random>"), vms, lanes, evidence, [])


@pytest.mark.parametrize("seed", range(40))
def test_random_results_export_the_same_bytes(seed: int) -> None:
    result = _random_result(seed, max_exit=80 if seed % 2 else 10**7)
    assert _columns(result, block_rows=1 + seed % 17) == _reference(result)


def test_an_empty_result_exports_a_header_and_an_empty_array() -> None:
    result = AnalysisResult(TraceMeta(path="<empty>"))
    assert _columns(result, block_rows=4) == _reference(result)
    assert _columns(result, block_rows=4)[1] == "[\n]\n"


def test_the_sample_exports_the_same_bytes() -> None:
    result = analyze_trace(SAMPLE_TRACE)
    expected = _reference(result)
    assert _columns(result, block_rows=1 << 15) == expected
    assert _columns(result, block_rows=1000) == expected


@pytest.mark.parametrize("scenario", ["two-vms", "preempt", "no-context", "svm", "lost"])
def test_simulated_traces_export_the_same_bytes(tmp_path: Path, scenario: str) -> None:
    trace = tmp_path / scenario
    assert main(["generate", str(trace), "--scenario", scenario, "--seconds", "0.2"]) == 0
    result = analyze_trace(trace)
    assert len(export_rows_list := list(export_rows(result))) > 100
    assert export_rows_list[0][0] == result.lanes[0].vm_pid
    assert _columns(result, block_rows=777) == _reference(result)


def test_the_export_command_writes_the_reference_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_ref, json_ref = _reference(analyze_trace(SAMPLE_TRACE))
    out = tmp_path / "out.json"
    args = ["export", str(SAMPLE_TRACE), "--no-cache", "--format", "json", "-o", str(out)]
    assert main(args) == 0
    assert out.read_text(encoding="utf-8") == json_ref
    assert main(["export", str(SAMPLE_TRACE), "--no-cache"]) == 0
    assert capsys.readouterr().out == csv_ref


def test_lane_arrays_of_any_width_are_read() -> None:
    """Narrowed store columns (int8 exits, int16 evidence ids) format as int64 ones."""
    result = _random_result(3)
    for lane in result.lanes:
        lane.exit_reasons = array("q", [min(x, 100) for x in lane.exit_reasons])
    store = StateStore.from_result(result)
    assert store.columns()["exits"].dtype.itemsize == 1
    out = io.StringIO()
    write_csv_columns(store, out)
    assert out.getvalue() == _reference(result)[0]

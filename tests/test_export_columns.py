"""The column-wise export writers (store.export_text) against the row-wise reference
(`write_csv` / `write_json` of `export_rows`): the same bytes on the sample, on simulated
traces, and on random results full of cells that need quoting or escaping."""

from __future__ import annotations

import io
from array import array
from pathlib import Path

import pytest

from tests.support.paths import SAMPLE_TRACE
from tests.support.random_result import random_result
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv, write_json
from w2a_tui.model import AnalysisResult, TraceMeta
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore
from w2a_tui.store.export_text import write_csv_columns, write_json_columns

WARNINGS = ['a "quoted" warning', "CPU 1/KVM\udcff lost events"]


def _reference(result: AnalysisResult, warnings: list[str] = WARNINGS) -> tuple[str, str]:
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_csv(export_rows(result), csv_out)
    write_json(export_rows(result), json_out, warnings)
    return csv_out.getvalue(), json_out.getvalue()


def _columns(
    result: AnalysisResult, block_rows: int, warnings: list[str] = WARNINGS
) -> tuple[str, str]:
    store = StateStore.from_result(result)
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_csv_columns(store, csv_out, block_rows=block_rows)
    write_json_columns(store, json_out, warnings, block_rows=block_rows)
    return csv_out.getvalue(), json_out.getvalue()


@pytest.mark.parametrize("seed", range(40))
def test_random_results_export_the_same_bytes(seed: int) -> None:
    result = random_result(seed, max_exit=80 if seed % 2 else 10**7)
    assert _columns(result, block_rows=1 + seed % 17) == _reference(result)


def test_an_absurd_exit_reason_costs_no_lookup_table() -> None:
    """A damaged trace's exit reason of 2**40 once asked numpy for a 300 GiB table."""
    result = random_result(5, max_exit=2**40)
    assert any(2**40 in lane.exit_reasons for lane in result.lanes)
    assert _columns(result, block_rows=100) == _reference(result)


def test_an_empty_result_exports_a_header_and_an_empty_array() -> None:
    result = AnalysisResult(TraceMeta(path="<empty>"))
    assert _columns(result, block_rows=4) == _reference(result)
    empty = '{"warnings": [],\n "intervals": [\n ]}\n'
    assert _columns(result, block_rows=4, warnings=[])[1] == empty


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
    result = analyze_trace(SAMPLE_TRACE)
    csv_ref, json_ref = _reference(result, result.warnings)
    out = tmp_path / "out.json"
    args = ["export", str(SAMPLE_TRACE), "--no-cache", "--format", "json", "-o", str(out)]
    assert main(args) == 0
    assert out.read_text(encoding="utf-8") == json_ref
    assert main(["export", str(SAMPLE_TRACE), "--no-cache"]) == 0
    assert capsys.readouterr().out == csv_ref


def test_lane_arrays_of_any_width_are_read() -> None:
    """Narrowed store columns (int8 exits, int16 evidence ids) format as int64 ones."""
    result = random_result(3)
    for lane in result.lanes:
        lane.exit_reasons = array("q", [min(x, 100) for x in lane.exit_reasons])
    store = StateStore.from_result(result)
    assert store.columns()["exits"].dtype.itemsize == 1
    out = io.StringIO()
    write_csv_columns(store, out)
    assert out.getvalue() == _reference(result)[0]

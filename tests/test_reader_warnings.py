"""What the reader can read past but must not keep quiet about: empty stream files, and
traces whose events carry no CPU (W2A then cannot place interrupt contexts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.foreign_ctf import Layout, write_trace
from tests.support.paths import SAMPLE_TRACE
from w2a_tui.cli import main
from w2a_tui.pipeline import analyze_trace
from w2a_tui.trace import open_trace


def _info_json(trace: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["info", str(trace), "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_an_empty_stream_file_is_reported_by_info_and_by_the_analysis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    (trace / "channel0_1").write_bytes(b"")

    warnings = _info_json(trace, capsys)["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 1
    assert "channel0_1 is empty" in warnings[0]
    assert any("channel0_1 is empty" in w for w in analyze_trace(trace).warnings)


def test_an_intact_trace_has_no_reader_warnings() -> None:
    assert open_trace(SAMPLE_TRACE).meta.warnings == []


def test_events_without_any_cpu_id_make_info_flag_the_missing_per_cpu_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_cpu = _info_json(write_trace(tmp_path / "lttng", Layout()), capsys)
    without = _info_json(write_trace(tmp_path / "nocpu", Layout(cpu_id=False)), capsys)

    def per_cpu_ok(report: dict[str, object]) -> bool:
        w2a = report["w2a"]
        assert isinstance(w2a, dict)
        rows = [r for r in w2a["requirements"] if r["what"].startswith("per-CPU streams")]
        assert len(rows) == 1
        return bool(rows[0]["ok"])

    assert per_cpu_ok(with_cpu)
    assert not per_cpu_ok(without)

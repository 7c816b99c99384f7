"""Totals straight from a store's columns (what `analyze` does from the cache) equal the
totals of the analysis result the store was built from, and `analyze` prints the same
from the cache as afresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.paths import SAMPLE_TRACE
from tests.support.random_result import random_result
from w2a_tui.analysis.totals import compute_totals, totals_to_json
from w2a_tui.cli import main
from w2a_tui.model import AnalysisResult
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore


def _both(result: AnalysisResult) -> tuple[object, object]:
    store = StateStore.from_result(result)
    return totals_to_json(compute_totals(store, top=3)), totals_to_json(
        compute_totals(result, top=3)
    )


@pytest.mark.parametrize("seed", range(30))
def test_random_results(seed: int) -> None:
    from_store, from_result = _both(random_result(seed))
    assert from_store == from_result


def test_the_sample_and_a_preempted_host(tmp_path: Path) -> None:
    trace = tmp_path / "preempt"
    assert main(["generate", str(trace), "--scenario", "preempt", "--seconds", "0.3"]) == 0
    for path in (SAMPLE_TRACE, trace):
        result = analyze_trace(path)
        from_store, from_result = _both(result)
        assert from_store == from_result
    preemptors = compute_totals(StateStore.from_result(result)).vms[0].top_preemptors
    assert preemptors and preemptors[0].time_ns > 0


def test_analyze_from_the_cache_prints_what_a_fresh_analysis_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    for args in (["--json"], []):
        assert main(["analyze", str(trace), "--no-cache", *args]) == 0
        fresh = capsys.readouterr().out
        assert main(["analyze", str(trace), *args]) == 0  # analyses, writes the cache
        assert capsys.readouterr().out == fresh
        assert list(tmp_path.glob("*.w2a-cache"))
        assert main(["analyze", str(trace), *args]) == 0  # from the cache
        assert capsys.readouterr().out == fresh


def test_analyze_from_the_cache_does_not_read_the_pcpu_lanes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`analyze` and `export` report vCPUs only: a cached store reopens without the pCPU
    sidecar, which a fresh analysis still writes for the TUI."""
    import w2a_tui.pipeline as pipeline

    trace = Path(shutil.copytree(SAMPLE_TRACE, tmp_path / "t"))
    store, cached = pipeline.load_store(trace, with_pcpu=False)
    assert not cached and store.pcpu is not None  # analysed afresh: pCPU lanes built too

    def refuse(*_: object) -> None:
        raise AssertionError("the pCPU sidecar was read")

    monkeypatch.setattr(pipeline, "pcpu_loader", refuse)
    again, cached = pipeline.load_store(trace, with_pcpu=False)
    assert cached and len(again.lanes) == len(store.lanes)

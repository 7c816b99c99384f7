"""Packed runs of guest entries (analysis.runs): the analysis of packed events is the
analysis of the events themselves, on every simulated scenario, the sample and the real
traces; a thread touched inside its run is refused (RunConflict) and the pipeline then
reads in one process; the decoding workers pack from PACK_MIN_WORKERS on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import SAMPLE_TRACE, real_trace, real_trace_names
from tests.support.runs_compare import assert_same_analysis, lane_columns
from tests.support.sim import SimTraces
from w2a_tui import pipeline
from w2a_tui.analysis import NEEDED_KINDS, Analyzer
from w2a_tui.analysis.rows import export_rows
from w2a_tui.analysis.runs import VCPU_RUN, RunConflict, pack_runs
from w2a_tui.events import Batch, EventKind
from w2a_tui.model import TraceMeta
from w2a_tui.pipeline import analyze_trace
from w2a_tui.sim import SCENARIOS
from w2a_tui.store import StateStore
from w2a_tui.trace import open_trace
from w2a_tui.trace.fastctf.cwalk import PURE_PYTHON_ENV

ENTRY, EXIT, INJ = int(EventKind.KVM_ENTRY), int(EventKind.KVM_EXIT), int(EventKind.KVM_INJ_VIRQ)
WAKING, SWITCH = int(EventKind.SCHED_WAKING), int(EventKind.SCHED_SWITCH)


def _batches(trace: Path) -> tuple[list[Batch], TraceMeta]:
    source = open_trace(trace)
    batches = [list(batch) for batch in source.iter_batches(NEEDED_KINDS)]
    return batches, source.meta


def assert_packing_changes_nothing(trace: Path) -> int:
    """Analyse `trace` from its events and from its events packed; returns how many
    events the packing folded into runs."""
    batches, meta = _batches(trace)
    packed = [pack_runs(batch) for batch in batches]
    assert_same_analysis(batches, packed, meta)
    return sum(map(len, batches)) - sum(map(len, packed))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_analyses_the_same_packed(sim_traces: SimTraces, scenario: str) -> None:
    folded = assert_packing_changes_nothing(sim_traces.get(scenario))
    # Without a tid context no run is packed: the CPU's thread is only known to the analysis.
    assert (folded > 0) == SCENARIOS[scenario].context


def test_the_sample_analyses_the_same_packed() -> None:
    assert assert_packing_changes_nothing(SAMPLE_TRACE) > 10_000


@pytest.mark.parametrize("name", real_trace_names())
def test_real_traces_analyse_the_same_packed(name: str) -> None:
    assert_packing_changes_nothing(real_trace(name))


def _event(ts: int, cpu: int, kind: int, tid: int, *payload: object) -> tuple[object, ...]:
    return (ts, cpu, kind, tid, 100, "qemu", *payload)


def _run_events() -> list[tuple[object, ...]]:
    """vCPU thread 7 enters, exits and enters again on CPU 0."""
    return [
        _event(100, 0, ENTRY, 7, 0),
        _event(200, 0, EXIT, 7, 12, 1, 0),
        _event(210, 0, INJ, 7, 32, 0),
        _event(300, 0, ENTRY, 7, 0),
    ]


def test_a_run_is_its_lead_and_the_columns_after_it() -> None:
    packed = pack_runs(_run_events())
    assert len(packed) == 1 and packed[0][2] == VCPU_RUN
    assert packed[0][6] == _run_events()[0] and packed[0][7] == 300 and packed[0][8] == 3


def test_other_events_of_the_cpu_end_the_run_and_other_cpus_do_not() -> None:
    events = _run_events()
    waking_elsewhere = _event(250, 1, WAKING, 9, "kworker", 55, 1)
    switch_here = _event(260, 0, SWITCH, 7, "qemu", 7, 1, "swapper", 0)
    packed = pack_runs([*events[:2], waking_elsewhere, events[2], switch_here, events[3]])
    assert [e[2] for e in packed] == [VCPU_RUN, WAKING, SWITCH, ENTRY]
    assert packed[0][8] == 2  # the exit and the injection: the switch ended the run


def test_a_thread_woken_inside_its_run_is_refused() -> None:
    """A waking of the running thread from another CPU while its run goes on: the packed
    order would see the run's later exits too early."""
    events = _run_events()
    woken = _event(250, 1, WAKING, 9, "qemu", 7, 0)
    batch = pack_runs([*events[:2], woken, *events[2:]])
    meta = TraceMeta(path="handmade", event_count=len(events) + 1)
    with pytest.raises(RunConflict, match="thread 7"):
        Analyzer(meta).feed(batch)
    Analyzer(meta).feed([*events[:2], woken, *events[2:]])  # unpacked: fine


def test_a_conflict_makes_the_pipeline_read_in_one_process(
    monkeypatch: pytest.MonkeyPatch, sim_traces: SimTraces
) -> None:
    trace = sim_traces.get("mixed")
    one = analyze_trace(trace, workers=0)

    def refuse(self: Analyzer, ev: object) -> None:
        raise RunConflict("refused for the test")

    monkeypatch.setattr(Analyzer, "_on_run", refuse)
    three = analyze_trace(trace, workers=pipeline.PACK_MIN_WORKERS)
    assert list(export_rows(three)) == list(export_rows(one))


@pytest.mark.parametrize("pure_python", [False, True])
def test_workers_pack_and_give_the_one_process_answer(
    sim_traces: SimTraces, monkeypatch: pytest.MonkeyPatch, pure_python: bool
) -> None:
    """Workers pack in C, or, without the compiled walk, with `pack_runs`."""
    if pure_python:
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")
        assert pipeline.run_packer(pipeline.PACK_MIN_WORKERS) is pack_runs
    for scenario in ("mixed", "two-vms", "lost", "late-statedump"):
        trace = sim_traces.get(scenario)
        pcpu_one: list[StateStore] = []
        pcpu_many: list[StateStore] = []
        one = analyze_trace(trace, workers=0, pcpu_out=pcpu_one)
        many = analyze_trace(trace, workers=pipeline.PACK_MIN_WORKERS, pcpu_out=pcpu_many)
        assert list(export_rows(many)) == list(export_rows(one)), scenario
        assert many.warnings == one.warnings and many.meta == one.meta
        assert len(pcpu_many) == len(pcpu_one) == 1
        cpus_one, cpus_many = pcpu_one[0].to_result(), pcpu_many[0].to_result()
        assert cpus_many.evidence == cpus_one.evidence
        assert [lane_columns(a) for a in cpus_many.lanes] == [
            lane_columns(a) for a in cpus_one.lanes
        ]

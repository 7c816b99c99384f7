"""Two analyses of one trace that must agree in everything: from its events, and from
the same events with runs of guest entries packed (analysis.runs), however packed."""

from __future__ import annotations

from w2a_tui.analysis import Analyzer
from w2a_tui.analysis.pcpu import PcpuTracker
from w2a_tui.analysis.rows import export_rows
from w2a_tui.events import Batch
from w2a_tui.model import AnalysisResult, LaneData, TraceMeta


def analyse(batches: list[Batch], meta: TraceMeta) -> tuple[Analyzer, AnalysisResult, PcpuTracker]:
    analyzer, pcpus = Analyzer(meta), PcpuTracker()
    for batch in batches:
        analyzer.feed(batch)
        pcpus.feed(batch)
    return analyzer, analyzer.finish(), pcpus


def lane_columns(lane: LaneData) -> tuple[object, ...]:
    return (
        lane.vm_pid,
        lane.vcpu,
        lane.tid,
        lane.comm,
        lane.end_ns,
        list(lane.starts),
        list(lane.states),
        list(lane.exit_reasons),
        list(lane.evidence),
    )


def facts(analyzer: Analyzer) -> tuple[object, ...]:
    return (
        analyzer.event_count,
        analyzer.first_ns,
        analyzer.last_ns,
        analyzer.lost,
        analyzer.seen_entry,
        analyzer.seen_exit,
        analyzer.seen_inj,
        analyzer._kinds_seen(),
    )


def assert_same_analysis(plain: list[Batch], packed: list[Batch], meta: TraceMeta) -> None:
    """The analysis (vCPU lanes, evidence, warnings, VMs, the analyzer's own facts and
    the host CPUs' lanes) of `packed` is that of `plain`."""
    plain_analyzer, from_events, plain_pcpus = analyse(plain, meta)
    run_analyzer, from_runs, run_pcpus = analyse(packed, meta)
    assert list(export_rows(from_runs)) == list(export_rows(from_events))
    assert from_runs.warnings == from_events.warnings and from_runs.vms == from_events.vms
    assert from_runs.evidence == from_events.evidence
    assert [lane_columns(a) for a in from_runs.lanes] == [
        lane_columns(a) for a in from_events.lanes
    ]
    assert facts(run_analyzer) == facts(plain_analyzer)
    assert plain_analyzer.event_count == sum(map(len, plain))
    lanes, evidence = plain_pcpus.finish(from_events.lanes)
    run_lanes, run_evidence = run_pcpus.finish(from_runs.lanes)
    assert run_evidence == evidence
    assert [lane_columns(lane) for lane in run_lanes] == [lane_columns(lane) for lane in lanes]

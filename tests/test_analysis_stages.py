"""The analysis's stages hand over data: event fields have one name each, finish() builds a
result from plain facts (no Analyzer), and nothing in the core imports the state machine
back."""

from __future__ import annotations

import ast
from pathlib import Path

from w2a_tui import events
from w2a_tui.analysis.evidence import EvidenceTable
from w2a_tui.analysis.finish import AnalysisFacts, build_result
from w2a_tui.analysis.tracks import HYP_AFTER_EXIT, VcpuTrack
from w2a_tui.events import PAYLOAD, EventKind
from w2a_tui.model import Evidence, State, TraceMeta

ANALYSIS_DIR = Path(events.__file__).parent / "analysis"

# Prefix of each kind's named positions in events.py.
_PREFIX = {
    EventKind.KVM_ENTRY: "ENTRY",
    EventKind.KVM_EXIT: "EXIT",
    EventKind.KVM_INJ_VIRQ: "INJ",
    EventKind.KVM_APIC_ACCEPT_IRQ: "ACCEPT",
    EventKind.SCHED_SWITCH: "SWITCH",
    EventKind.SCHED_WAKING: "WAKE",
    EventKind.SCHED_PROCESS_FORK: "FORK",
    EventKind.SCHED_PROCESS_EXEC: "EXEC",
    EventKind.STATEDUMP_PROCESS_STATE: "STATEDUMP",
    EventKind.IRQ_HANDLER_ENTRY: "IRQ",
    EventKind.SOFTIRQ_ENTRY: "SOFTIRQ",
    EventKind.LOST_EVENTS: "LOST",
}
_SPELLING = {
    "vcpu_id": "VCPU",
    "exit_reason": "REASON",
    "irq": "NUMBER",
    "vec": "VECTOR",
    "begin_ns": "BEGIN",
    "end_ns": "END",
}


def _named_positions() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(events).items()
        if name.isupper() and isinstance(value, int) and "_" in name
    }


def test_every_named_position_is_the_payload_field_it_names() -> None:
    named = _named_positions()
    checked = 0
    for kind, prefix in _PREFIX.items():
        for offset, spellings in enumerate(PAYLOAD[kind]):
            field = spellings[0]
            word = _SPELLING.get(field, field.upper())
            if kind is EventKind.KVM_INJ_VIRQ and field == "irq":
                word = "VECTOR"
            candidates = [n for n in named if n.startswith(prefix + "_") and n.endswith(word)]
            if not candidates:
                continue  # a field the analysis never reads has no name
            assert len(candidates) == 1, (kind, field, candidates)
            assert named[candidates[0]] == events.P0 + offset, (kind, field)
            checked += 1
    assert checked >= 30


def test_the_finish_stage_imports_no_state_machine() -> None:
    tree = ast.parse((ANALYSIS_DIR / "finish.py").read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "w2a_tui.analysis.machine" not in imported
    assert all(not m.startswith("w2a_tui.analysis.machine") for m in imported)


def _track(vm: int, vcpu: int) -> VcpuTrack:
    track = VcpuTrack(vm, vcpu, 101, "CPU 0/KVM")
    track.push(100, State.UNKNOWN, -1)
    track.push(100, State.GUEST, -1)
    track.push(150, HYP_AFTER_EXIT, 12)
    track.push(160, State.GUEST, -1)
    return track


def test_finish_builds_a_result_from_hand_made_facts() -> None:
    table = EvidenceTable()
    assert table.intern(Evidence(next_tid=7)) == table.intern(Evidence(next_tid=7)) == 0
    facts = AnalysisFacts(
        meta=TraceMeta(path="<facts>"),
        first_ns=50,
        last_ns=200,
        event_count=4,
        vcpus={(100, 0): _track(100, 0)},
        vector_table={},
        learned={},
        io_tids={},
        vhost_tids={},
        guest_names={100: "db01"},
        comms={},
        lost={},
        seen_waking=True,
        seen_wakeup=True,
        seen_inj=True,
        unattributed=0,
        evidence=table,
    )
    result = build_result(facts)
    (lane,) = result.lanes
    assert list(lane.starts) == [50, 100, 150, 160]  # the unknown head moved to the first event
    assert [State(s).label for s in lane.states] == ["unknown", "guest", "hypervisor", "guest"]
    assert lane.exit_counts == {12: 1}
    assert [vm.name for vm in result.vms] == ["db01"]
    assert result.evidence == [Evidence(next_tid=7)]
    assert result.meta.first_ns == 50 and result.meta.last_ns == 200

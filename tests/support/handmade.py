"""A small hand-built analysis result for TUI unit tests that need exact, known intervals
(the pilot and snapshot tests run on traces/sample)."""

from __future__ import annotations

from array import array

from w2a_tui.model import AnalysisResult, Evidence, LaneData, Source, State, TraceMeta, VmInfo
from w2a_tui.store import StateStore

T0 = 1_000_000_000  # the trace starts 1 s after the clock origin
MS = 1_000_000

# Lane (vm 100, vcpu 0): guest 0-10ms, hyp 10-11, wait_disk 11-31 (vector 0x23 by inj_virq,
# woken by "IO iothread1"), hyp 31-32, guest 32-60, preempted 60-65 (by "kworker/0:1"),
# guest 65-100.
LANE0 = [
    (0, State.GUEST, -1, -1),
    (10, State.HYPERVISOR, 30, -1),
    (11, State.WAIT_DISK, 12, 0),
    (31, State.HYPERVISOR, 12, -1),
    (32, State.GUEST, -1, -1),
    (60, State.PREEMPTED, 1, 1),
    (65, State.GUEST, -1, -1),
]
# Lane (vm 100, vcpu 1): wait_timer 0-50 (vector 0xec), guest 50-100.
LANE1 = [(0, State.WAIT_TIMER, 12, 2), (50, State.GUEST, -1, -1)]
# Lane (vm 200, vcpu 0): guest 5-40, wait_net 40-45 (waker vhost-200), guest 45-100.
LANE2 = [(5, State.GUEST, -1, -1), (40, State.WAIT_NET, 12, 3), (45, State.GUEST, -1, -1)]

EVIDENCE = [
    Evidence(
        Source.INJ_VIRQ,
        vector=0x23,
        waker_tid=111,
        waker_comm="IO iothread1",
        waker_context="task",
        wakeup_ns=T0 + 31 * MS,
    ),
    Evidence(next_tid=42, next_comm="kworker/0:1"),
    Evidence(Source.INJ_VIRQ, vector=0xEC, waker_comm="swapper/1", waker_context="hrtimer"),
    Evidence(Source.WAKER, waker_tid=205, waker_comm="vhost-200", waker_context="task"),
]


def _lane(vm: int, vcpu: int, tid: int, rows: list[tuple[int, State, int, int]]) -> LaneData:
    lane = LaneData(vm_pid=vm, vcpu=vcpu, tid=tid, comm=f"CPU {vcpu}/KVM", end_ns=T0 + 100 * MS)
    lane.starts = array("q", [T0 + ms * MS for ms, *_ in rows])
    lane.states = array("B", [int(s) for _, s, _, _ in rows])
    lane.exit_reasons = array("q", [e for _, _, e, _ in rows])
    lane.evidence = array("q", [ev for *_, ev in rows])
    return lane


def small_result() -> AnalysisResult:
    meta = TraceMeta(
        path="/traces/handmade", hostname="kvmhost", first_ns=T0, last_ns=T0 + 100 * MS
    )
    vms = [VmInfo(100, "web", isa=1, disk_vectors=[0x23]), VmInfo(200, "db", isa=1)]
    lanes = [_lane(100, 0, 101, LANE0), _lane(100, 1, 102, LANE1), _lane(200, 0, 201, LANE2)]
    return AnalysisResult(meta=meta, vms=vms, lanes=lanes, evidence=EVIDENCE)


def small_store() -> StateStore:
    return StateStore.from_result(small_result())

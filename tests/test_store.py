"""StateStore queries against a brute-force reference on random and hand-made lanes."""

from __future__ import annotations

import itertools
import threading
from array import array
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2a_tui.model import (
    N_STATES,
    AnalysisResult,
    Evidence,
    LaneData,
    Source,
    State,
    TraceMeta,
    VmInfo,
)
from w2a_tui.store import NO_DATA, Interval, StateStore
from w2a_tui.store.store import CHECKPOINT_EVERY, FRAME_BLOCK, LONGEST_KEPT

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Row:
    """Reference interval: plain Python, no store code involved."""

    lane: int
    index: int
    start: int
    end: int
    state: int
    exit: int
    evidence: int


def evidence_strategy() -> st.SearchStrategy[Evidence]:
    names = st.sampled_from(["", "qemu", "vhost-100", "CPU 0/KVM", "kworker/1:1"])
    return st.builds(
        Evidence,
        source=st.sampled_from(list(Source)),
        vector=st.sampled_from([-1, 0xEC, 0xFB, 35]),
        emitter_tid=st.integers(-1, 5000),
        emitter_comm=names,
        emitter_context=st.sampled_from(["", "task", "hrtimer", "softirq:NET_RX"]),
        waker_tid=st.integers(-1, 5000),
        waker_comm=names,
        waker_context=st.sampled_from(["", "task", "irq:42:virtio1-req.0"]),
        wakeup_ns=st.integers(-1, 2**40),
        next_tid=st.integers(-1, 5000),
        next_comm=names,
    )


@st.composite
def results(draw: st.DrawFn) -> AnalysisResult:
    evidence = draw(st.lists(evidence_strategy(), max_size=8))
    n_lanes = draw(st.integers(0, 4))
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from([300, 100, 200]), st.integers(0, 5)),
            min_size=n_lanes,
            max_size=n_lanes,
            unique=True,
        )
    )
    lanes = []
    for vm_pid, vcpu in keys:
        n = draw(st.integers(0, 25))
        t = draw(st.integers(0, 50))
        lane = LaneData(vm_pid, vcpu, vm_pid + vcpu + 1, f"CPU {vcpu}/KVM")
        for _ in range(n):
            lane.starts.append(t)
            lane.states.append(draw(st.integers(0, N_STATES - 1)))
            lane.exit_reasons.append(draw(st.sampled_from([-1, 12, 30, 0x78, 2**31 + 12])))
            lane.evidence.append(draw(st.integers(-1, len(evidence) - 1)))
            t += draw(st.sampled_from([0, 1, 2, 3, 7, 20]))
        lane.end_ns = t + (draw(st.integers(0, 5)) if n else 0)
        lane.exit_counts = {12: n}
        lanes.append(lane)
    meta = TraceMeta(path="/t", first_ns=0, last_ns=500)
    vms = [VmInfo(pid=100, name="vm-a"), VmInfo(pid=200, name="vm-b")]
    return AnalysisResult(meta, vms, lanes, evidence, ["lost 3 events"])


def reference(result: AnalysisResult) -> list[list[Row]]:
    ordered = sorted(result.lanes, key=lambda lane: (lane.vm_pid, lane.vcpu))
    out = []
    for li, lane in enumerate(ordered):
        rows = []
        for i in range(len(lane)):
            rows.append(
                Row(
                    li,
                    i,
                    lane.starts[i],
                    lane.end_of(i),
                    lane.states[i],
                    lane.exit_reasons[i],
                    lane.evidence[i],
                )
            )
        out.append(rows)
    return out


def probe_times(rows: list[Row]) -> list[int]:
    points = {-1, 0, 1000}
    for r in rows:
        points.update({r.start - 1, r.start, r.start + 1, r.end - 1, r.end, r.end + 1})
    return sorted(points)


def as_row(iv: Interval | None) -> tuple[int, int, int, int] | None:
    return None if iv is None else (iv.lane, iv.index, iv.start, iv.end)


def key(r: Row | None) -> tuple[int, int, int, int] | None:
    return None if r is None else (r.lane, r.index, r.start, r.end)


@SETTINGS
@given(results())
def test_round_trip_keeps_every_column(result: AnalysisResult) -> None:
    store = StateStore.from_result(result)
    back = store.to_result()
    ordered = sorted(result.lanes, key=lambda lane: (lane.vm_pid, lane.vcpu))
    assert [(b.vm_pid, b.vcpu, b.tid, b.comm, b.end_ns) for b in back.lanes] == [
        (a.vm_pid, a.vcpu, a.tid, a.comm, a.end_ns) for a in ordered
    ]
    for a, b in zip(ordered, back.lanes, strict=True):
        assert b.starts == a.starts and b.states == a.states
        assert b.exit_reasons == a.exit_reasons and b.evidence == a.evidence
        assert b.exit_counts == a.exit_counts
    assert back.evidence == result.evidence
    assert back.warnings == result.warnings and back.vms == result.vms
    assert [(info.vm_pid, info.vcpu) for info in store.lanes] == [
        (lane.vm_pid, lane.vcpu) for lane in ordered
    ]


@SETTINGS
@given(results())
def test_point_and_range_queries_match_brute_force(result: AnalysisResult) -> None:
    store = StateStore.from_result(result)
    for li, rows in enumerate(reference(result)):
        times = probe_times(rows)
        for t in times:
            holding = [r for r in rows if r.start <= t < r.end]
            assert as_row(store.interval_at(li, t)) == key(holding[0] if holding else None)
        for t0 in times[::2]:
            for t1 in times[1::3]:
                got = [as_row(iv) for iv in store.intervals(li, t0, t1)]
                want = [key(r) for r in rows if r.start < t1 and r.end > t0 and t0 < t1]
                assert got == want
                assert [as_row(iv) for iv in store.intervals(li, t0, t1, limit=2)] == want[:2]
        for r in rows:
            iv = store.interval(li, r.index)
            assert (iv.start, iv.end, int(iv.state), iv.exit_reason) == (
                r.start,
                r.end,
                r.state,
                r.exit,
            )
            assert iv.evidence == (result.evidence[r.evidence] if r.evidence >= 0 else None)


@SETTINGS
@given(results(), st.lists(st.sampled_from(list(State)), max_size=3))
def test_transitions_and_find_match_brute_force(
    result: AnalysisResult, wanted: list[State]
) -> None:
    store = StateStore.from_result(result)
    filters: list[set[int] | None] = [None, {int(s) for s in wanted}]

    def vector_is_odd(e: Evidence) -> bool:
        return e.vector % 2 == 1

    for li, rows in enumerate(reference(result)):
        for t in probe_times(rows):
            for states in filters:
                chosen = [r for r in rows if states is None or r.state in states]
                after = [r for r in chosen if r.start > t]
                before = [r for r in chosen if r.start < t]
                as_states = None if states is None else [State(s) for s in states]
                assert as_row(store.next_transition(li, t, as_states)) == key(
                    after[0] if after else None
                )
                assert as_row(store.prev_transition(li, t, as_states)) == key(
                    before[-1] if before else None
                )
                odd = [
                    r
                    for r in chosen
                    if r.evidence >= 0 and vector_is_odd(result.evidence[r.evidence])
                ]
                fwd = [r for r in odd if r.start > t]
                back = [r for r in odd if r.start < t]
                assert as_row(
                    store.find(li, t, states=as_states, evidence_match=vector_is_odd)
                ) == key(fwd[0] if fwd else None)
                assert as_row(
                    store.find(li, t, states=as_states, evidence_match=vector_is_odd, forward=False)
                ) == key(back[-1] if back else None)


def brute_columns(
    rows: list[Row], t0: int, t1: int, ncols: int
) -> tuple[list[int], list[list[int]]]:
    edges = [t0 + (k * (t1 - t0)) // ncols for k in range(ncols + 1)]
    dominant, times = [], []
    lo = rows[0].start if rows else 0
    hi = rows[-1].end if rows else 0
    for a, b in itertools.pairwise(edges):
        time = [0] * N_STATES
        for r in rows:
            time[r.state] += max(0, min(b, r.end) - max(a, r.start))
        times.append(time)
        if a == b:
            holding = [r for r in rows if r.start <= a < r.end]
            dominant.append(holding[0].state if holding else NO_DATA)
        elif max(a, lo) >= min(b, hi):
            dominant.append(NO_DATA)
        else:
            dominant.append(time.index(max(time)))
    return dominant, times


@SETTINGS
@given(
    results(),
    st.integers(-5, 60),
    st.integers(1, 120),
    st.integers(1, 9),
    st.sampled_from([2, 4, CHECKPOINT_EVERY]),
)
def test_column_summary_and_totals_are_exact(
    result: AnalysisResult, t0: int, width: int, ncols: int, every: int
) -> None:
    # Small checkpoint spacings put many checkpoints, block ends and lane ends in reach.
    store = StateStore.from_result(result, checkpoint_every=every)
    for li, rows in enumerate(reference(result)):
        summary = store.column_summary(li, t0, t0 + width, ncols)
        dominant, times = brute_columns(rows, t0, t0 + width, ncols)
        assert summary.time.shape == (ncols, N_STATES)
        assert summary.time.tolist() == times
        assert summary.dominant.tolist() == dominant
        assert store.dominant_states(li, t0, t0 + width, ncols).tolist() == dominant
        want_totals = [0] * N_STATES
        for r in rows:
            want_totals[r.state] += max(0, min(t0 + width, r.end) - max(t0, r.start))
        assert store.totals(li, t0, t0 + width).tolist() == want_totals
        whole = [0] * N_STATES
        for r in rows:
            whole[r.state] += r.end - r.start
        assert store.totals(li).tolist() == whole


@SETTINGS
@given(results(), st.lists(st.sampled_from(list(State)), min_size=1, max_size=3), st.integers(1, 6))
def test_longest_matches_brute_force(result: AnalysisResult, wanted: list[State], k: int) -> None:
    store = StateStore.from_result(result)
    rows = [r for lane in reference(result) for r in lane if r.state in set(wanted)]
    rows.sort(key=lambda r: (-(r.end - r.start), r.lane, r.index))
    assert [as_row(iv) for iv in store.longest(wanted, k)] == [key(r) for r in rows[:k]]
    some = set(range(0, len(store.lanes), 2))
    mine = [r for r in rows if r.lane in some][:k]
    assert [as_row(iv) for iv in store.longest(wanted, k, lanes=some)] == [key(r) for r in mine]


@SETTINGS
@given(results(), st.data())
def test_batched_summaries_of_a_lane_subset_are_exact(
    result: AnalysisResult, data: st.DataObject
) -> None:
    store = StateStore.from_result(result, checkpoint_every=2)
    rows = reference(result)
    picked = data.draw(st.lists(st.integers(0, max(len(rows) - 1, 0)), max_size=4))
    picked = [lane for lane in picked if lane < len(rows)]
    t0 = data.draw(st.integers(-5, 60))
    t1 = t0 + data.draw(st.integers(1, 120))
    ncols = data.draw(st.integers(1, 12))
    summaries = store.column_summaries(picked, t0, t1, ncols)
    assert len(summaries) == len(picked)
    for lane, summary in zip(picked, summaries, strict=True):
        dominant, times = brute_columns(rows[lane], t0, t1, ncols)
        assert summary.time.tolist() == times and summary.dominant.tolist() == dominant


@SETTINGS
@given(
    results(),
    st.lists(st.sampled_from(list(State)), max_size=4),
    st.one_of(st.none(), st.integers(-5, 80)),
    st.one_of(st.none(), st.integers(-5, 80)),
    st.data(),
)
def test_durations_match_brute_force(
    result: AnalysisResult,
    wanted: list[State],
    t0: int | None,
    t1: int | None,
    data: st.DataObject,
) -> None:
    store = StateStore.from_result(result)
    lanes = reference(result)
    picked = sorted(set(data.draw(st.lists(st.integers(0, max(len(lanes) - 1, 0)), max_size=4))))
    picked = [lane for lane in picked if lane < len(lanes)]
    states = {int(s) for s in wanted}
    lo = -(2**62) if t0 is None else t0
    hi = 2**62 if t1 is None else t1
    # Order: lane, then state, then time; whole (unclipped) durations.
    expected = [
        (lane, r.end - r.start)
        for lane in picked
        for state in sorted(states)
        for r in lanes[lane]
        if r.state == state and r.start < hi and r.end > lo
    ]
    got = store.durations(picked, wanted, t0, t1)
    assert got.dtype == np.int64 and got.tolist() == [d for _, d in expected]
    for lane in picked[:1]:
        alone = [d for owner, d in expected if owner == lane]
        assert store.durations(lane, wanted, t0, t1).tolist() == alone


def test_longest_beyond_the_remembered_few_and_after_them() -> None:
    """More intervals of one state than `longest` remembers per lane: asking for more than
    that, then fewer, then other lanes, must all agree with a plain sort."""
    rng = np.random.default_rng(5)
    lanes = []
    for vcpu in range(3):
        n = 3 * LONGEST_KEPT
        starts = np.cumsum(rng.integers(1, 50, n)).astype(np.int64)
        states = rng.choice([int(State.GUEST), int(State.WAIT_DISK)], n).astype(np.uint8)
        lanes.append(
            LaneData(
                7,
                vcpu,
                70 + vcpu,
                f"CPU {vcpu}/KVM",
                int(starts[-1]) + 9,
                array("q", starts.tobytes()),
                array("B", states.tobytes()),
                array("q", [-1] * n),
                array("q", [-1] * n),
            )
        )
    result = AnalysisResult(TraceMeta("/t"), [VmInfo(7, "vm")], lanes)
    store = StateStore.from_result(result)
    rows = [r for lane in reference(result) for r in lane if r.state == State.WAIT_DISK]

    def expect(k: int, chosen: set[int]) -> list[tuple[int, int, int, int] | None]:
        mine = sorted(
            (r for r in rows if r.lane in chosen), key=lambda r: (r.start - r.end, r.lane, r.index)
        )
        return [key(r) for r in mine[:k]]

    for k, chosen in [
        (LONGEST_KEPT + 7, {0, 1, 2}),
        (5, {1}),
        (LONGEST_KEPT, {0, 1, 2}),
        (LONGEST_KEPT, {2}),
        (3, {0, 2}),
    ]:
        got = store.longest([State.WAIT_DISK], k, lanes=chosen)
        assert [as_row(iv) for iv in got] == expect(k, chosen)


def test_more_lanes_than_one_block_keep_their_order() -> None:
    """A frame wider than FRAME_BLOCK lanes is computed in blocks, empty lanes between."""
    lanes = []
    for vcpu in range(FRAME_BLOCK + 5):
        n = 0 if vcpu % 7 == 3 else 1 + vcpu % 4
        starts = [vcpu + 10 * i for i in range(n)]
        states = [(vcpu + i) % N_STATES for i in range(n)]
        lanes.append(
            LaneData(
                1,
                vcpu,
                vcpu,
                "x",
                (starts[-1] + 5 + vcpu % 3) if n else 0,
                array("q", starts),
                array("B", states),
                array("q", [-1] * n),
                array("q", [-1] * n),
            )
        )
    result = AnalysisResult(TraceMeta("/t"), lanes=lanes)
    store = StateStore.from_result(result, checkpoint_every=2)
    rows = reference(result)
    order = list(range(len(rows)))[::-1]  # any order of lanes is answered in that order
    summaries = store.column_summaries(order, -3, 200, 13)
    assert len(summaries) == len(order)
    for lane, summary in zip(order, summaries, strict=True):
        dominant, times = brute_columns(rows[lane], -3, 200, 13)
        assert summary.time.tolist() == times and summary.dominant.tolist() == dominant


def test_concurrent_frames_do_not_share_work_arrays() -> None:
    """The frame's work arrays are reused; a second thread asking at the same time must
    still get its own exact answer."""
    rng = np.random.default_rng(9)
    n_lanes, n = 8, 4000
    lanes = []
    for vcpu in range(n_lanes):
        starts = np.cumsum(rng.integers(1, 1000, n)).astype(np.int64)
        lanes.append(
            LaneData(
                1,
                vcpu,
                10 + vcpu,
                "x",
                int(starts[-1]) + 1,
                array("q", starts.tobytes()),
                array("B", rng.integers(0, N_STATES, n).astype(np.uint8).tobytes()),
                array("q", [-1] * n),
                array("q", [-1] * n),
            )
        )
    store = StateStore.from_result(AnalysisResult(TraceMeta("/t"), lanes=lanes))
    windows = [(store.start_ns + 7 * i, store.end_ns - 11 * i) for i in range(40)]
    expected = [
        [s.time.tolist() for s in store.column_summaries(range(n_lanes), a, b, 200)]
        for a, b in windows
    ]
    failures: list[int] = []

    def work() -> None:
        for i, (a, b) in enumerate(windows):
            got = [s.time.tolist() for s in store.column_summaries(range(n_lanes), a, b, 200)]
            if got != expected[i]:
                failures.append(i)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def two_vm_store() -> StateStore:
    """Hand-made: vm 20 vcpu 1 is one long guest interval; vm 10 vcpus 0 and 1 alternate."""

    def lane(pid: int, vcpu: int, starts: list[int], states: list[State], end: int) -> LaneData:
        return LaneData(
            pid,
            vcpu,
            pid * 10 + vcpu,
            f"CPU {vcpu}/KVM",
            end,
            array("q", starts),
            array("B", [int(s) for s in states]),
            array("q", [-1] * len(starts)),
            array("q", [-1] * len(starts)),
        )

    g, h, w = State.GUEST, State.HYPERVISOR, State.WAIT_TIMER
    return StateStore.from_result(
        AnalysisResult(
            TraceMeta("/t", first_ns=0, last_ns=10**12),
            [VmInfo(10, "alpha"), VmInfo(20, "beta")],
            [
                lane(20, 1, [10**9], [g], 2 * 10**9),
                lane(10, 1, [100, 200, 300], [g, h, w], 400),
                lane(10, 0, [0, 50], [h, g], 1000),
            ],
        )
    )


def test_lanes_are_sorted_and_named_and_span_is_known() -> None:
    store = two_vm_store()
    assert [(x.vm_pid, x.vcpu, x.vm_name, x.n_intervals) for x in store.lanes] == [
        (10, 0, "alpha", 2),
        (10, 1, "alpha", 3),
        (20, 1, "beta", 1),
    ]
    assert (store.start_ns, store.end_ns) == (0, 2 * 10**9)
    assert store.lanes_of_vm(10) == [0, 1] and store.lanes_of_vm(99) == []


def test_deep_zoom_inside_one_interval_is_exact() -> None:
    store = two_vm_store()
    t0 = 10**9 + 123_456
    summary = store.column_summary(2, t0, t0 + 200, 200)
    assert summary.dominant.tolist() == [int(State.GUEST)] * 200
    assert summary.time[:, int(State.GUEST)].tolist() == [1] * 200
    # Straddling the lane's end: half the columns hold the interval, half have no data.
    summary = store.column_summary(2, 2 * 10**9 - 100, 2 * 10**9 + 100, 200)
    assert summary.dominant.tolist() == [int(State.GUEST)] * 100 + [NO_DATA] * 100
    # Fewer ns than columns: thin columns sample the state at their edge.
    assert store.dominant_states(1, 298, 302, 8).tolist() == [2, 2, 2, 2, 6, 6, 6, 6]


def test_empty_store_uses_trace_span_and_rejects_bad_windows() -> None:
    store = StateStore.from_result(AnalysisResult(TraceMeta("/t", first_ns=5, last_ns=9)))
    assert (store.start_ns, store.end_ns, store.lanes) == (5, 9, [])
    with pytest.raises(IndexError):
        store.interval_at(0, 5)
    with pytest.raises(ValueError):
        two_vm_store().column_summary(0, 10, 10, 4)


def test_lanes_breaking_the_contract_are_refused() -> None:
    bad = LaneData(
        1,
        0,
        2,
        "x",
        10,
        array("q", [5, 3]),
        array("B", [1, 1]),
        array("q", [-1, -1]),
        array("q", [-1, -1]),
    )
    with pytest.raises(ValueError, match="time order"):
        StateStore.from_result(AnalysisResult(TraceMeta("/t"), lanes=[bad]))
    bad = LaneData(
        1, 0, 2, "x", 10, array("q", [5]), array("B", [1]), array("q", [-1]), array("q", [3])
    )
    with pytest.raises(ValueError, match="evidence"):
        StateStore.from_result(AnalysisResult(TraceMeta("/t"), lanes=[bad]))


def test_store_is_compact() -> None:
    n = 100_000
    rng = np.random.default_rng(1)
    starts = np.cumsum(rng.integers(1, 1000, n)).astype(np.int64)
    lane = LaneData(
        1,
        0,
        2,
        "x",
        int(starts[-1]) + 5,
        array("q", starts.tobytes()),
        array("B", rng.integers(0, N_STATES, n).astype(np.uint8).tobytes()),
        array("q", [12] * n),
        array("q", [-1] * n),
    )
    store = StateStore.from_result(AnalysisResult(TraceMeta("/t"), lanes=[lane]))
    assert store.nbytes / n < 30

"""The on-disk cache: round trip, identity of a real trace, invalidation, corruption,
read-only folders, and babeltrace2 still reading a folder that holds a cache."""

from __future__ import annotations

import os
import shutil
import struct
from array import array
from pathlib import Path

import bt2
import pytest

from tests.support.paths import real_trace
from w2a_tui.model import AnalysisResult, Evidence, LaneData, Source, State, TraceMeta, VmInfo
from w2a_tui.store import StateStore, cache

REAL = real_trace("tc-perf-taskset2")


@pytest.fixture(autouse=True)
def private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    return xdg


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    """A copy of a small real CTF trace (a folder holding one CTF directory)."""
    dest = tmp_path / "traces" / REAL.name
    shutil.copytree(REAL, dest)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    dest.chmod(0o755)
    return dest


def sample_result() -> AnalysisResult:
    evidence = [
        Evidence(
            Source.INJ_VIRQ,
            0xEC,
            waker_tid=7,
            waker_comm="swapper/1",
            waker_context="hrtimer",
            wakeup_ns=1_500,
        ),
        Evidence(
            Source.WAKER,
            -1,
            waker_tid=9,
            waker_comm="vhost-100",
            waker_context="task",
            wakeup_ns=3_000,
            next_tid=12,
            next_comm="kworker/0:1",
        ),
    ]
    lanes = [
        LaneData(
            100,
            1,
            102,
            "CPU 1/KVM",
            4_000,
            array("q", [1_000, 1_200, 2_000]),
            array("B", [State.GUEST, State.WAIT_NET, State.READY]),
            array("q", [-1, 2**31 + 12, 12]),
            array("q", [-1, 1, 1]),
            {12: 2},
        ),
        LaneData(
            100,
            0,
            101,
            "CPU 0/KVM",
            4_000,
            array("q", [900, 1_000]),
            array("B", [State.HYPERVISOR, State.WAIT_TIMER]),
            array("q", [30, 12]),
            array("q", [-1, 0]),
            {30: 1, 12: 1},
        ),
    ]
    meta = TraceMeta(
        path="x",
        trace_dirs=["x/k"],
        hostname="host",
        tracer="lttng-modules",
        kernel="6.1",
        cpus=[0, 1],
        first_ns=900,
        last_ns=4_000,
        event_count=77,
        lost_events=3,
        has_pid_tid=True,
    )
    vms = [
        VmInfo(
            100,
            "guest1",
            isa=1,
            main_tid=100,
            io_tids=[103],
            vhost_tids=[104],
            disk_vectors=[35],
            net_vectors=[36, 37],
        )
    ]
    return AnalysisResult(meta, vms, lanes, evidence, ["3 events lost on cpu 1"])


def sorted_lanes(result: AnalysisResult) -> AnalysisResult:
    result.lanes.sort(key=lambda lane: (lane.vm_pid, lane.vcpu))
    return result


def test_round_trip_beside_the_trace(trace: Path) -> None:
    path = cache.save_cached(trace, sample_result())
    assert path == trace.parent / f"{trace.name}.w2a-cache" == cache.cache_path_for(trace)
    assert cache.load_cached(trace) == sorted_lanes(sample_result())


def test_identity_covers_every_file_of_the_ctf_dirs(trace: Path) -> None:
    identity = cache.trace_identity(trace)
    names = {rel for rel, _, _ in identity}
    expected = {
        p.relative_to(trace).as_posix()
        for p in trace.rglob("*")
        if p.is_file() and p.parent != trace
    }
    assert names == expected and "perf-taskset2/metadata" in names
    assert "README.md" not in names  # not part of a CTF trace
    assert cache.trace_identity(trace / "perf-taskset2") != []
    assert cache.trace_identity(trace.parent / "missing") == []


def test_load_or_analyze_reads_the_trace_once(trace: Path) -> None:
    calls: list[int] = []

    def analyze() -> AnalysisResult:
        calls.append(1)
        return sample_result()

    first, hit1 = cache.load_or_analyze(trace, analyze)
    second, hit2 = cache.load_or_analyze(trace, analyze)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    assert second == sorted_lanes(first)
    store, hit3 = cache.load_or_analyze_store(trace, analyze)
    assert hit3 and len(calls) == 1 and store.lanes[0].vm_name == "guest1"


def test_no_cache_neither_reads_nor_writes(trace: Path) -> None:
    _, hit = cache.load_or_analyze(trace, sample_result, use_cache=False)
    assert not hit and not cache.cache_path_for(trace).exists()


@pytest.mark.parametrize("change", ["size", "mtime", "new stream", "removed stream"])
def test_a_changed_trace_invalidates_the_cache(trace: Path, change: str) -> None:
    assert cache.save_cached(trace, sample_result()) is not None
    stream = trace / "perf-taskset2" / "perf_stream_0"
    if change == "size":
        with open(stream, "ab") as f:
            f.write(b"\0")
    elif change == "mtime":
        st = stream.stat()
        os.utime(stream, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "new stream":
        (trace / "perf-taskset2" / "perf_stream_1").write_bytes(b"")
    else:
        stream.unlink()
    assert cache.load_cached(trace) is None
    _, hit = cache.load_or_analyze(trace, sample_result)
    assert not hit and cache.load_cached(trace) is not None


def corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[-100:]
    elif how == "header byte":
        data[60] ^= 0x01
    elif how == "analysis version":
        struct.pack_into("<I", data, 12, cache.ANALYSIS_VERSION + 1)
    elif how == "empty":
        data = bytearray()
    else:
        data = bytearray(b"not a cache at all" * 10)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how", ["truncated", "header byte", "analysis version", "empty", "garbage"]
)
def test_a_corrupt_cache_is_rebuilt(trace: Path, how: str) -> None:
    path = cache.save_cached(trace, sample_result())
    assert path is not None
    corrupt(path, how)
    assert cache.load_cached(trace) is None
    result, hit = cache.load_or_analyze(trace, sample_result)
    assert not hit
    assert cache.load_cached(trace) == sorted_lanes(result)


def test_no_flipped_byte_is_ever_trusted(trace: Path) -> None:
    """Flip each byte of the file in turn: the cache is refused, or (a flip in the padding
    between arrays) still loads the exact same result."""
    path = cache.save_cached(trace, sample_result())
    assert path is not None
    original = path.read_bytes()
    want = sorted_lanes(sample_result())
    refused = 0
    for i in range(0, len(original), 3):
        flipped = bytearray(original)
        flipped[i] ^= 0x04
        path.write_bytes(bytes(flipped))
        got = cache.load_cached(trace)
        assert got is None or got == want, f"byte {i} flipped gave a different result"
        refused += got is None
    assert refused > len(original) // 6


def test_a_newer_analysis_version_misses(trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.save_cached(trace, sample_result())
    monkeypatch.setattr(cache, "ANALYSIS_VERSION", cache.ANALYSIS_VERSION + 1)
    assert cache.load_cached(trace) is None


def test_read_only_trace_folder_falls_back_to_xdg(trace: Path, private_xdg: Path) -> None:
    trace.parent.chmod(0o555)
    try:
        target = cache.cache_path_for(trace)
        assert target.parent == private_xdg / "w2a-tui"
        assert cache.save_cached(trace, sample_result()) == target
        assert not (trace.parent / f"{trace.name}.w2a-cache").exists()
        assert cache.load_cached(trace) == sorted_lanes(sample_result())
    finally:
        trace.parent.chmod(0o755)


def test_unwritable_beside_path_falls_back_to_xdg(trace: Path, private_xdg: Path) -> None:
    # A directory squatting the cache's name makes the write beside the trace fail.
    (trace.parent / f"{trace.name}.w2a-cache").mkdir()
    path = cache.save_cached(trace, sample_result())
    assert path is not None and path.parent == private_xdg / "w2a-tui"
    assert cache.load_cached(trace) is not None


def test_nowhere_writable_or_no_trace_gives_none(
    trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: no folder can be made in it
    (trace.parent / f"{trace.name}.w2a-cache").mkdir()
    assert cache.save_cached(trace, sample_result()) is None
    empty = tmp_path / "no-ctf-here"
    empty.mkdir()
    assert cache.save_cached(empty, sample_result()) is None
    assert cache.load_cached(empty) is None


def test_babeltrace2_still_reads_a_folder_holding_our_cache(trace: Path) -> None:
    def count(path: Path) -> int:
        return sum(
            1
            for m in bt2.TraceCollectionMessageIterator(str(path))
            if type(m) is bt2._EventMessageConst
        )

    before = count(trace)
    cache.save_cached(trace / "perf-taskset2", sample_result())
    cache.save_cached(trace, sample_result())
    assert (trace / "perf-taskset2.w2a-cache").is_file()
    assert before > 0 and count(trace) == before and count(trace.parent) == before


def test_reopened_store_answers_like_the_original(trace: Path) -> None:
    original = StateStore.from_result(sample_result())
    cache.save_store(trace, original)
    reopened = cache.load_store(trace)
    assert reopened is not None
    for lane in range(len(original.lanes)):
        a = original.column_summary(lane, 800, 4_100, 33)
        b = reopened.column_summary(lane, 800, 4_100, 33)
        assert a.time.tolist() == b.time.tolist() and a.dominant.tolist() == b.dominant.tolist()
        assert original.interval_at(lane, 1_100) == reopened.interval_at(lane, 1_100)


def test_checkpoint_spacing_travels_with_the_cache(trace: Path) -> None:
    """A cache written with another checkpoint spacing reopens with that spacing (the
    checkpoint rows only make sense with it) and answers the same."""
    original = StateStore.from_result(sample_result(), checkpoint_every=2)
    cache.save_store(trace, original)
    reopened = cache.load_store(trace)
    assert reopened is not None and reopened.checkpoint_every == 2
    lanes = range(len(original.lanes))
    a = original.column_summaries(lanes, 850, 4_050, 17)
    b = reopened.column_summaries(lanes, 850, 4_050, 17)
    assert [x.time.tolist() for x in a] == [x.time.tolist() for x in b]
    for lane in lanes:
        assert original.totals(lane).tolist() == reopened.totals(lane).tolist()
        assert reopened.durations(lane, list(State)).sum() == reopened.totals(lane).sum()

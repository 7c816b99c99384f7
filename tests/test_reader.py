"""The trace reader on the real traces: complete, time-ordered, equal to babeltrace2's
public API, cancellable, with progress and lost events."""

from __future__ import annotations

import gc
import os
import shutil
import sys
from collections.abc import Generator
from itertools import islice
from pathlib import Path
from typing import Any

import bt2
import pytest

from tests.support.paths import ctf_dir, manifest_entry, real_trace, real_trace_names
from tests.support.trace_copies import LOST_CPU, SMALL_TRACE, copy_trace, trace_with_lost_events
from w2a_tui.errors import BadTraceError, MissingDependencyError
from w2a_tui.events import CANONICAL_NAME, EventKind, kind_of
from w2a_tui.trace import ReadProgress, open_trace
from w2a_tui.trace import _bt as trace_bt
from w2a_tui.trace.decode_public import PublicPortDecoder
from w2a_tui.trace.graph import Reading, TraceGraph

NAMES = real_trace_names()


def _known_kind_total(name: str) -> int:
    return sum(n for ev, n in manifest_entry(name)["counts"].items() if kind_of(ev) is not None)


def _opened(name: str, reader: str) -> Any:
    os.environ["W2A_READER"] = reader
    try:
        return open_trace(real_trace(name))
    finally:
        del os.environ["W2A_READER"]


def _all_events(source: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    return [event for batch in source.iter_batches(**kwargs) for event in batch]


@pytest.mark.parametrize("name", NAMES)
def test_every_known_event_is_decoded_in_time_order(name: str) -> None:
    """Nothing silently dropped (tc-scp-* included): as many tuples as the manifest counts
    events of known kinds, timestamps never go back, and meta is exact afterwards."""
    expected = manifest_entry(name)
    source = open_trace(real_trace(name))
    events = _all_events(source)
    assert len(events) == _known_kind_total(name)
    stamps = [e[0] for e in events]
    assert stamps == sorted(stamps)
    assert source.meta.event_count == expected["events"]
    assert (source.meta.first_ns, source.meta.last_ns) == (
        expected["first_ns"],
        expected["last_ns"],
    )
    assert {e[1] for e in events} <= set(expected["cpus"])


def _muxer_sample(path: Path, limit: int) -> list[tuple[int, int, int]]:
    """(ts, cpu, kind) of the first `limit` events of known kinds, read the plain public
    way (babeltrace2's muxer), which works for the first part of every real trace."""
    sample: list[tuple[int, int, int]] = []
    for msg in bt2.TraceCollectionMessageIterator(str(path)):
        if type(msg) is not bt2._EventMessageConst:
            continue
        event = msg.event
        kind = kind_of(event.name)
        if kind is None:
            continue
        context = event.packet.context_field if event.packet is not None else None
        if context is not None and "cpu_id" in context:
            cpu = int(context["cpu_id"])
        else:
            cpu = int(event.payload_field["perf_cpu"])
        sample.append((msg.default_clock_snapshot.ns_from_origin, cpu, int(kind)))
        if len(sample) == limit:
            break
    return sample


@pytest.mark.parametrize("name", NAMES)
def test_first_events_match_babeltrace2_muxer(name: str) -> None:
    expected = _muxer_sample(ctf_dir(name), 2000)
    ours = [
        (e[0], e[1], e[2])
        for e in islice(
            (e for b in open_trace(real_trace(name)).iter_batches() for e in b), len(expected)
        )
    ]
    # Equal timestamps on different CPUs may come in either order.
    assert sorted(ours) == sorted(expected)
    assert [t for t, _, _ in ours] == [t for t, _, _ in expected]


@pytest.mark.parametrize("name", NAMES)
def test_native_decoder_equals_public_decoder_on_first_batches(name: str) -> None:
    """Full tuples (contexts and payloads) of bt2's SWIG decoder against the reference one
    (the fast CTF decoder is checked against both in test_reader_fastctf)."""
    native = _opened(name, "bt2")
    public = _opened(name, "public")
    first_native = list(islice(native.iter_batches(batch_size=512), 3))
    first_public = list(islice(public.iter_batches(batch_size=512), 3))
    assert first_native == first_public
    assert first_native and first_native[0]


@pytest.mark.parametrize("name", ["tc-perf-taskset2", "tc-flipping-endianness", "tc-scp-src"])
def test_native_decoder_equals_public_decoder_on_whole_trace(name: str) -> None:
    # tc-scp-src: 110k events through the slow reference decoder (~1.5 s), worth it as the
    # one whole-trace check of the per-stream path that replaces babeltrace2's muxer.
    native = _all_events(_opened(name, "bt2"))
    public = _all_events(_opened(name, "public"))
    assert native == public


def test_payload_fields_follow_payload_order() -> None:
    """sched_switch tuples carry prev_comm, prev_tid, prev_state, next_comm, next_tid,
    checked against the public API's own field access."""
    path = ctf_dir("tracevizlab-simple-kernel")
    expected = []
    for msg in bt2.TraceCollectionMessageIterator(str(path)):
        if type(msg) is bt2._EventMessageConst and msg.event.name == "sched_switch":
            p = msg.event.payload_field
            expected.append(
                (
                    str(p["prev_comm"]),
                    int(p["prev_tid"]),
                    int(p["prev_state"]),
                    str(p["next_comm"]),
                    int(p["next_tid"]),
                )
            )
    source = open_trace(path)
    ours = [e[6:] for e in _all_events(source, kinds={EventKind.SCHED_SWITCH})]
    assert len(ours) == manifest_entry("tracevizlab-simple-kernel")["counts"]["sched_switch"]
    assert sorted(ours) == sorted(expected)


def test_kind_filter_decodes_only_requested_kinds() -> None:
    source = open_trace(real_trace("tc-bug446190"))
    wanted = {EventKind.SOFTIRQ_ENTRY, EventKind.HRTIMER_EXPIRE_ENTRY}
    events = _all_events(source, kinds=wanted)
    counts = manifest_entry("tc-bug446190")["counts"]
    assert {e[2] for e in events} == {int(k) for k in wanted}
    # Old names (softirq_entry, hrtimer_expire_entry) map onto the canonical kinds.
    assert len(events) == counts["softirq_entry"] + counts["hrtimer_expire_entry"]
    assert CANONICAL_NAME[EventKind.SOFTIRQ_ENTRY] == "irq_softirq_entry"


def test_perf_trace_takes_cpu_and_tid_from_payload() -> None:
    events = _all_events(open_trace(real_trace("tc-perf-taskset2")))
    assert {e[1] for e in events} == {0, 1, 3}
    assert all(e[3] >= 0 and e[4] >= 0 for e in events)  # perf_tid / perf_pid


def test_batches_respect_size_and_report_progress() -> None:
    source = open_trace(real_trace("tracevizlab-wget-k-115406"))
    seen: list[ReadProgress] = []
    batches = list(source.iter_batches(batch_size=500, progress=seen.append))
    assert all(len(b) == 500 for b in batches[:-1]) and 0 < len(batches[-1]) <= 500
    assert len(seen) == len(batches)  # one callback per batch
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] < 1.0 == fractions[-1]
    assert seen[-1].events == manifest_entry("tracevizlab-wget-k-115406")["events"]
    assert [p.ts for p in seen] == [b[-1][0] for b in batches]


def test_count_progress_reaches_the_end() -> None:
    seen: list[ReadProgress] = []
    counts = open_trace(real_trace("tc-scp-src")).count_events(progress=seen.append)
    assert seen and seen[-1].fraction == 1.0 and seen[-1].events == counts.total


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stopping_early_releases_the_trace() -> None:
    source = open_trace(real_trace("tracevizlab-wget-k-115406"))
    gc.collect()
    before = _open_fds()
    iterator = source.iter_batches(batch_size=1000)
    assert isinstance(iterator, Generator)  # what lets a reader stop it early
    first = next(iterator)
    assert len(first) == 1000
    assert _open_fds() > before  # stream files are open while reading
    iterator.close()
    del iterator
    gc.collect()
    assert _open_fds() == before
    # The source stays usable after a cancelled pass.
    assert next(source.iter_batches(batch_size=1000)) == first


def test_lost_events_are_counted_and_surfaced(tmp_path: Path) -> None:
    source = open_trace(trace_with_lost_events(tmp_path, lost=7))
    assert source.count_events().discarded == 7
    events = _all_events(source)
    lost = [e for e in events if e[2] == EventKind.LOST_EVENTS]
    assert len(lost) == 1
    ts, cpu, _, tid, pid, procname, count, begin, end = lost[0]
    assert (cpu, count, tid, pid, procname) == (LOST_CPU, 7, -1, -1, "")
    assert ts == begin <= end
    assert source.meta.lost_events == 7
    # Surfaced in time order, between the packets it sits between.
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    assert any(e[0] < begin for e in events) and any(e[0] > end for e in events)


def test_session_folder_opens_its_kernel_trace(tmp_path: Path) -> None:
    session = tmp_path / "lttng-traces" / "mysession-20240101"
    copy_trace(SMALL_TRACE, session / "kernel")
    (session / "README").write_text("not a trace")
    source = open_trace(session.parent)
    assert source.meta.trace_dirs == [str(session / "kernel")]
    assert source.describe() == (
        f"CTF trace {session / 'kernel'} (lttng-modules 2.11.0, host wilbrod, 8 CPUs)"
    )


def test_traces_of_one_host_are_merged(tmp_path: Path) -> None:
    """Two real traces of one host: only one is bundled, so this runs with the corpus."""
    a, b = "tracevizlab-wget-k-115043", "tracevizlab-wget-k-115406"  # same host
    copy_trace(ctf_dir(a), tmp_path / "run1" / "kernel")
    copy_trace(ctf_dir(b), tmp_path / "run2" / "kernel")
    source = open_trace(tmp_path)
    assert len(source.meta.trace_dirs) == 2
    assert "2 traces merged" in source.describe()
    counts = source.count_events()
    first, second = manifest_entry(a), manifest_entry(b)
    assert counts.total == first["events"] + second["events"]
    assert counts.first_ns == first["first_ns"] and counts.last_ns == second["last_ns"]
    stamps = [e[0] for e in _all_events(source)]
    assert stamps == sorted(stamps) and len(stamps) == _known_kind_total(a) + _known_kind_total(b)


def test_traces_of_different_hosts_are_refused(tmp_path: Path) -> None:
    copy_trace(SMALL_TRACE, tmp_path / "wilbrod")
    copy_trace(ctf_dir("tracevizlab-wget-k-115406"), tmp_path / "arnaud")
    with pytest.raises(BadTraceError, match="2 different hosts"):
        open_trace(tmp_path)


def test_missing_bt2_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    trace_bt.load_bt2.cache_clear()
    monkeypatch.setitem(sys.modules, "bt2", None)  # `import bt2` now raises ImportError
    try:
        with pytest.raises(MissingDependencyError) as caught:
            open_trace(SMALL_TRACE)
        assert "apt-get install -y python3-bt2 babeltrace2" in caught.value.message
        assert "--system-site-packages" in caught.value.message
        assert caught.value.status == 1
    finally:
        trace_bt.load_bt2.cache_clear()


def test_graph_reads_every_stream_of_the_rotated_trace() -> None:
    """babeltrace-tracefile-rotation splits each stream over several files: one port each."""
    graph = TraceGraph([ctf_dir("babeltrace-tracefile-rotation")], "rotation")
    assert len(graph.port_names) == 4
    decoders = [PublicPortDecoder(None, counting=True) for _ in graph.port_names]
    for _ in graph.steps(Reading(decoders, 10_000)):
        pass
    rotation = manifest_entry("babeltrace-tracefile-rotation")
    assert sum(d.events for d in decoders) == rotation["events"]


def test_copy_helper_leaves_originals_alone(tmp_path: Path) -> None:
    copy = copy_trace(SMALL_TRACE, tmp_path / "copy")
    shutil.rmtree(copy / "index")
    assert (SMALL_TRACE / "index").is_dir()

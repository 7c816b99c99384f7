"""The compiled event walk (trace.fastctf.cwalk, a C extension): built by the setup, the
very tuples of the Python handlers on every real trace, the sample and the scenarios,
runs packed as it decodes with the same analysis as from the events, damaged packets
refused like the Python reader refuses them, and bad programs refused at the door."""

from __future__ import annotations

import os
import random
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import SAMPLE_TRACE, real_trace, real_trace_names
from tests.support.runs_compare import assert_same_analysis
from tests.support.sim import SimTraces
from w2a_tui.analysis import NEEDED_KINDS
from w2a_tui.analysis.runs import RUN_FORMAT, VCPU_RUN
from w2a_tui.errors import BadTraceError
from w2a_tui.events import Batch
from w2a_tui.model import TraceMeta
from w2a_tui.pipeline import analyze_trace
from w2a_tui.sim import SCENARIOS
from w2a_tui.trace import open_trace
from w2a_tui.trace.fastctf import cwalk
from w2a_tui.trace.fastctf.stream import stream_files

SCENARIOS_TRIED = ("mixed", "disk", "no-context", "lost", "svm", "old-names")


@pytest.fixture
def counted_walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each call of the compiled walk decoded."""
    calls: list[int] = []
    original = cwalk.CompiledWalk.decode_loop

    def counting(self: cwalk.CompiledWalk, *args: Any) -> tuple[int, int, int]:
        result = original(self, *args)
        calls.append(result[2])
        return result

    monkeypatch.setattr(cwalk.CompiledWalk, "decode_loop", counting)
    return calls


def _events(trace: Path, pack: bool = False) -> tuple[list[Batch], TraceMeta]:
    source = open_trace(trace, "fast")
    batches = [
        list(b)
        for b in source.iter_batches(NEEDED_KINDS, pack=RUN_FORMAT if pack else None)
    ]
    return batches, source.meta


def _flat(batches: list[Batch]) -> list[tuple[Any, ...]]:
    return [event for batch in batches for event in batch]


def test_the_setup_built_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI installs gcc and the Python headers: the extension must be there, and on."""
    monkeypatch.delenv(cwalk.PURE_PYTHON_ENV, raising=False)
    assert cwalk._cwalk is not None
    assert cwalk.enabled()
    monkeypatch.setenv(cwalk.PURE_PYTHON_ENV, "1")
    assert not cwalk.enabled()


def _traces(sim_traces: SimTraces) -> list[Path]:
    return [SAMPLE_TRACE, *(sim_traces.get(name) for name in SCENARIOS_TRIED)]


@pytest.mark.parametrize("name", real_trace_names())
def test_real_traces_decode_as_in_python(
    name: str, monkeypatch: pytest.MonkeyPatch, counted_walks: list[int]
) -> None:
    compiled, meta = _events(real_trace(name))
    walked = sum(counted_walks)
    monkeypatch.setenv(cwalk.PURE_PYTHON_ENV, "1")
    python, python_meta = _events(real_trace(name))
    assert _flat(compiled) == _flat(python) and compiled
    assert meta == python_meta
    if open_trace(real_trace(name)).decoder == "fast":
        assert walked > 0.9 * len(_flat(compiled))


def test_sample_and_scenarios_decode_as_in_python(
    sim_traces: SimTraces, monkeypatch: pytest.MonkeyPatch, counted_walks: list[int]
) -> None:
    for trace in _traces(sim_traces):
        counted_walks.clear()
        compiled, meta = _events(trace)
        assert sum(counted_walks) >= len(_flat(compiled)) > 1000
        monkeypatch.setenv(cwalk.PURE_PYTHON_ENV, "1")
        python, python_meta = _events(trace)
        monkeypatch.delenv(cwalk.PURE_PYTHON_ENV)
        assert _flat(compiled) == _flat(python), trace.name
        assert meta == python_meta


def _assert_packing_changes_nothing(trace: Path) -> int:
    """Runs packed in C, analysed, against the same trace's events unpacked; returns how
    many runs were packed."""
    plain, meta = _events(trace)
    packed, _ = _events(trace, pack=True)
    runs = [event for event in _flat(packed) if event[2] == VCPU_RUN]
    assert len(_flat(packed)) + sum(run[8] for run in runs) == len(_flat(plain))
    assert_same_analysis(plain, packed, meta)
    return len(runs)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_packed_walk_analyses_every_scenario_as_the_events(
    sim_traces: SimTraces, scenario: str
) -> None:
    runs = _assert_packing_changes_nothing(sim_traces.get(scenario))
    # Without a tid context nothing is packed: only the analysis knows the CPU's thread.
    assert (runs > 0) == SCENARIOS[scenario].context


def test_packed_walk_analyses_the_sample_as_the_events() -> None:
    assert _assert_packing_changes_nothing(SAMPLE_TRACE) > 1000


@pytest.mark.parametrize("name", real_trace_names())
def test_packed_walk_analyses_real_traces_as_the_events(name: str) -> None:
    _assert_packing_changes_nothing(real_trace(name))


def test_analyze_in_one_process_packs_and_agrees_with_python(
    monkeypatch: pytest.MonkeyPatch, sim_traces: SimTraces
) -> None:
    trace = sim_traces.get("mixed")
    compiled = analyze_trace(trace, workers=0)
    monkeypatch.setenv(cwalk.PURE_PYTHON_ENV, "1")
    python = analyze_trace(trace, workers=0)
    assert compiled.lanes and compiled.evidence == python.evidence
    assert [(a.tid, list(a.starts), list(a.states)) for a in compiled.lanes] == [
        (a.tid, list(a.starts), list(a.states)) for a in python.lanes
    ]


def _outcome(trace: Path) -> tuple[str, Any]:
    try:
        return "events", _flat(_events(trace)[0])
    except BadTraceError as err:
        return "refused", str(err).split(": undecodable event")[0]


def test_damaged_packets_end_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random bytes written over the sample's event data: the compiled walk gives the
    same events as the Python handlers, or refuses the same packet, never crashes."""
    rng = random.Random(1313)
    pristine = tmp_path / "pristine"
    shutil.copytree(SAMPLE_TRACE, pristine)
    files = stream_files(pristine)
    outcomes: dict[str, int] = {}
    for case in range(40):
        trace = tmp_path / f"case{case}"
        shutil.copytree(pristine, trace)
        target = trace / rng.choice(files).name
        data = bytearray(target.read_bytes())
        for _ in range(rng.choice((1, 4, 32))):
            at = rng.randrange(200, len(data))  # past the first packet's header
            span = rng.choice((1, 2, 8, 64))
            data[at : at + span] = bytes(rng.randrange(256) for _ in range(span))
        target.write_bytes(data)
        monkeypatch.delenv(cwalk.PURE_PYTHON_ENV, raising=False)
        compiled = _outcome(trace)
        monkeypatch.setenv(cwalk.PURE_PYTHON_ENV, "1")
        python = _outcome(trace)
        assert compiled == python, f"case {case}"
        outcomes[compiled[0]] = outcomes.get(compiled[0], 0) + 1
        shutil.rmtree(trace)
    assert outcomes.get("refused", 0) > 0 and outcomes.get("events", 0) > 0, outcomes


def _table() -> Any:
    assert cwalk._cwalk is not None
    return cwalk._cwalk.Table(True, 8, 0, b"", 5, b"")


@pytest.mark.parametrize(
    "steps",
    [
        [(3, 99, 32, 0, 1)],  # a slot beyond the table
        [(3, 0, 24, 0, 1)],  # a 24-bit integer
        [(1, 12, 0, 0, 0)],  # alignment not a power of two
        [(4, 0, -16, 0, 0)],  # a text of negative length
        [(42, 0, 0, 0, 0)],  # no such step
    ],
)
def test_bad_programs_are_refused(steps: list[tuple[int, ...]]) -> None:
    blob = b"".join(struct.pack("=5q", *step) for step in steps)
    with pytest.raises(ValueError):
        _table().set_class(0, blob, (0,), (), 1, 0)


def test_a_tuple_from_an_unwritten_slot_is_refused() -> None:
    with pytest.raises(ValueError, match="never written"):
        _table().set_class(0, b"", (0,), (), 1, 0)


def test_walk_stops_at_the_end_of_the_buffer() -> None:
    """A class whose fields run past the buffer: ValueError, whatever the position."""
    table = _table()
    step = (3, 0, 64, 0, 1)
    table.set_class(0, struct.pack("=5q", *step), (-1, -2, 0), (), 1, 0)
    out: list[Any] = []
    for size in range(0, 12):
        with pytest.raises(ValueError):
            table.walk(bytes(size), 0, 8 * max(size, 1), 0, 0, out, 10, -1, False)
    assert out == []


def test_no_packing_when_two_streams_share_a_cpu(tmp_path: Path) -> None:
    """Two trace folders of one host with the same CPUs (two LTTng channels, say): a run
    in one stream could hide its CPU's events in the other, so nothing is packed."""
    shutil.copytree(SAMPLE_TRACE, tmp_path / "channel-a")
    shutil.copytree(SAMPLE_TRACE, tmp_path / "channel-b")
    both, _ = _events(tmp_path, pack=True)
    assert both and not any(event[2] == VCPU_RUN for event in _flat(both))
    alone, _ = _events(tmp_path / "channel-a", pack=True)
    assert any(event[2] == VCPU_RUN for event in _flat(alone))


def test_workers_pack_in_c_and_analyse_alike(sim_traces: SimTraces) -> None:
    """A decoding worker's compiled walk packs runs; the parent's analysis is the same as
    in one process."""
    from w2a_tui.trace.parallel import parallel_batches

    trace = sim_traces.get("mixed")
    plain, meta = _events(trace)
    source = open_trace(trace, "fast")
    packed = list(parallel_batches(source, NEEDED_KINDS, workers=2, run_format=RUN_FORMAT))
    assert any(event[2] == VCPU_RUN for event in _flat(packed))
    assert_same_analysis(plain, packed, meta)
    one = analyze_trace(trace, workers=0)
    two = analyze_trace(trace, workers=2)
    assert one.evidence == two.evidence and one.warnings == two.warnings
    assert [list(a.starts) for a in one.lanes] == [list(a.starts) for a in two.lanes]


def test_a_table_not_initialised_is_refused() -> None:
    assert cwalk._cwalk is not None
    bare = cwalk._cwalk.Table.__new__(cwalk._cwalk.Table)
    with pytest.raises(RuntimeError):
        bare.walk(b"", 0, 0, 0, 0, [], 1, -1, False)
    with pytest.raises(RuntimeError):
        bare.set_class(0, b"", None, (), 0, 0)


@pytest.mark.parametrize(("load", "expected"), [(0.2, 1), (0.9, 1), (1.5, 0), (7.0, 0)])
def test_one_worker_by_default_only_on_an_idle_core(
    monkeypatch: pytest.MonkeyPatch, load: float, expected: int
) -> None:
    from w2a_tui.trace import parallel

    monkeypatch.delenv(cwalk.PURE_PYTHON_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert parallel.default_workers() == expected
    monkeypatch.setenv(cwalk.PURE_PYTHON_ENV, "1")
    assert parallel.default_workers() == 2  # decoding in Python: one per core

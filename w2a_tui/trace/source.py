"""`open_trace`: a user path -> a TraceSource that describes, counts and decodes the trace."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from w2a_tui.errors import BadTraceError
from w2a_tui.events import Batch, EventKind
from w2a_tui.model import TraceMeta
from w2a_tui.trace import env as trace_env
from w2a_tui.trace._bt import bad_trace, ctf_fs_class, load_bt2
from w2a_tui.trace.decode_native import NativePortDecoder
from w2a_tui.trace.decode_public import PublicPortDecoder
from w2a_tui.trace.discover import empty_stream_warnings, find_trace_dirs
from w2a_tui.trace.fastctf import FastGraph, FastPortDecoder, FastTrace, Unsupported
from w2a_tui.trace.graph import Reading, TraceGraph
from w2a_tui.trace.merge import needy, release, watermark
from w2a_tui.trace.plan import wanted_set
from w2a_tui.trace.port import PortDecoder

# `W2A_READER` picks the decoder: `fast` (default: our own CTF decoder, which falls back
# to `bt2` on traces it does not support), `bt2` (babeltrace2's SWIG layer; `native` is
# accepted too) or `public` (babeltrace2's public API: slow, the reference).
READER_ENV = "W2A_READER"
READERS = ("fast", "bt2", "public")
_COUNT_BUDGET = 65536  # events per stream per step when only counting


@dataclass(slots=True)
class ReadProgress:
    """Where a pass over the trace is: events read so far, fraction of the time range done,
    and the timestamp reached."""

    events: int
    fraction: float
    ts: int


@dataclass(slots=True)
class EventCounts:
    """A count-only pass: per raw event name, per CPU, time range and discarded events."""

    by_name: dict[str, int] = field(default_factory=dict)
    by_cpu: dict[int, int] = field(default_factory=dict)
    cpus: list[int] = field(default_factory=list)
    first_ns: int = 0
    last_ns: int = 0
    total: int = 0
    discarded: int = 0


@dataclass(frozen=True, slots=True)
class _TraceDir:
    path: Path
    env: dict[str, trace_env.EnvValue]
    begin_ns: int
    end_ns: int
    ports: dict[str, tuple[int, int]]  # port name -> (begin_ns, end_ns) of its packets


class TraceSource:
    """One host's kernel trace: one CTF directory, or several merged in time."""

    def __init__(self, path: Path, dirs: list[_TraceDir], skipped: list[str], decoder: str) -> None:
        self._dirs = dirs
        self.skipped = skipped  # trace directories left out, with the reason
        self._decoder = decoder
        self._fast: FastTrace | None = None
        self.fast_declined = ""  # why the fast decoder left this trace to babeltrace2
        if decoder == "fast":
            try:
                self._fast = FastTrace.open([(d.path, list(d.ports)) for d in dirs])
            except Unsupported as why:
                self._decoder = "bt2"
                self.fast_declined = str(why)
        first = dirs[0].env
        self.env = dict(first)
        self.meta = TraceMeta(
            path=str(path),
            trace_dirs=[str(d.path) for d in dirs],
            hostname=trace_env.hostname_of(first),
            tracer=trace_env.tracer_of(first),
            kernel=trace_env.kernel_of(first),
            first_ns=min(d.begin_ns for d in dirs),
            last_ns=max(d.end_ns for d in dirs),
            warnings=[w for d in dirs for w in empty_stream_warnings(d.path)],
        )
        self._probe()

    @property
    def decoder(self) -> str:
        """The decoder really in use: `fast`, `bt2` or `public`."""
        return self._decoder

    # -- description ------------------------------------------------------------------

    def describe(self) -> str:
        """`CTF trace /x/y (lttng-modules 2.13, host foo, 4 CPUs)`; names every directory."""
        meta = self.meta
        where = (
            meta.trace_dirs[0]
            if len(meta.trace_dirs) == 1
            else (
                f"{meta.path} ({len(meta.trace_dirs)} traces merged: "
                + ", ".join(meta.trace_dirs)
                + ")"
            )
        )
        facts = [meta.tracer or "unknown tracer", f"host {meta.hostname or '?'}"]
        if meta.cpus:
            facts.append(f"{len(meta.cpus)} CPU{'s' if len(meta.cpus) != 1 else ''}")
        return f"CTF trace {where} ({', '.join(facts)})"

    # -- passes -------------------------------------------------------------------------

    def count_events(self, progress: Callable[[ReadProgress], None] | None = None) -> EventCounts:
        """Count every event by raw name and CPU without decoding payloads; updates meta."""
        graph = self._graph()
        decoders = [self._new_decoder(None, counting=True) for _ in graph.port_names]
        ranges = [self._port_range(name) for name in graph.port_names]
        reading = Reading(decoders, _COUNT_BUDGET)
        for _ in graph.steps(reading):
            if progress is not None:
                progress(_count_progress(decoders, ranges))
        counts = EventCounts()
        for decoder in decoders:
            if isinstance(decoder, NativePortDecoder):
                decoder.finish()
            for name, n in decoder.name_counts.items():
                counts.by_name[name] = counts.by_name.get(name, 0) + n
            for cpu, n in decoder.cpu_counts.items():
                counts.by_cpu[cpu] = counts.by_cpu.get(cpu, 0) + n
            counts.total += decoder.events
            counts.discarded += decoder.lost
        counts.by_name = dict(sorted(counts.by_name.items()))
        counts.by_cpu = dict(sorted(counts.by_cpu.items()))
        cpus: set[int] = set()
        for decoder in decoders:
            cpus |= decoder.cpus
        counts.cpus = sorted(cpus)
        firsts = [d.first_ts for d in decoders if d.events]
        lasts = [d.last_ts for d in decoders if d.events]
        counts.first_ns = min(firsts) if firsts else 0
        counts.last_ns = max(lasts) if lasts else 0
        self._update_meta(counts.total, counts.discarded, counts.first_ns, counts.last_ns)
        if counts.cpus:
            self.meta.cpus = counts.cpus
        return counts

    def iter_batches(
        self,
        kinds: Collection[EventKind] | None = None,
        *,
        batch_size: int = 4096,
        progress: Callable[[ReadProgress], None] | None = None,
    ) -> Iterator[Batch]:
        """Decoded events in time order, as lists of `w2a_tui.events` tuples.

        Only events of `kinds` are decoded (all known kinds if None); LOST_EVENTS tuples are
        always included, so that the caller can distrust the time they cover. Stop iterating
        at any time to cancel: the babeltrace2 graph is released with the generator. After
        a complete pass, `meta` holds the exact event total, lost events and time range.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        graph = self._graph()
        wanted = wanted_set(kinds)
        decoders = [self._new_decoder(wanted, counting=False) for _ in graph.port_names]
        reading = Reading(decoders, max(batch_size, 1024))
        begin, end = self.meta.first_ns, self.meta.last_ns
        pending: Batch = []
        for _ in graph.steps(reading):
            mark = None if reading.finished else watermark(decoders)
            pending.extend(release(decoders, mark))
            reading.needy = needy(decoders, mark)
            while len(pending) >= batch_size or (mark is None and pending):
                batch, pending = pending[:batch_size], pending[batch_size:]
                if progress is not None:
                    report = _progress(decoders, batch[-1][0], begin, end)
                    if mark is None and not pending:
                        report.fraction = 1.0  # the last batch: whatever the packet range
                    progress(report)
                yield batch
        total = sum(d.events for d in decoders)
        lost = sum(d.lost for d in decoders)
        firsts = [d.first_ts for d in decoders if d.events]
        lasts = [d.last_ts for d in decoders if d.events]
        if firsts:
            self._update_meta(total, lost, min(firsts), max(lasts))

    # -- internals ------------------------------------------------------------------------

    def _graph(self) -> TraceGraph | FastGraph:
        if self._fast is not None:
            return FastGraph(self._fast)
        return TraceGraph([d.path for d in self._dirs], self.meta.path)

    def _new_decoder(self, wanted: frozenset[int] | None, counting: bool) -> PortDecoder:
        if self._fast is not None:
            return FastPortDecoder(wanted, counting)
        if self._decoder == "public":
            return PublicPortDecoder(wanted, counting)
        return NativePortDecoder(wanted, counting)

    def _port_range(self, port_name: str) -> tuple[int, int]:
        for trace_dir in self._dirs:
            if port_name in trace_dir.ports:
                return trace_dir.ports[port_name]
        return (self.meta.first_ns, self.meta.last_ns)

    def _update_meta(self, total: int, lost: int, first: int, last: int) -> None:
        self.meta.event_count = total
        self.meta.lost_events = lost
        if total:
            self.meta.first_ns, self.meta.last_ns = first, last

    def _probe(self) -> None:
        """Read the first messages of every stream: CPU ids, pid/tid contexts, and an early
        BadTraceError for streams that cannot even start."""
        if self._fast is not None:
            self.meta.cpus = sorted({c for c in self._fast.first_cpus() if c >= 0})
            self.meta.has_pid_tid = self._fast.has_pid_tid
            return
        bt2 = load_bt2()
        graph = self._graph()
        probes = [_ProbeDecoder(bt2) for _ in graph.port_names]
        for _ in graph.steps(Reading(probes, 1)):
            pass
        self.meta.cpus = sorted({p.cpu for p in probes if p.cpu >= 0})
        self.meta.has_pid_tid = any(p.has_pid_tid for p in probes)


class _ProbeDecoder(PortDecoder):
    """Reads a stream up to its first packet: its CPU and its event context fields."""

    def __init__(self, bt2: Any) -> None:
        super().__init__(None, counting=True)
        self._bt2 = bt2
        self.has_pid_tid = False

    def pull(self, iterator: Any, budget: int) -> None:
        bt2 = self._bt2
        for msg in iterator:
            if type(msg) is bt2._StreamBeginningMessageConst:
                context = msg.stream.cls.event_common_context_field_class
                names = set(context.keys()) if context is not None else set()
                self.has_pid_tid = {"pid", "tid"} <= names or {"vpid", "vtid"} <= names
            elif type(msg) is bt2._PacketBeginningMessageConst:
                context = msg.packet.context_field
                cpu = context.get("cpu_id") if context is not None else None
                self.set_cpu(int(cpu) if cpu is not None else -1)
                break
        self.done = True


def _progress(decoders: list[PortDecoder], ts: int, begin: int, end: int) -> ReadProgress:
    span = end - begin
    fraction = (ts - begin) / span if span > 0 else 1.0
    return ReadProgress(
        events=sum(d.events for d in decoders), fraction=min(max(fraction, 0.0), 1.0), ts=ts
    )


def _count_progress(decoders: list[PortDecoder], ranges: list[tuple[int, int]]) -> ReadProgress:
    fractions = []
    for decoder, (begin, end) in zip(decoders, ranges, strict=True):
        if decoder.done:
            fractions.append(1.0)
        elif end > begin and decoder.last_ts >= begin:
            fractions.append(min((decoder.last_ts - begin) / (end - begin), 1.0))
        else:
            fractions.append(0.0)
    return ReadProgress(
        events=sum(d.events for d in decoders),
        fraction=sum(fractions) / len(fractions) if fractions else 1.0,
        ts=max((d.last_ts for d in decoders), default=-1),
    )


def open_trace(path: str | os.PathLike[str], decoder: str | None = None) -> TraceSource:
    """Open the kernel trace at `path` (a CTF directory or a folder holding one or several);
    raises BadTraceError with one clear sentence when it cannot be read. `decoder` (one of
    READERS) overrides the `W2A_READER` choice."""
    root = Path(path).expanduser()
    from w2a_tui.trace.ftrace import open_ftrace  # here: it imports this module

    ftrace = open_ftrace(root)
    if ftrace is not None:
        return ftrace
    directories = find_trace_dirs(root)
    load_bt2()
    infos = [_read_dir(d) for d in directories]
    kernel = [i for i in infos if trace_env.domain_of(i.env) in ("kernel", "")]
    skipped = [
        f"{i.path} (domain {trace_env.domain_of(i.env)}: not a kernel trace)"
        for i in infos
        if i not in kernel
    ]
    if not kernel:
        raise BadTraceError(
            f"{root} holds no kernel trace (only {', '.join(skipped)}); W2A needs an LTTng "
            "kernel trace (`lttng enable-event -k ...`)."
        )
    hosts = sorted({trace_env.hostname_of(i.env) for i in kernel})
    if len(hosts) > 1:
        listing = "; ".join(f"{trace_env.hostname_of(i.env) or '?'}: {i.path}" for i in kernel)
        raise BadTraceError(
            f"{root} holds kernel traces of {len(hosts)} different hosts ({listing}); "
            "open one host's trace directory."
        )
    return TraceSource(root, kernel, skipped, decoder or _reader_choice())


def _reader_choice() -> str:
    choice = os.environ.get(READER_ENV, "").strip().lower() or "fast"
    if choice == "native":
        choice = "bt2"
    if choice not in READERS:
        raise BadTraceError(
            f"{READER_ENV}={choice} is not a reader; use one of {', '.join(READERS)}."
        )
    return choice


def _read_dir(directory: Path) -> _TraceDir:
    """Metadata environment and stream time ranges from babeltrace2's cheap queries."""
    bt2 = load_bt2()
    fs = ctf_fs_class()
    try:
        text = str(
            bt2.QueryExecutor(fs, "metadata-info", params={"path": str(directory)}).query()["text"]
        )
        infos = bt2.QueryExecutor(
            fs, "babeltrace.trace-infos", params={"inputs": [str(directory)]}
        ).query()
    except bt2._Error as err:
        raise bad_trace(str(directory), err) from err
    ports: dict[str, tuple[int, int]] = {}
    for trace_info in infos:
        for stream in trace_info["stream-infos"]:
            if "range-ns" in stream:
                span = stream["range-ns"]
                ports[str(stream["port-name"])] = (int(span["begin"]), int(span["end"]))
    if not ports:
        raise BadTraceError(
            f"{directory} has no data stream with a time range: its stream files are empty "
            "or not CTF; copy the trace again."
        )
    begin = min(b for b, _ in ports.values())
    end = max(e for _, e in ports.values())
    return _TraceDir(directory, trace_env.parse_env(text), begin, end, ports)

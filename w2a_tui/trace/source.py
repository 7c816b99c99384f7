"""`open_trace`: a user path -> a TraceSource that describes, counts and decodes the trace."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass, field, replace
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
from w2a_tui.trace.fastctf.metadata_file import metadata_text
from w2a_tui.trace.fastctf.timecheck import implausible_ranges
from w2a_tui.trace.graph import Reading, TraceGraph
from w2a_tui.trace.isolate import checked_describe, in_child
from w2a_tui.trace.merge import needy, release, watermark
from w2a_tui.trace.plan import wanted_set
from w2a_tui.trace.port import PortDecoder, RunFormat

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
class TraceDirInfo:
    path: Path
    env: dict[str, trace_env.EnvValue]
    begin_ns: int
    end_ns: int
    ports: dict[str, tuple[int, int]]  # port name -> (begin_ns, end_ns) of its packets
    text: str = ""  # the metadata text


class TraceSource:
    """One host's kernel trace: one CTF directory, or several merged in time."""

    def __init__(
        self,
        path: Path,
        dirs: list[TraceDirInfo],
        skipped: list[str],
        decoder: str,
        fast: FastTrace | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self._dirs = dirs
        self.skipped = skipped  # trace directories left out, with the reason
        self._decoder = decoder
        self._fast = fast
        self.fast_declined = ""  # why the fast decoder left this trace to babeltrace2
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
            warnings=[
                *warnings,
                *(w for d in dirs for w in empty_stream_warnings(d.path)),
                *(fast.warnings if fast is not None else ()),
            ],
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
        self._after_pass(graph.port_names, decoders)
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
        pack: RunFormat | None = None,
    ) -> Generator[Batch, None, None]:
        """Decoded events in time order, as lists of `w2a_tui.events` tuples.

        Only events of `kinds` are decoded (all known kinds if None); LOST_EVENTS tuples are
        always included, so that the caller can distrust the time they cover. Stop iterating
        at any time to cancel: the babeltrace2 graph is released with the generator. After
        a complete pass, `meta` holds the exact event total, lost events and time range.

        `pack`: runs of guest entries may come packed in this format (analysis.runs), where
        the compiled CTF walk decodes them; the caller must then take `VCPU_RUN` tuples.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        graph = self._graph()
        wanted = wanted_set(kinds)
        if pack is not None and (self._fast is None or not self._fast.cpus_apart()):
            pack = None
        decoders = [self._new_decoder(wanted, False, pack) for _ in graph.port_names]
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
                if self._fast is None and (batch[0][0] < begin or batch[-1][0] > end):
                    raise self._outside(batch[0][0] if batch[0][0] < begin else batch[-1][0])
                yield batch
        self._after_pass(graph.port_names, decoders)
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

    def _new_decoder(
        self, wanted: frozenset[int] | None, counting: bool, pack: RunFormat | None = None
    ) -> PortDecoder:
        if self._fast is not None:
            return FastPortDecoder(wanted, counting, pack)
        if self._decoder == "public":
            return PublicPortDecoder(wanted, counting)
        return NativePortDecoder(wanted, counting)

    def _port_range(self, port_name: str) -> tuple[int, int]:
        for trace_dir in self._dirs:
            if port_name in trace_dir.ports:
                return trace_dir.ports[port_name]
        return (self.meta.first_ns, self.meta.last_ns)

    def _after_pass(self, port_names: list[str], decoders: list[PortDecoder]) -> None:
        """The decoders' warnings join the meta's; babeltrace2's events must lie within
        their packets' time ranges (it does not check; our decoder drops what does not)."""
        for decoder in decoders:
            for warning in decoder.warnings:
                if warning not in self.meta.warnings:
                    self.meta.warnings.append(warning)
        if self._fast is not None:
            return
        for name, decoder in zip(port_names, decoders, strict=True):
            begin, end = self._port_range(name)
            if decoder.events and (decoder.first_ts < begin or decoder.last_ts > end):
                raise BadTraceError(
                    f"{self.meta.path} is not a readable CTF trace (stream {name}: events "
                    f"stamped from {decoder.first_ts} to {decoder.last_ts} ns, outside their "
                    f"packets' {begin} to {end} ns: damaged timestamps); check that the "
                    "trace was copied completely, or record it again."
                )

    def _outside(self, ts: int) -> BadTraceError:
        """babeltrace2 gave an event outside every packet's time range: it does not check
        event timestamps against their packet (our decoder does, and drops what fails)."""
        return BadTraceError(
            f"{self.meta.path} is not a readable CTF trace (an event is stamped {ts} ns, "
            f"outside the packets' time range {self.meta.first_ns} to {self.meta.last_ns} ns: "
            "damaged timestamps); check that the trace was copied completely, or record it "
            "again."
        )

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
    READERS) overrides the `W2A_READER` choice.

    Our own decoder describes the trace (metadata, packet index, time ranges) without
    babeltrace2. babeltrace2 is asked only when it must read the trace (`bt2`, `public`,
    or a trace our decoder does not support), and then a child process reads it first
    (`isolate`): a trace that makes libbabeltrace2 abort costs a sentence, not the process.
    """
    root = Path(path).expanduser()
    from w2a_tui.trace.ftrace import open_ftrace  # here: it imports this module

    ftrace = open_ftrace(root)
    if ftrace is not None:
        return ftrace
    warnings: list[str] = []
    directories = find_trace_dirs(root, warnings)
    choice = decoder or reader_choice()
    declined = ""
    if choice == "fast":
        try:
            return _open_fast(root, directories, warnings)
        except Unsupported as why:
            choice, declined = "bt2", str(why)
    load_bt2()
    if in_child():
        infos = [read_dir(d) for d in directories]
    else:
        infos = [
            TraceDirInfo(
                Path(d["path"]),
                trace_env.parse_env(d["text"]),
                min((int(b) for b, _ in d["ports"].values()), default=0),
                max((int(e) for _, e in d["ports"].values()), default=0),
                {str(k): (int(b), int(e)) for k, (b, e) in d["ports"].items()},
                d["text"],
            )
            for d in checked_describe(root, directories, choice)
        ]
    source = open_described(root, infos, choice, warnings=warnings)
    source.fast_declined = declined
    return source


def _open_fast(root: Path, directories: list[Path], warnings: list[str]) -> TraceSource:
    """The trace through our own decoder alone; Unsupported when it cannot read it."""
    infos: list[TraceDirInfo] = []
    kernel_dirs: list[tuple[Path, str]] = []
    for directory in directories:
        text = metadata_text(directory / "metadata")
        env = trace_env.parse_env(text)
        if trace_env.domain_of(env) in ("kernel", ""):
            kernel_dirs.append((directory, text))
        infos.append(TraceDirInfo(directory, env, 0, 0, {}, text))
    fast = (
        FastTrace.open([(d, None) for d, _ in kernel_dirs], [t for _, t in kernel_dirs])
        if kernel_dirs
        else None
    )
    if fast is not None:
        ranges = {d.path: d.port_ranges() for d in fast.dirs}
        infos = [
            replace(
                i,
                ports=ranges[i.path],
                begin_ns=min((b for b, _ in ranges[i.path].values()), default=0),
                end_ns=max((e for _, e in ranges[i.path].values()), default=0),
            )
            if i.path in ranges
            else i
            for i in infos
        ]
    return open_described(root, infos, "fast", fast=fast, warnings=warnings)


def open_described(
    root: Path,
    infos: list[TraceDirInfo],
    decoder: str,
    *,
    fast: FastTrace | None = None,
    warnings: Sequence[str] = (),
) -> TraceSource:
    """The TraceSource of the kernel directories among `infos` (one host's)."""
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
    for info in kernel:
        if not info.ports:
            raise BadTraceError(
                f"{info.path} has no data stream with a time range: its stream files are "
                "empty or not CTF; copy the trace again."
            )
    if decoder != "fast":
        for info in kernel:
            problem = implausible_ranges(info.ports)
            if problem:
                raise BadTraceError(
                    f"{info.path} is not a readable CTF trace ({problem}); check that the "
                    "trace was copied completely, or record it again."
                )
    if len(kernel) > 1:
        warnings = [*warnings, merged_warning(root, [i.path for i in kernel])]
    return TraceSource(root, kernel, skipped, decoder, fast, warnings)


def merged_warning(root: Path, dirs: Sequence[Path]) -> str:
    """The sentence saying that several trace directories were read as one trace (the
    user may have meant one of them)."""
    names = ", ".join(str(d.relative_to(root)) if d.is_relative_to(root) else str(d) for d in dirs)
    return (
        f"{root} holds {len(dirs)} kernel traces, read together as one trace: {names}; "
        "give one of these folders to read it alone."
    )


def reader_choice() -> str:
    choice = os.environ.get(READER_ENV, "").strip().lower() or "fast"
    if choice == "native":
        choice = "bt2"
    if choice not in READERS:
        raise BadTraceError(
            f"{READER_ENV}={choice} is not a reader; use one of {', '.join(READERS)}."
        )
    return choice


def read_dir(directory: Path) -> TraceDirInfo:
    """Metadata environment and stream time ranges from babeltrace2's cheap queries (run
    them in a child process: see `isolate`)."""
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
    begin = min((b for b, _ in ports.values()), default=0)
    end = max((e for _, e in ports.values()), default=0)
    return TraceDirInfo(directory, trace_env.parse_env(text), begin, end, ports, text)

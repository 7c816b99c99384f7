"""Decoding in worker processes: `TraceSource.iter_batches` with the streams decoded on
other cores, the same events in the same order.

Design (how it goes from 2 to 64 cores):

- the data streams (one per CPU in an LTTng kernel trace) are split into `workers`
  contiguous groups; a worker process decodes its group with our own CTF decoder, the
  same per-stream code as the single-process path (`fastctf.FastPortDecoder`), and merges
  its streams in time order with the same watermark rule (`merge`);
- it hands its merged events over in chunks of about a thousand, each chunk one
  serialised block through a pipe (one `pickle.dumps` per chunk, never one message per
  event), with its watermark: none of its later events is older. A full pipe blocks the
  worker, so memory stays bounded by a few chunks per worker;
- the parent merges the workers' chunks with the same rule (released below the smallest
  watermark, a stable sort by time: equal timestamps keep the stream order because groups
  are contiguous) and feeds the analysis in time order, batch by batch, as before.

The analysis stays one sequential state machine in the parent; the parent's cost per event
is unpickling a tuple and the analysis itself, the decoding (about half of the
single-process time) moves to the workers. With more cores than it takes to keep the
analysis fed, the analysis is the limit: the merge costs a stable sort of nearly sorted
runs per chunk. The workers also pack runs of guest entries (`run_format` for the
compiled walk, else `pack`; see analysis.runs), which leaves the parent about a third as
many objects (docs/design.md, "Speed and cores", has the figures).

Equivalence: with every stream in time order (LTTng kernel traces), the order of the
single-process merge is exactly (time, stream, position in the stream) whatever the
chunking, and so is this one. A stream that goes back in time (overlapping packets) makes
the single-process order depend on its chunking: a worker that sees one raises
`NotParallel` before the parent releases anything of it out of order, and the caller
reads the trace again in one process.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from w2a_tui.errors import BadTraceError
from w2a_tui.events import Batch, Event, EventKind
from w2a_tui.trace.fastctf.cwalk import enabled as compiled_walk_enabled
from w2a_tui.trace.fastctf.reader import FastPortDecoder, FastTrace, PortReader
from w2a_tui.trace.graph import Reading
from w2a_tui.trace.merge import needy, release, watermark
from w2a_tui.trace.plan import wanted_set
from w2a_tui.trace.port import PortDecoder, RunFormat
from w2a_tui.trace.source import ReadProgress, TraceSource

# Events per stream per decoding step, as in the single-process path.
STEP_EVENTS: Final = 4096
# The most workers the default asks for: past this the sequential analysis is the limit.
MAX_DEFAULT_WORKERS: Final = 8


class NotParallel(Exception):
    """This trace cannot be decoded in parallel with the same result (see the module)."""


def default_workers() -> int:
    """Decoding processes by default.

    With the compiled walk (fastctf.cwalk), one beside the analysing process when a core
    is idle: the analysing process is the limit, and the worker's walk, merge and
    pickling of runs packed in C cost less than the analysis of what it sends. On 2 idle
    cores, analyze --no-cache, 1 M / 10 M events: 0.80 / 6.2 s with one worker, 0.90 /
    6.3 s with two, 0.98 / 9.5 s in one process. In Python, decoding is the larger cost:
    the cores this process may use, capped."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if compiled_walk_enabled():
        return 1 if cores - _load() >= 1 else 0
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


def _load() -> float:
    """Runnable threads on average over the last minute (0 where unknown). The worker
    adds about 40 % to the total CPU (forking, pickling, unpickling): it pays only on an
    idle core. On a busy hypervisor host, the one process is faster."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


# Stream data below which worker processes cost more than they save (by default).
PARALLEL_MIN_BYTES: Final = 16 << 20


def may_start_workers() -> bool:
    """A daemonic process (a Dask or multiprocessing pool worker: `fleet`) may not have
    children of its own; its trace is then decoded in the process itself."""
    return not multiprocessing.current_process().daemon


def can_decode_in_parallel(source: TraceSource) -> bool:
    """Our own decoder reads it (babeltrace2's graphs stay in this process)."""
    return source.decoder == "fast" and source._fast is not None


def worth_parallel(source: TraceSource) -> bool:
    """Big enough for worker processes to pay for their start."""
    if not can_decode_in_parallel(source):
        return False
    assert source._fast is not None
    size = sum(f.path.stat().st_size for _, s in source._fast.ports() for f in s.files)
    return size >= PARALLEL_MIN_BYTES


# ------------------------------------------------------------------------ the worker


# What a worker may do to its merged events before handing them over (the analysis packs
# its runs of guest entries: analysis.runs.pack_runs). A module-level function: it travels
# to the workers by name.
Packer = Callable[[list[Event]], list[Event]]


@dataclass(frozen=True, slots=True)
class _Job:
    dirs: list[tuple[Path, list[str]]]  # FastTrace.open's argument
    ports: list[int]  # indexes into FastTrace.ports(), contiguous
    wanted: frozenset[int] | None
    pack: Packer | None = None
    run_format: RunFormat | None = None  # the compiled walk packs runs (cwalk)


def _worker(job: _Job, conn: Connection) -> None:
    """Decode the job's streams and send ("chunk", mark, events, seen, end) messages, the
    last one with mark None and end = (events, lost, first_ts, last_ts); ("bad", sentence)
    for a damaged trace, ("unordered", port) for a stream that goes back in time, ("crash",
    text) for anything else."""
    # Ctrl+C reaches the whole process group: the parent stops and ends the workers, which
    # must not print a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        trace = FastTrace.open(job.dirs)
        ports = trace.ports()
        mine = [ports[i] for i in job.ports]
        decoders = [FastPortDecoder(job.wanted, False, job.run_format) for _ in mine]
        readers = [PortReader(trace_dir, stream) for trace_dir, stream in mine]
        reading = Reading(decoders, STEP_EVENTS)
        last = [-1] * len(decoders)
        while not reading.finished:
            sizes = [len(d.out) for d in decoders]
            reading.step(readers)
            for i, (decoder, size) in enumerate(zip(decoders, sizes, strict=True)):
                fresh = [e[0] for e in decoder.out[size:]]
                if fresh:
                    if fresh[0] < last[i] or fresh != sorted(fresh):
                        conn.send(("unordered", job.ports[i]))
                        return
                    last[i] = fresh[-1]
            mark = None if reading.finished else watermark(decoders)
            ready = release(decoders, mark)
            if job.pack is not None:
                ready = job.pack(ready)
            reading.needy = needy(decoders, mark)
            seen = sum(d.events for d in decoders)
            end = _end_facts(decoders) if mark is None else None
            message = ("chunk", mark, ready, seen, end)
            conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
    except BadTraceError as err:
        conn.send(("bad", err.message))
    except Exception as err:  # reported to the parent, which reads in one process instead
        conn.send(("crash", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


def _end_facts(decoders: list[FastPortDecoder]) -> tuple[int, int, int, int, float]:
    """(events, lost, first_ts, last_ts, CPU seconds of this worker) of a complete pass
    (-1: no event)."""
    firsts = [d.first_ts for d in decoders if d.events]
    lasts = [d.last_ts for d in decoders if d.events]
    return (
        sum(d.events for d in decoders),
        sum(d.lost for d in decoders),
        min(firsts) if firsts else -1,
        max(lasts) if lasts else -1,
        time.process_time(),
    )


# ------------------------------------------------------------------------ the parent


def _groups(n_ports: int, workers: int) -> list[list[int]]:
    """Contiguous, balanced groups of port indexes."""
    workers = max(1, min(workers, n_ports))
    bounds = [n_ports * k // workers for k in range(workers + 1)]
    return [list(range(bounds[k], bounds[k + 1])) for k in range(workers)]


# Pipe capacity asked for: a whole chunk fits, so a worker goes on decoding while the
# parent is busy, instead of waiting for it at every 64 KiB (two context switches each).
PIPE_BYTES: Final = 1 << 20


def _widen(conn: Connection) -> None:
    """Grow the pipe behind `conn` (Linux; elsewhere, or past the system's limit, the
    default size only costs more switches)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    for size in (PIPE_BYTES, PIPE_BYTES // 4):
        try:
            fcntl.fcntl(conn.fileno(), set_size, size)
            return
        except OSError:
            continue


def _context() -> Any:
    """fork when this process has one thread (the CLI: instant start); forkserver when it
    has more (the TUI loads in a thread: forking it could copy a held lock)."""
    methods = multiprocessing.get_all_start_methods()
    if threading.active_count() == 1 and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


@dataclass(slots=True)
class StageTimes:
    """Where the parent's time went (seconds): waiting for the workers' chunks and
    unpickling them, merging them in time order, and the caller's work between batches."""

    receive: float = 0.0
    merge: float = 0.0
    events: int = 0
    # CPU seconds of each worker (start, decoding, hand-over): on a loaded machine, the
    # decode stage's wall time on idle cores is about the largest of them.
    worker_cpu: list[float] = field(default_factory=list)


class _Feed(PortDecoder):
    """One worker seen from the parent: a port whose `out` is the worker's merged events
    (so `merge.release` takes from it as from a stream)."""

    def __init__(self, conn: Connection, process: Any) -> None:
        super().__init__(None, counting=False)
        self.conn = conn
        self.process = process
        self.mark: int | None = -1  # its watermark; None once it ended
        self.seen = 0
        self.end: tuple[int, int, int, int, float] | None = None

    def receive(self) -> None:
        try:
            message = pickle.loads(self.conn.recv_bytes())
        except EOFError:
            raise NotParallel("a decoding process ended without a word") from None
        kind = message[0]
        if kind == "chunk":
            _, mark, events, self.seen, self.end = message
            self.out.extend(events)
            self.mark = mark
        elif kind == "bad":
            raise BadTraceError(message[1])
        elif kind == "unordered":
            raise NotParallel(f"stream {message[1]} goes back in time")
        else:
            raise NotParallel(f"a decoding process failed ({message[1]})")


def parallel_batches(
    source: TraceSource,
    kinds: Collection[EventKind] | None = None,
    *,
    workers: int,
    batch_size: int = 4096,
    progress: Callable[[ReadProgress], None] | None = None,
    times: StageTimes | None = None,
    pack: Packer | None = None,
    run_format: RunFormat | None = None,
) -> Generator[Batch, None, None]:
    """`source.iter_batches(kinds, batch_size=..., progress=...)` decoded by `workers`
    processes: the same events in the same order, and the same `source.meta` after a
    complete pass. Raises NotParallel (before yielding anything out of order) when the
    trace must be read in one process, BadTraceError when a stream is damaged.

    With `pack`, each worker passes its merged events through it (see Packer); only when
    every stream holds one CPU of its own, so that each CPU's events are in one worker.
    With `run_format`, the workers' compiled walk packs runs as it decodes (see
    `TraceSource.iter_batches`), when every CPU's events are in one stream."""
    if not can_decode_in_parallel(source):
        raise NotParallel("the trace is read by babeltrace2")
    assert source._fast is not None
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    n_ports = len(source._fast.ports())
    dirs = [(d.path, list(d.ports)) for d in source._dirs]
    wanted = wanted_set(kinds)
    # Packing needs each CPU's events in one stream, known from the packet index.
    if pack is not None and not source._fast.cpus_apart(one_per_stream=True):
        pack = None
    if run_format is not None and not source._fast.cpus_apart():
        run_format = None
    context = _context()
    feeds: list[_Feed] = []
    stats = times if times is not None else StageTimes()
    try:
        for group in _groups(n_ports, workers):
            ours, theirs = context.Pipe(duplex=False)
            _widen(ours)
            process = context.Process(
                target=_worker,
                args=(_Job(dirs, group, wanted, pack, run_format), theirs),
                daemon=True,
            )
            process.start()
            theirs.close()
            feeds.append(_Feed(ours, process))
        yield from _merged(source, feeds, batch_size, progress, stats)
    finally:
        for feed in feeds:
            feed.conn.close()
            if feed.process.is_alive():
                feed.process.terminate()
            feed.process.join()


def _merged(
    source: TraceSource,
    feeds: list[_Feed],
    batch_size: int,
    progress: Callable[[ReadProgress], None] | None,
    stats: StageTimes,
) -> Iterator[Batch]:
    begin, end = source.meta.first_ns, source.meta.last_ns
    pending: Batch = []
    while True:
        t = time.perf_counter()
        live = [f for f in feeds if f.mark is not None]
        if live:
            low = min(f.mark for f in live if f.mark is not None)
            for feed in live:
                if feed.mark == low:
                    feed.receive()
        stats.receive += time.perf_counter() - t
        t = time.perf_counter()
        marks = [f.mark for f in feeds if f.mark is not None]
        mark = min(marks) if marks else None
        # Stable: equal timestamps keep the group order, which is the stream order.
        pending.extend(release(feeds, mark))
        stats.merge += time.perf_counter() - t
        while len(pending) >= batch_size or (mark is None and pending):
            batch, pending = pending[:batch_size], pending[batch_size:]
            stats.events += len(batch)
            if progress is not None:
                seen = sum(f.seen for f in feeds)
                progress(_progress(seen, batch[-1][0], begin, end, mark is None and not pending))
            yield batch
        if mark is None:
            break
    ends = [f.end for f in feeds if f.end is not None]
    total = sum(e[0] for e in ends)
    lost = sum(e[1] for e in ends)
    firsts = [e[2] for e in ends if e[2] >= 0]
    lasts = [e[3] for e in ends if e[3] >= 0]
    stats.worker_cpu = [e[4] for e in ends]
    if firsts:
        source._update_meta(total, lost, min(firsts), max(lasts))


def _progress(events: int, ts: int, begin: int, end: int, last: bool) -> ReadProgress:
    span = end - begin
    fraction = 1.0 if last else ((ts - begin) / span if span > 0 else 1.0)
    return ReadProgress(events=events, fraction=min(max(fraction, 0.0), 1.0), ts=ts)


# ------------------------------------------------------------------ measurements


def stage_times(path: str | os.PathLike[str], workers: int) -> dict[str, float]:
    """Seconds of each stage on this trace (for benchmarks/speed_bench.py): `decode`, every
    event of the analysis's kinds decoded by `workers` processes and handed over (0: in
    this process, the single-process reader); `decode_cpu`, the CPU seconds of the
    busiest decoder (a worker, or this process for 0): what `decode` would be on idle
    cores; `merge`, the parent's merge alone; `analysis` (and `analysis_cpu`), the
    analysis alone (its feed and finish calls) in a whole pass with as many workers (runs
    packed as `analyze` packs them: by the compiled walk, else pipeline.run_packer); and
    of that pass, the parent's CPU seconds, everybody's, and what it would take on idle
    cores (the largest of the parent's CPU, the busiest worker's and the total CPU shared
    by the cores): `pass_parent_cpu`, `pass_total_cpu`, `pass_idle_estimate`. With the
    garbage collector's thresholds of `analyze` (pipeline.fewer_collections)."""
    from w2a_tui.pipeline import fewer_collections

    with fewer_collections():
        return _measured_stages(path, workers)


def _measured_stages(path: str | os.PathLike[str], workers: int) -> dict[str, float]:
    from w2a_tui.analysis import NEEDED_KINDS, Analyzer
    from w2a_tui.analysis.runs import RUN_FORMAT
    from w2a_tui.pipeline import run_packer
    from w2a_tui.trace import open_trace

    source = open_trace(path)
    started = time.perf_counter()
    cpu = time.process_time()
    stats = StageTimes()
    if workers:
        for _ in parallel_batches(source, NEEDED_KINDS, workers=workers, times=stats):
            pass
        decode_cpu = max(stats.worker_cpu)
    else:
        for _ in source.iter_batches(NEEDED_KINDS):
            pass
        decode_cpu = time.process_time() - cpu
    decode = time.perf_counter() - started
    # The whole pass (decode, merge, analysis) the way `analyze --no-cache` runs it.
    source = open_trace(path)
    analyzer = Analyzer(source.meta)
    analysis = analysis_cpu = 0.0
    passed = StageTimes()
    cpu = time.process_time()
    batches = (
        parallel_batches(
            source,
            NEEDED_KINDS,
            workers=workers,
            times=passed,
            pack=run_packer(workers),
            run_format=RUN_FORMAT,
        )
        if workers
        else source.iter_batches(NEEDED_KINDS, pack=RUN_FORMAT)
    )
    for batch in batches:
        t, c = time.perf_counter(), time.process_time()
        analyzer.feed(batch)
        analysis += time.perf_counter() - t
        analysis_cpu += time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    analyzer.finish()
    analysis += time.perf_counter() - t
    analysis_cpu += time.process_time() - c
    parent_cpu = time.process_time() - cpu
    cores = len(os.sched_getaffinity(0))
    total_cpu = parent_cpu + sum(passed.worker_cpu)
    idle = max(parent_cpu, max(passed.worker_cpu, default=0.0), total_cpu / cores)
    return {
        "decode": decode,
        "decode_cpu": decode_cpu,
        "merge": stats.merge,
        "analysis": analysis,
        "analysis_cpu": analysis_cpu,
        "pass_parent_cpu": parent_cpu,
        "pass_total_cpu": total_cpu,
        "pass_idle_estimate": idle,
    }

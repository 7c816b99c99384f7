"""Trace path -> AnalysisResult: the one entry point the commands and the TUI call."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from w2a_tui.errors import NoKvmActivityError
from w2a_tui.model import AnalysisResult, Reason
from w2a_tui.store.pcpu import pcpu_loader, pcpu_store, save_pcpu

# The reader and the analysis are imported when a trace is analysed: opening one from its
# cache (the TUI's first frame) needs neither. The cache is imported when it is used:
# `analyze --no-cache` needs none of it (nor its hashlib, threads and checks).
if TYPE_CHECKING:
    from w2a_tui.events import Batch, Event
    from w2a_tui.store import StateStore
    from w2a_tui.trace import ReadProgress, TraceSource

ProgressCallback = Callable[["ReadProgress"], None]

# Decoding processes when a caller does not say (`--workers`): None is one per core
# (capped, see trace.parallel.default_workers) for traces big enough to pay the processes'
# start and read in Python (trace.parallel.worth_parallel), else 0; 0 decodes in this
# process.
_workers: int | None = None


# Without the compiled walk (which packs runs of guest entries as it decodes, for free),
# decoding processes from which they pack them in Python (analysis.runs.pack_runs).
# Packing moves work from this process (the analysis, alone in it) to the workers: 1 M
# events of the `mixed` scenario cost the workers about 0.15-0.25 s more in all and this
# process 0.3 s less (its unpickling, merge and analysis: -28 %). With more workers than
# two, this process is the limit and that is what counts; with one or two on two cores
# the workers' share weighs as much, and they do not pack.
PACK_MIN_WORKERS = 3


def run_packer(workers: int) -> Callable[[list[Event]], list[Event]] | None:
    """What `workers` decoding processes do to their events before handing them over:
    pack runs (analysis.runs.pack_runs) from PACK_MIN_WORKERS on, else nothing. Nothing
    either when their compiled walk packs them (trace.fastctf.cwalk)."""
    from w2a_tui.trace.fastctf.cwalk import enabled

    if workers < PACK_MIN_WORKERS or enabled():
        return None
    from w2a_tui.analysis.runs import pack_runs

    return pack_runs


# Allocations between two young-generation collections of the garbage collector while a
# trace is read and analysed (Python's default: 700). Decoding allocates a tuple per event
# and each collection walks the young objects: on mixed-1000000, 487 collections took
# about 0.15 s of CPU, at 10 000 13 took 0.02 s (10 M events: 2.2 s -> 0.4 s). Cyclic
# garbage is still collected, 10 000 objects later at most.
ANALYSIS_GC_THRESHOLD = 10_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the young generation every ANALYSIS_GC_THRESHOLD allocations (unless the
    caller set more, or 0: none), then restore the caller's thresholds."""
    before = gc.get_threshold()
    if 0 < before[0] < ANALYSIS_GC_THRESHOLD:
        gc.set_threshold(ANALYSIS_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def use_workers(workers: int | None) -> None:
    """The number of decoding processes from now on (the CLI's `--workers`)."""
    global _workers
    _workers = workers


def analyze_trace(
    path: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    vector_table: Mapping[int, Reason] | None = None,
    workers: int | None = None,
    pcpu_out: list[StateStore] | None = None,
) -> AnalysisResult:
    """Read the trace once and run the W2A analysis over it (through `read_trace`, so a
    failure of our own decoder gets babeltrace2's second reading).

    `workers` decoding processes (default `workers_in_use()`; 0: decode in this process,
    the reference path). The result is the same either way: a trace whose streams cannot
    be decoded apart with the same result (trace.parallel.NotParallel) is read in this
    process.

    With `pcpu_out`, the same pass also builds the host CPUs' lanes (`analysis.pcpu`) and
    appends their store to it.

    Raises BadTraceError (unreadable trace) or NoKvmActivityError (nothing to analyse).
    """
    from w2a_tui.analysis import NEEDED_KINDS, Analyzer
    from w2a_tui.analysis.guest import guest_evidence
    from w2a_tui.analysis.pcpu import PcpuTracker
    from w2a_tui.analysis.runs import RUN_FORMAT, RunConflict
    from w2a_tui.memory import map_large_blocks
    from w2a_tui.trace import read_trace
    from w2a_tui.trace.parallel import (
        NotParallel,
        can_decode_in_parallel,
        default_workers,
        may_start_workers,
        parallel_batches,
        worth_parallel,
    )

    chosen = _workers if workers is None else workers
    map_large_blocks()

    def analyze(source: TraceSource) -> AnalysisResult:
        count = chosen
        if count is None:
            count = default_workers() if worth_parallel(source) else 0
        if count > 0 and can_decode_in_parallel(source) and may_start_workers():
            batches = parallel_batches(
                source,
                NEEDED_KINDS,
                workers=count,
                progress=progress,
                pack=run_packer(count),
                run_format=RUN_FORMAT,
            )
            try:
                with contextlib.closing(batches):
                    return analyze_batches(source, batches)
            except (NotParallel, RunConflict):
                pass  # read again below, in this process, without packed runs
        else:
            # The compiled CTF walk packs runs as it decodes (free here); a trace whose runs
            # cannot be packed (RunConflict) is read again without.
            packed = source.iter_batches(NEEDED_KINDS, progress=progress, pack=RUN_FORMAT)
            try:
                with contextlib.closing(packed):
                    return analyze_batches(source, packed)
            except RunConflict:
                pass
        return analyze_batches(source, source.iter_batches(NEEDED_KINDS, progress=progress))

    def analyze_batches(source: TraceSource, batches: Iterable[Batch]) -> AnalysisResult:
        analyzer = Analyzer(source.meta, vector_table)
        pcpus = PcpuTracker() if pcpu_out is not None else None
        for batch in batches:
            analyzer.feed(batch)
            if pcpus is not None:
                pcpus.feed(batch)
        result = analyzer.finish()
        if pcpus is not None and pcpu_out is not None and result.lanes:
            end = max(lane.end_ns for lane in result.lanes)
            pcpu_out.append(pcpu_store(result.meta, *pcpus.finish(result.lanes, end)))
        if not result.lanes:
            hints = guest_evidence(source.meta.hostname, analyzer.irq_names())
            raise NoKvmActivityError(
                no_kvm_message(analyzer.seen_entry, source.meta.hostname, guest_hint=hints)
            )
        return result

    with fewer_collections():
        return read_trace(path, analyze)


def load_result(
    path: str | os.PathLike[str],
    *,
    use_cache: bool = True,
    progress: ProgressCallback | None = None,
    vector_table: Mapping[int, Reason] | None = None,
) -> AnalysisResult:
    """The analysis of a trace: from the on-disk cache when it is fresh, else analysed
    and cached. `use_cache=False` (`--no-cache`) neither reads nor writes the cache.

    A non-default `vector_table` (`--vectors`) bypasses the cache both ways: the cache key
    does not include the table, so a cached result could hold another table's reasons.
    """
    if not use_cache or vector_table is not None:
        return analyze_trace(path, progress=progress, vector_table=vector_table)
    from w2a_tui.store.cache import load_or_analyze

    result, _ = load_or_analyze(path, lambda: analyze_trace(path, progress=progress))
    return result


def load_store(
    path: str | os.PathLike[str],
    *,
    use_cache: bool = True,
    progress: ProgressCallback | None = None,
    vector_table: Mapping[int, Reason] | None = None,
    with_pcpu: bool = True,
) -> tuple[StateStore, bool]:
    """(store, came_from_cache): what the TUI opens. A cached store reopens without
    building one Python object per interval, so a second opening is instant. A
    non-default `vector_table` bypasses the cache (see load_result). The store carries
    the host CPUs' lanes as `store.pcpu` (cached beside it); `with_pcpu=False` (the
    commands that report vCPUs only) does not read them from a cache, but a fresh
    analysis still builds and caches them, so the TUI opens that trace at once later
    (uncached, `use_cache=False` or a `vector_table`, it builds none: `store.pcpu` is
    None). From a cache, `store.pcpu` is read at its first use (`StateStore.defer_pcpu`)."""
    from w2a_tui.store import StateStore
    from w2a_tui.store.cache import load_store as load_cached_store
    from w2a_tui.store.cache import save_store, trace_identity

    cached = use_cache and vector_table is None
    identity = trace_identity(path) if cached else []
    if cached:
        store = load_cached_store(path, identity)
        if store is not None and not with_pcpu:
            return store, True
        if store is not None:
            # The pCPU lanes are read (and checked) at their first use, not before the
            # first frame. A cache written before they existed has no sidecar: analyse again.
            load_pcpu = pcpu_loader(path, identity)
            if load_pcpu is not None:
                store.defer_pcpu(load_pcpu)
                return store, True
    pcpu: list[StateStore] = []
    # The pCPU lanes are built for a caller that shows them or for the cache, not for
    # `export --no-cache` (a second pass over every batch and a store of their own).
    pcpu_out = pcpu if with_pcpu or cached else None
    result = analyze_trace(path, progress=progress, vector_table=vector_table, pcpu_out=pcpu_out)
    store = StateStore.from_result(result, release=True)
    store.pcpu = pcpu[-1] if pcpu else None
    if cached:
        with contextlib.suppress(OSError, ValueError):
            save_store(path, store, identity)
            if store.pcpu is not None:
                save_pcpu(path, store.pcpu, identity)
    return store, False


def no_kvm_message(seen_entry: bool, hostname: str, *, guest_hint: str = "") -> str:
    """One sentence: why there is nothing to show, and how to record a trace that has it.

    `guest_hint` (from analysis.guest.guest_evidence) says why the trace looks recorded
    inside a guest; the sentence then says so, with that evidence.
    """
    host = f" (host {hostname})" if hostname else ""
    if seen_entry:
        what = "its kvm_entry events could not be tied to any vCPU thread"
    else:
        what = "it has no kvm_entry/kvm_x86_entry events"
    if guest_hint and not seen_entry:
        return (
            f"No KVM vCPU activity in this trace{host}: this looks like a trace recorded "
            f"inside a guest ({guest_hint}, and {what}); W2A needs the KVM host's kernel "
            "trace. Record on the host with "
            "`lttng enable-event -k 'kvm_x86_*,sched_switch,sched_waking,sched_wakeup,"
            "sched_process_fork,lttng_statedump_*,irq_handler_*,irq_softirq_*,"
            "timer_hrtimer_expire_*'` and `lttng add-context -k -t pid -t tid -t procname`."
        )
    return (
        f"No KVM vCPU activity in this trace{host}: {what}; it may be a guest's trace or a "
        "host trace recorded without the KVM tracepoints. Record on the KVM host with "
        "`lttng enable-event -k 'kvm_x86_*,sched_switch,sched_waking,sched_wakeup,"
        "sched_process_fork,lttng_statedump_*,irq_handler_*,irq_softirq_*,"
        "timer_hrtimer_expire_*'` and `lttng add-context -k -t pid -t tid -t procname`."
    )

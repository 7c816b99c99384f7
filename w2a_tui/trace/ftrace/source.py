"""ftrace traces as a `TraceSource`: a trace-cmd `trace.dat`, or the text of tracefs's `trace`.

Both give the same `w2a_tui.events` batches as the CTF path: per-CPU ports merged in time
order (trace.dat), or one already merged stream (text), with LOST_EVENTS tuples where the
ring buffer says events were dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Iterator
from pathlib import Path

from w2a_tui.errors import BadTraceError
from w2a_tui.events import Batch, Event, EventKind
from w2a_tui.model import TraceMeta
from w2a_tui.trace.merge import needy, release, watermark
from w2a_tui.trace.plan import wanted_set
from w2a_tui.trace.port import PortDecoder, RunFormat
from w2a_tui.trace.source import EventCounts, ReadProgress, TraceSource

DAT_DECODER = "trace.dat"
TEXT_DECODER = "ftrace-text"
_BUDGET = 16384
_STATEDUMP = int(EventKind.STATEDUMP_PROCESS_STATE)


class FtraceSource(TraceSource):
    """Common driver of the trace.dat and text readers: subclasses make the ports."""

    def __init__(self, path: Path, meta: TraceMeta, env: dict[str, str], decoder: str) -> None:
        # TraceSource's own constructor opens CTF directories: not called on purpose.
        self.meta = meta
        self.env = dict(env)
        self.skipped = []
        self.fast_declined = ""
        self._decoder = decoder
        self.clock = env.get("trace_clock", "")  # ftrace's trace_clock, e.g. local, x86-tsc
        self._path = path

    def describe(self) -> str:
        meta = self.meta
        facts = [meta.tracer or "ftrace", f"host {meta.hostname or '?'}"]
        if meta.cpus:
            facts.append(f"{len(meta.cpus)} CPU{'s' if len(meta.cpus) != 1 else ''}")
        if self.clock:
            facts.append(f"clock {self.clock}")
        kind = "trace-cmd trace" if self._decoder == DAT_DECODER else "ftrace text trace"
        return f"{kind} {meta.path} ({', '.join(facts)})"

    # -- to be provided by the format ------------------------------------------------------

    def _ports(self, wanted: frozenset[int] | None, counting: bool) -> list[PortDecoder]:
        raise NotImplementedError

    def _fraction(self, ports: list[PortDecoder]) -> float:
        raise NotImplementedError

    def _finish_counts(self, port: PortDecoder) -> None:
        """Fill `name_counts` / `cpu_counts` of a port after a pass."""

    # -- passes ------------------------------------------------------------------------------

    def count_events(self, progress: Callable[[ReadProgress], None] | None = None) -> EventCounts:
        ports = self._ports(None, counting=True)
        for _ in self._drive(ports, None):
            if progress is not None:
                progress(self._report(ports))
        counts = EventCounts()
        cpus: set[int] = set()
        for port in ports:
            self._finish_counts(port)
            for name, n in port.name_counts.items():
                counts.by_name[name] = counts.by_name.get(name, 0) + n
            for cpu, n in port.cpu_counts.items():
                if n:
                    counts.by_cpu[cpu] = counts.by_cpu.get(cpu, 0) + n
            counts.total += port.events
            counts.discarded += port.lost
            cpus |= port.cpus
        counts.by_name = dict(sorted(counts.by_name.items()))
        counts.by_cpu = dict(sorted(counts.by_cpu.items()))
        counts.cpus = sorted(cpus)
        firsts = [p.first_ts for p in ports if p.events]
        lasts = [p.last_ts for p in ports if p.events]
        counts.first_ns = min(firsts) if firsts else 0
        counts.last_ns = max(lasts) if lasts else 0
        self._update(counts.total, counts.discarded, firsts, lasts)
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
        """As `TraceSource.iter_batches`; runs are never packed here (`pack` is ignored)."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        ports = self._ports(wanted_set(kinds), counting=False)
        pending: Batch = []
        for mark in self._drive(ports, pending):
            while len(pending) >= batch_size or (mark is None and pending):
                batch, pending[:] = pending[:batch_size], pending[batch_size:]
                if progress is not None:
                    report = self._report(ports)
                    report.ts = batch[-1][0]
                    if mark is None and not pending:
                        report.fraction = 1.0
                    progress(report)
                yield batch
        self._update(
            sum(p.events for p in ports),
            sum(p.lost for p in ports),
            [p.first_ts for p in ports if p.events],
            [p.last_ts for p in ports if p.events],
        )

    def _drive(self, ports: list[PortDecoder], pending: Batch | None) -> Iterator[int | None]:
        """Pull the ports in watermark order; yields the watermark after each step (None
        once every port ended), with the released events appended to `pending`."""
        wanting = list(range(len(ports)))
        try:
            while True:
                for index in wanting:
                    if not ports[index].done:
                        ports[index].pull(None, _BUDGET)
                finished = all(p.done for p in ports)
                mark = None if finished else watermark(ports)
                if pending is not None:
                    pending.extend(release(ports, mark))
                wanting = needy(ports, mark)
                yield mark
                if finished:
                    return
        finally:  # also when the caller stops iterating (cancel)
            for port in ports:
                close = getattr(port, "close", None)
                if close is not None:
                    close()

    def _report(self, ports: list[PortDecoder]) -> ReadProgress:
        return ReadProgress(
            events=sum(p.events for p in ports),
            fraction=min(max(self._fraction(ports), 0.0), 1.0),
            ts=max((p.last_ts for p in ports), default=-1),
        )

    def _update(self, total: int, lost: int, firsts: list[int], lasts: list[int]) -> None:
        self.meta.event_count = total
        self.meta.lost_events = lost
        if firsts:
            self.meta.first_ns, self.meta.last_ns = min(firsts), max(lasts)


def saved_tgids(dat_path: Path) -> tuple[dict[int, int], Path | None]:
    """tid -> tgid from a copy of tracefs's `saved_tgids` (kept when the `record-tgid`
    option is on) beside the trace file: `<name>.saved_tgids` or `saved_tgids` in its
    folder, as `w2a-tui record` leaves it. trace.dat has no room for tgids, and the text
    of a tracing instance prints no TGID column."""
    for candidate in (
        dat_path.with_name(dat_path.name + ".saved_tgids"),
        dat_path.with_name("saved_tgids"),
    ):
        if not candidate.is_file():
            continue
        tgids: dict[int, int] = {}
        try:
            text = candidate.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                tgids[int(parts[0])] = int(parts[1])
        if tgids:
            return tgids, candidate
    return {}, None


def ftrace_files(path: Path) -> list[Path]:
    """The files an ftrace trace at `path` is read from (the trace.dat or the text, and a
    saved_tgids beside it); empty when `path` is no ftrace trace. The cache's identity."""
    from w2a_tui.trace.ftrace.datsource import dat_target
    from w2a_tui.trace.ftrace.textsource import text_target

    target = dat_target(path)
    if target is None and path.is_file():
        target = text_target(path)
    if target is None:
        return []
    _, tgid_file = saved_tgids(target)
    return [target] if tgid_file is None else [target, tgid_file]


def process_tuple(ts: int, tid: int, tgid: int, comm: str) -> Event:
    """A statedump tuple naming a thread and its process (state and CPU unknown: -1): how
    the ftrace readers hand over the process table the trace saved."""
    return (ts, -1, _STATEDUMP, -1, -1, "", tid, tgid, comm, -1, -1)


def open_ftrace(path: Path) -> TraceSource | None:
    """An ftrace source for `path` when it is a trace.dat or ftrace text, else None."""
    from w2a_tui.trace.ftrace.datsource import DatSource, dat_target

    target = dat_target(path)
    if target is not None:
        return DatSource(target, shown=path)
    from w2a_tui.trace.ftrace.textsource import TextSource, text_target

    text = text_target(path)
    if text is not None:
        return TextSource(text, shown=path)
    return None


def bad(path: Path, why: str) -> BadTraceError:
    return BadTraceError(f"{path} cannot be read as an ftrace trace: {why}.")

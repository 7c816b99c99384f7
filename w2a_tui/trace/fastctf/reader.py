"""The fast path of the reader: CTF trace directories decoded in pure Python.

`FastTrace.open(dirs, ports)` parses the metadata, indexes every packet and compiles the
stream layouts, or raises `Unsupported` (the caller then reads through babeltrace2) or
BadTraceError (corrupt data). `FastGraph` and `FastPortDecoder` plug into the same
`Reading` / merge machinery as the bt2 graph, so the merged output is identical.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from w2a_tui.events import kind_of
from w2a_tui.trace.fastctf.codegen import BadData
from w2a_tui.trace.fastctf.cwalk import CompiledWalk, compiled_walk
from w2a_tui.trace.fastctf.layout import StreamLayout, field_name
from w2a_tui.trace.fastctf.metadata_file import metadata_text
from w2a_tui.trace.fastctf.stream import (
    DataStream,
    Packet,
    PacketIndexer,
    bad,
    group_streams,
    stream_files,
)
from w2a_tui.trace.fastctf.timecheck import check_packets
from w2a_tui.trace.fastctf.tsdl import parse_metadata
from w2a_tui.trace.fastctf.types import Metadata, Unsupported
from w2a_tui.trace.graph import Reading
from w2a_tui.trace.port import MAX_LOSS, MIN_PLAUSIBLE_LOSS, PortDecoder, RunFormat


class _TraceDir:
    def __init__(self, path: Path, ports: Sequence[str] | None, text: str | None = None) -> None:
        self.path = path
        if text is None:
            text = metadata_text(path / "metadata")
        self.meta: Metadata = parse_metadata(text)
        if len(self.meta.streams) != 1:
            raise Unsupported("several stream classes")
        indexer = PacketIndexer(path, self.meta)
        files = [indexer.index(p) for p in stream_files(path)]
        self.layouts: dict[tuple[frozenset[int] | None, int], StreamLayout] = {}
        probe = self.layout(None, next(iter(self.meta.streams)))
        self.convert = probe.convert
        self.warnings = check_packets(str(path), files, probe.convert)
        streams = group_streams(path, self.meta, files, probe.convert)
        self.streams = streams if ports is None else _in_port_order(streams, ports, path)
        self._check_known_classes(probe)

    def port_ranges(self) -> dict[str, tuple[int, int]]:
        """Port name -> (begin_ns, end_ns) of its packets, as babeltrace2's trace-infos."""
        ranges: dict[str, tuple[int, int]] = {}
        for stream in self.streams:
            packets = [p for f in stream.files for p in f.packets]
            begins = [p.begin for p in packets if p.begin >= 0]
            ends = [p.end for p in packets if p.end >= 0]
            if begins and ends:
                ranges[stream.port_name] = (self.convert(min(begins)), self.convert(max(ends)))
        return ranges

    def layout(self, wanted: frozenset[int] | None, stream_class: int) -> StreamLayout:
        key = (wanted, stream_class)
        layout = self.layouts.get(key)
        if layout is None:
            layout = StreamLayout(self.meta, self.meta.streams[stream_class], wanted)
            self.layouts[key] = layout
        return layout

    def _check_known_classes(self, layout: StreamLayout) -> None:
        """Compile every class the analysis may decode now, so that anything unsupported
        surfaces before the first event rather than in the middle of a pass."""
        for class_id, event in layout.stream.events.items():
            if kind_of(event.name) is not None:
                try:
                    layout.handlers[class_id]
                except BadData as why:
                    raise Unsupported(str(why)) from None
            else:
                # Left for now if it fails: its events, if any appear, are damage to us
                # and send the trace to babeltrace2.
                with contextlib.suppress(Unsupported, RecursionError):
                    layout.check(class_id)


def _in_port_order(streams: list[DataStream], ports: Sequence[str], path: Path) -> list[DataStream]:
    """Our data streams in babeltrace2's port order (the merge breaks timestamp ties by
    port order); any disagreement on the grouping means we do not read it like bt2."""

    def key(name: str) -> str:
        head, _, tail = name.rpartition(" | ")
        return f"{head} | {Path(tail).name}" if "/" in tail else name

    by_name = {key(s.port_name): s for s in streams}
    wanted = [key(p) for p in ports]
    if sorted(by_name) != sorted(wanted):
        raise Unsupported(f"{path}: data streams differ from babeltrace2's ports")
    return [by_name[k] for k in wanted]


class FastTrace:
    """Every trace directory of one host, ready to be read by `FastGraph`."""

    def __init__(self, dirs: list[_TraceDir]) -> None:
        self.dirs = dirs

    @classmethod
    def open(
        cls, dirs: Sequence[tuple[Path, Sequence[str] | None]], texts: Sequence[str] = ()
    ) -> FastTrace:
        """`dirs`: (path, babeltrace2's port names, or None for our own grouping); `texts`:
        their metadata texts when already read."""
        found: list[str | None] = list(texts) or [None] * len(dirs)
        try:
            return cls(
                [
                    _TraceDir(path, ports, text)
                    for (path, ports), text in zip(dirs, found, strict=True)
                ]
            )
        except RecursionError:
            raise Unsupported("types nested too deeply") from None

    @property
    def warnings(self) -> list[str]:
        return [w for d in self.dirs for w in d.warnings]

    def ports(self) -> list[tuple[_TraceDir, DataStream]]:
        return [(d, s) for d in self.dirs for s in d.streams]

    @property
    def has_pid_tid(self) -> bool:
        for trace_dir in self.dirs:
            for stream in trace_dir.meta.streams.values():
                context = stream.event_context
                names = {field_name(n) for n, _ in context.members} if context else set()
                if {"pid", "tid"} <= names or {"vpid", "vtid"} <= names:
                    return True
        return False

    def cpus_apart(self, one_per_stream: bool = False) -> bool:
        """Every CPU's events come from one data stream (no two streams share a CPU, and
        each packet names its CPU): what packing runs of guest entries needs, since a
        run ends at its CPU's next other event, which must be in the same stream. With
        `one_per_stream`, also no stream holds two CPUs (the decoding workers' packer
        has always asked for that)."""
        owner: dict[int, int] = {}
        for index, (_, stream) in enumerate(self.ports()):
            cpus = {packet.cpu for f in stream.files for packet in f.packets}
            if min(cpus, default=0) < 0 or (one_per_stream and len(cpus) > 1):
                return False
            if any(owner.setdefault(cpu, index) != index for cpu in cpus):
                return False
        return True

    def first_cpus(self) -> list[int]:
        return [s.files[0].packets[0].cpu for _, s in self.ports()]


class PortReader:
    """Sequential access to the packets of one data stream, one mapped file at a time."""

    def __init__(self, trace_dir: _TraceDir, stream: DataStream) -> None:
        self.trace_dir = trace_dir
        self.stream = stream
        self._packets: Iterator[tuple[Any, Packet, str]] = self._walk()
        self._maps: list[mmap.mmap] = []

    def _walk(self) -> Iterator[tuple[Any, Packet, str]]:
        for stream_file in self.stream.files:
            with open(stream_file.path, "rb") as handle:
                mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._maps.append(mm)
            try:
                for packet in stream_file.packets:
                    if packet.offset % 8 == 0:
                        yield mm, packet, stream_file.path.name
                    else:
                        yield _aligned_copy(mm, packet), _rebased(packet), stream_file.path.name
            finally:
                self._maps.remove(mm)
                mm.close()

    def next_packet(self) -> tuple[Any, Packet, str] | None:
        return next(self._packets, None)

    def close(self) -> None:
        self._packets = iter(())
        for mm in self._maps:
            mm.close()
        self._maps.clear()


def _aligned_copy(mm: mmap.mmap, packet: Packet) -> bytes:
    """An unaligned packet (sink.ctf.fs packs packets end to end) as its own buffer, so
    that the compiled readers' alignment arithmetic holds: one copy per packet."""
    return mm[packet.offset : packet.offset + packet.size]


def _release_pages(mm: mmap.mmap, packet: Packet) -> None:
    """Drop the decoded packet's whole pages from this process's mapping: a big trace's
    pages would otherwise all stay resident (and counted) until its file is closed. The
    file is read-only and mapped shared, so a later touch just faults the page back in."""
    page = mmap.PAGESIZE
    start = packet.offset - packet.offset % page
    stop = (packet.offset + packet.size) // page * page
    if stop > start:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)


def _rebased(packet: Packet) -> Packet:
    shift = packet.offset * 8
    return replace(
        packet, events_at=packet.events_at - shift, content_end=packet.content_end - shift
    )


_NO_END = 1 << 64  # a packet without timestamp_end: no bound


class FastPortDecoder(PortDecoder):
    """Decodes one data stream straight from its files (see `PortDecoder`)."""

    def __init__(
        self, wanted: Collection[int] | None, counting: bool, pack: RunFormat | None = None
    ) -> None:
        """`pack`: pack runs of guest entries (analysis.runs) in this format, where the
        compiled walk decodes."""
        super().__init__(wanted, counting)
        self._pack = pack
        self._layout: StreamLayout | None = None
        self._walk: CompiledWalk | None = None
        self._clock = 0
        self._prev_discarded = -1
        self._prev_end = -1
        self._class_ids: list[int] = []
        self._packet: tuple[Any, Packet, str] | None = None  # being decoded
        self._at = 0  # bit position of its next event

    def pull(self, iterator: Any, budget: int) -> None:
        reader: PortReader = iterator
        layout = self._layout
        if layout is None:
            wanted = frozenset(self.wanted) if self.wanted is not None else None
            layout = reader.trace_dir.layout(wanted, reader.stream.stream_class)
            self._layout = layout
            if not self.counting:
                self._walk = compiled_walk(layout, self._pack)
        seen = 0
        while seen < budget:
            if self._packet is None:
                step = reader.next_packet()
                if step is None:
                    self.done = True
                    reader.close()
                    break
                self._start(step, layout)
            assert self._packet is not None
            mm, packet, name = self._packet
            try:
                seen += self._events(mm, packet, layout, budget - seen)
            except (KeyError, BadData, struct.error, IndexError, ValueError) as err:
                where = f"stream file {name}, packet at byte {packet.offset}"
                raise bad(reader.trace_dir.path, f"{where}: undecodable event ({err})") from err
        if self.counting:
            self._flush_counts(layout)

    def _start(self, step: tuple[Any, Packet, str], layout: StreamLayout) -> None:
        packet = step[1]
        if packet.gap and self._prev_end >= 0 and packet.begin >= 0:
            # Damaged packets were left out here (timecheck): nothing is known in between.
            self.lost_tuple(0, layout.convert(self._prev_end), layout.convert(packet.begin))
        self._discarded(packet, layout, step[2])
        if packet.end >= 0:
            self._prev_end = packet.end
        self.set_cpu(packet.cpu)
        if packet.begin >= 0:
            self._clock = packet.begin
        self._packet = step
        self._at = packet.events_at

    def _events(self, mm: Any, packet: Packet, layout: StreamLayout, limit: int) -> int:
        """Decode up to `limit` events of the current packet, from where the last call
        stopped; returns how many."""
        out: Callable[[Any], None] | list[Any]
        if self.counting:
            loop, handlers, out = layout.count_loop, layout.skips, self._class_ids.append
        elif self._walk is not None:
            loop, handlers, out = self._walk.decode_loop, layout.handlers, self.out
        else:
            loop, handlers, out = layout.decode_loop, layout.handlers, self.out.append
        p, end, clock, cpu = self._at, packet.content_end, self._clock, packet.cpu
        last = packet.end if packet.end >= 0 else _NO_END
        n = 0
        if self.first_ts < 0 and p < end:
            p, clock, n = loop(mm, p, end, clock, cpu, out, handlers, 1, last)
            if n:
                self.first_ts = layout.convert(clock)
        if p < end and n < limit and clock <= last:
            p, clock, more = loop(mm, p, end, clock, cpu, out, handlers, limit - n, last)
            n += more
        if n:
            self.events += n
            if clock <= last:
                self.last_ts = layout.convert(clock)
            if self.counting:
                self.cpu_counts[cpu] = self.cpu_counts.get(cpu, 0) + n
        if clock > last:
            self._overrun(packet, layout, end - p)
            p = end
        self._clock, self._at = clock, p
        if p >= end:
            if p > end:
                raise BadData("the last event runs past the packet content")
            if packet.end >= 0:
                self._clock = packet.end
            self._packet = None
            if isinstance(mm, mmap.mmap):
                _release_pages(mm, packet)
        return n

    def _overrun(self, packet: Packet, layout: StreamLayout, bits_left: int) -> None:
        """An event stamped after its packet's end (or back in time): the packet's events
        from there on are damaged and skipped, and the rest of the packet is a gap."""
        name = self._packet[2] if self._packet is not None else "?"
        self.warnings.append(
            f"stream file {name}, packet at byte {packet.offset}: an event's timestamp runs "
            f"past the packet's timestamp_end or back in time (damaged); the packet's last "
            f"{max(bits_left, 0) // 8:,} bytes of events were skipped."
        )
        begin = self.last_ts if self.last_ts >= 0 else layout.convert(max(packet.begin, 0))
        self.lost_tuple(0, begin, layout.convert(packet.end))

    def _discarded(self, packet: Packet, layout: StreamLayout, name: str) -> None:
        """babeltrace2's discarded-events message, emitted before the packet begins.

        The counter is cumulative. One that jumps by more events than the time since the
        last packet could hold (one per ns), or by 2^40 before the first, is damaged and
        ignored; one that falls is damaged too (this one or the last), and no loss is
        counted across it."""
        if packet.discarded < 0:
            return
        previous = self._prev_discarded
        convert = layout.convert
        where = f"stream file {name}, packet at byte {packet.offset}"
        if previous < 0:
            if packet.discarded >= MAX_LOSS:
                self._bad_counter(where, packet.discarded, "is beyond any real loss")
                return
            self._prev_discarded = packet.discarded
            if packet.discarded:  # lost before the trace began: how many is unknown
                self._lost_between(0, packet.begin, packet.end, convert)
            return
        count = packet.discarded - previous
        begin, end = self._prev_end, packet.end
        window = convert(end) - convert(begin) if begin >= 0 and end >= 0 else 0
        if count < 0:
            self._bad_counter(where, packet.discarded, "falls")
            self._prev_discarded = packet.discarded
            return
        if count > max(window, MIN_PLAUSIBLE_LOSS):
            self._bad_counter(where, packet.discarded, "jumps by more events than time allows")
            return
        self._prev_discarded = packet.discarded
        if count:
            self._lost_between(count, begin, end, convert)

    def _lost_between(
        self, count: int, begin: int, end: int, convert: Callable[[int], int]
    ) -> None:
        if begin >= 0 and end >= 0:
            self.lost_tuple(count, convert(begin), convert(end))
        else:
            self.lost_tuple(count, -1, -1)

    def _bad_counter(self, where: str, value: int, how: str) -> None:
        self.warnings.append(
            f"{where}: its events_discarded counter ({value}) {how}: it is damaged and was ignored."
        )

    def _flush_counts(self, layout: StreamLayout) -> None:
        if not self._class_ids:
            return
        for class_id, n in Counter(self._class_ids).items():
            name = layout.plan(class_id).name
            self.name_counts[name] = self.name_counts.get(name, 0) + n
        self._class_ids.clear()


class FastGraph:
    """Drop-in for `TraceGraph`: the same `port_names` and `steps(reading)` contract."""

    def __init__(self, trace: FastTrace) -> None:
        self._ports = trace.ports()
        self.port_names = [stream.port_name for _, stream in self._ports]

    def steps(self, reading: Reading) -> Iterator[Reading]:
        readers = [PortReader(trace_dir, stream) for trace_dir, stream in self._ports]
        try:
            while not reading.finished:
                reading.step(readers)
                yield reading
        finally:
            for reader in readers:
                reader.close()

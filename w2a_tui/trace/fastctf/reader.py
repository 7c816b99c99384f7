"""The fast path of the reader: CTF trace directories decoded in pure Python.

`FastTrace.open(dirs, ports)` parses the metadata, indexes every packet and compiles the
stream layouts, or raises `Unsupported` (the caller then reads through babeltrace2) or
BadTraceError (corrupt data). `FastGraph` and `FastPortDecoder` plug into the same
`Reading` / merge machinery as the bt2 graph, so the merged output is identical.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from w2a_tui.events import kind_of
from w2a_tui.trace.fastctf.codegen import BadData
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
from w2a_tui.trace.fastctf.tsdl import parse_metadata
from w2a_tui.trace.fastctf.types import Metadata, Unsupported
from w2a_tui.trace.graph import Reading
from w2a_tui.trace.port import PortDecoder


class _TraceDir:
    def __init__(self, path: Path, ports: Sequence[str]) -> None:
        self.path = path
        self.meta: Metadata = parse_metadata(metadata_text(path / "metadata"))
        if len(self.meta.streams) != 1:
            raise Unsupported("several stream classes")
        indexer = PacketIndexer(path, self.meta)
        files = [indexer.index(p) for p in stream_files(path)]
        self.layouts: dict[tuple[frozenset[int] | None, int], StreamLayout] = {}
        probe = self.layout(None, next(iter(self.meta.streams)))
        self.streams = _in_port_order(
            group_streams(path, self.meta, files, probe.convert), ports, path
        )
        self._check_known_classes(probe)

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
                layout.handlers[class_id]
            else:
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
    def open(cls, dirs: Sequence[tuple[Path, Sequence[str]]]) -> FastTrace:
        return cls([_TraceDir(path, ports) for path, ports in dirs])

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


class FastPortDecoder(PortDecoder):
    """Decodes one data stream straight from its files (see `PortDecoder`)."""

    def __init__(self, wanted: Collection[int] | None, counting: bool) -> None:
        super().__init__(wanted, counting)
        self._layout: StreamLayout | None = None
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
        self._discarded(packet, layout)
        self.set_cpu(packet.cpu)
        if packet.begin >= 0:
            self._clock = packet.begin
        self._packet = step
        self._at = packet.events_at

    def _events(self, mm: Any, packet: Packet, layout: StreamLayout, limit: int) -> int:
        """Decode up to `limit` events of the current packet, from where the last call
        stopped; returns how many."""
        out: Callable[[Any], None]
        if self.counting:
            loop, handlers, out = layout.count_loop, layout.skips, self._class_ids.append
        else:
            loop, handlers, out = layout.decode_loop, layout.handlers, self.out.append
        p, end, clock, cpu = self._at, packet.content_end, self._clock, packet.cpu
        n = 0
        if self.first_ts < 0 and p < end:
            p, clock, n = loop(mm, p, end, clock, cpu, out, handlers, 1)
            self.first_ts = layout.convert(clock)
        if p < end and n < limit:
            p, clock, more = loop(mm, p, end, clock, cpu, out, handlers, limit - n)
            n += more
        if n:
            self.events += n
            self.last_ts = layout.convert(clock)
            if self.counting:
                self.cpu_counts[cpu] = self.cpu_counts.get(cpu, 0) + n
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

    def _discarded(self, packet: Packet, layout: StreamLayout) -> None:
        """babeltrace2's discarded-events message, emitted before the packet begins."""
        if packet.discarded < 0:
            return
        previous, self._prev_discarded = self._prev_discarded, packet.discarded
        previous_end, self._prev_end = self._prev_end, packet.end
        convert = layout.convert
        if previous < 0:
            if packet.discarded == 0:
                return
            count, begin, end = 0, packet.begin, packet.end
        else:
            count = (packet.discarded - previous) & 0xFFFFFFFFFFFFFFFF
            if count == 0:
                return
            begin, end = previous_end, packet.end
        if begin >= 0 and end >= 0:
            self.lost_tuple(count, convert(begin), convert(end))
        else:
            self.lost_tuple(count, -1, -1)

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

"""The stream files of one CTF trace directory: packet index, grouping into data streams
(as babeltrace2 groups them into ports) and sequential packet access."""

from __future__ import annotations

import mmap
import os
import struct
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2a_tui.errors import BadTraceError
from w2a_tui.trace.fastctf.layout import CONTEXT_FIELDS, HEADER_FIELDS, compile_scopes
from w2a_tui.trace.fastctf.types import Metadata, Unsupported

CTF_MAGIC = 0xC1FC1FC1
_SWAPPED_MAGIC = 0xC11FFCC1
_HEAD_COPY = 1 << 16  # bytes copied to read an unaligned packet's header and context


@dataclass(frozen=True, slots=True)
class Packet:
    """One packet of a stream file; positions in bits from the file start (from the packet
    start once `PortReader` hands out an unaligned packet as a copy)."""

    offset: int  # bytes
    size: int  # bytes
    events_at: int  # bits: first event header
    content_end: int  # bits
    stream_class: int
    instance: int  # stream_instance_id, -1 when absent
    begin: int  # raw clock values, -1 when absent
    end: int
    discarded: int  # cumulative events_discarded snapshot, -1 when absent
    cpu: int
    gap: bool = False  # damaged packets were left out just before this one


@dataclass(slots=True)
class StreamFile:
    path: Path
    packets: list[Packet]


def bad(trace_dir: Path, detail: str) -> BadTraceError:
    return BadTraceError(
        f"{trace_dir} is not a readable CTF trace ({detail}); check that the trace was "
        "copied completely, or record it again."
    )


class PacketIndexer:
    """Reads every packet header and context of a stream file (a few per MB)."""

    def __init__(self, trace_dir: Path, meta: Metadata) -> None:
        self.trace_dir = trace_dir
        self.meta = meta
        self._header = compile_scopes(meta, [(meta.packet_header, HEADER_FIELDS)], "header")
        self._contexts: dict[int, Callable[[Any, int], tuple[int, dict[str, Any]]]] = {}

    def _context(self, stream_class: int) -> Callable[[Any, int], tuple[int, dict[str, Any]]]:
        reader = self._contexts.get(stream_class)
        if reader is None:
            stream = self.meta.streams[stream_class]
            reader = compile_scopes(
                self.meta, [(stream.packet_context, CONTEXT_FIELDS)], f"context{stream_class}"
            )
            self._contexts[stream_class] = reader
        return reader

    def index(self, path: Path) -> StreamFile:
        size = path.stat().st_size
        packets: list[Packet] = []
        if size == 0:
            return StreamFile(path, packets)
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm,
        ):
            at = 0
            while at < size:
                packets.append(self._packet(mm, at, size, path.name))
                at += packets[-1].size
        return StreamFile(path, packets)

    def _packet(self, mm: Any, at: int, file_size: int, name: str) -> Packet:
        where = f"stream file {name}, packet at byte {at}"
        # The compiled readers assume 8-byte aligned packets (CTF aligns fields from the
        # packet start); sink.ctf.fs packs packets end to end, so an unaligned packet's
        # header is read from a copy that starts at offset 0.
        buf, start = (mm, at * 8) if at % 8 == 0 else (mm[at : at + _HEAD_COPY], 0)
        try:
            p, header = self._header(buf, start)
            magic = header.get("magic")
            if magic is not None and magic != CTF_MAGIC:
                raise bad(self.trace_dir, self._bad_magic(where, name, at, magic))
            raw_uuid = header.get("uuid")
            if raw_uuid is not None and self.meta.uuid is not None and raw_uuid != self.meta.uuid:
                raise bad(self.trace_dir, f"{where}: its UUID is not the metadata's")
            stream_class = header.get("stream_id")
            if stream_class is None:
                if len(self.meta.streams) != 1:
                    raise Unsupported("packets without a stream id")
                stream_class = next(iter(self.meta.streams))
            if stream_class not in self.meta.streams:
                raise bad(self.trace_dir, f"{where}: unknown stream class {stream_class}")
            p, context = self._context(stream_class)(buf, p)
        except struct.error as err:
            if at == 0 and self.meta.packet_header is not None:
                short = f"stream file {name} is shorter than a packet header"
                raise bad(self.trace_dir, f"{short}: {_not_a_stream(name)}") from err
            raise bad(self.trace_dir, f"{where}: its header is cut short") from err
        p += at * 8 - start
        remaining = (file_size - at) * 8
        packet_bits = context.get("packet_size", remaining)
        content_bits = context.get("content_size", packet_bits)
        if packet_bits % 8 or packet_bits <= 0:
            raise bad(self.trace_dir, f"{where}: packet size of {packet_bits} bits")
        if packet_bits > remaining:
            raise bad(
                self.trace_dir,
                f"{where}: {packet_bits // 8} bytes declared but only {remaining // 8} remain",
            )
        if content_bits > packet_bits:
            raise bad(self.trace_dir, f"{where}: content larger than the packet")
        if p - at * 8 > content_bits:
            raise bad(self.trace_dir, f"{where}: content smaller than its own context")
        # No cpu_id (one stream for all CPUs...): -1, as babeltrace2's decoders give.
        cpu = context.get("cpu_id", -1)
        return Packet(
            offset=at,
            size=packet_bits // 8,
            events_at=p,
            content_end=at * 8 + content_bits,
            stream_class=stream_class,
            instance=header.get("stream_instance_id", -1),
            begin=context.get("timestamp_begin", -1),
            end=context.get("timestamp_end", -1),
            discarded=context.get("events_discarded", -1),
            cpu=cpu,
        )

    def _bad_magic(self, where: str, name: str, at: int, magic: int) -> str:
        if magic == _SWAPPED_MAGIC:
            return (
                f"{where}: its byte order is not the one the metadata declares "
                f"(`byte_order = {self.meta.byte_order}`): the metadata is damaged or comes "
                "from another trace"
            )
        if at == 0:
            return f"{where}: bad magic number {magic:#x}: {_not_a_stream(name)}"
        return f"{where}: bad magic number {magic:#x}"


def _not_a_stream(name: str) -> str:
    return (
        f"{name} is not a CTF stream file; a trace folder holds only `metadata` and stream "
        "files: move any other file out"
    )


@dataclass(slots=True)
class DataStream:
    """One babeltrace2 port: the files of one data stream, in time order."""

    port_name: str
    stream_class: int
    files: list[StreamFile]


def group_streams(
    trace_dir: Path, meta: Metadata, files: list[StreamFile], begin_ns: Callable[[int], int]
) -> list[DataStream]:
    """Group stream files into data streams the way babeltrace2's `source.ctf.fs` does:
    by (stream class, stream_instance_id) when both it and a beginning time exist."""
    prefix = str(uuid_module.UUID(bytes=meta.uuid)) if meta.uuid else str(trace_dir)
    groups: dict[tuple[int, int], DataStream] = {}
    singles: list[DataStream] = []
    firsts: dict[int, int] = {}
    for stream_file in sorted(files, key=lambda f: f.path.name):
        if not stream_file.packets:
            continue
        first = stream_file.packets[0]
        sc_part = f" | {first.stream_class}" if first.stream_class >= 0 else ""
        firsts[id(stream_file)] = begin_ns(first.begin) if first.begin >= 0 else -1
        if first.instance >= 0 and first.begin >= 0:
            key = (first.stream_class, first.instance)
            if key not in groups:
                groups[key] = DataStream(f"{prefix}{sc_part} | {first.instance}", key[0], [])
            groups[key].files.append(stream_file)
        else:
            name = f"{prefix}{sc_part} | {stream_file.path}"
            singles.append(DataStream(name, first.stream_class, [stream_file]))
    for group in groups.values():
        group.files.sort(key=lambda f: firsts[id(f)])
        classes = {p.stream_class for f in group.files for p in f.packets}
        if len(classes) != 1:
            raise Unsupported("a data stream whose packets change stream class")
    return [*groups.values(), *singles]


def stream_files(trace_dir: Path) -> list[Path]:
    """The data stream files of a trace directory (what babeltrace2 opens)."""
    paths = []
    for entry in sorted(os.listdir(trace_dir)):
        path = trace_dir / entry
        if entry == "metadata" or entry.startswith(".") or not path.is_file():
            continue
        paths.append(path)
    return paths

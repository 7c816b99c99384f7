"""Every event of a trace.dat with every field, in `trace-cmd report`'s order: the slow,
complete view used to check our decoder against trace-cmd, field by field."""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2a_tui.trace.ftrace.datfile import CpuData, DatFile, read_dat
from w2a_tui.trace.ftrace.decode import record_fields
from w2a_tui.trace.ftrace.ringbuf import PageWalker


@dataclass(frozen=True, slots=True)
class RawEvent:
    ts: int
    cpu: int
    name: str
    pid: int  # common_pid: the thread id
    fields: dict[str, Any]


def raw_events(path: Path) -> Iterator[RawEvent]:
    """All events, merged across CPUs by timestamp (ties: lower CPU first, as trace-cmd)."""
    dat = read_dat(path)
    walker = PageWalker(
        dat.endian, dat.page_header.commit_size, dat.page_size, dat.page_header.data_offset
    )
    streams = [_cpu_events(dat, walker, data) for data in dat.cpus]
    yield from heapq.merge(*streams, key=lambda e: e.ts)


def _cpu_events(dat: DatFile, walker: PageWalker, data: CpuData) -> Iterator[RawEvent]:
    to_ns = dat.to_ns()
    head = struct.Struct(dat.endian + "H2xi")
    for buf, start in dat.cpu_pages(data):
        _, _, events = walker.events(buf, start)
        for ts, rec, _length in events:
            event_id, pid = head.unpack_from(buf, rec)
            fmt = dat.formats.get(event_id)
            name = fmt.name if fmt is not None else f"unknown_{event_id}"
            fields = record_fields(fmt, buf, rec, dat.endian) if fmt is not None else {}
            yield RawEvent(ts if to_ns is None else to_ns(ts), data.cpu, name, pid, fields)

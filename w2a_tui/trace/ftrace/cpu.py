"""Decode one CPU's ring-buffer pages of a trace.dat into `w2a_tui.events` tuples."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from w2a_tui.errors import BadTraceError
from w2a_tui.events import EventKind
from w2a_tui.trace.ftrace.datfile import CpuData, DatFile
from w2a_tui.trace.ftrace.decode import StrCache, TuplePlan, c_string, dynamic_string
from w2a_tui.trace.ftrace.ringbuf import PageError, PageWalker
from w2a_tui.trace.port import PortDecoder

LOST = int(EventKind.LOST_EVENTS)


class CpuDecoder(PortDecoder):
    """One CPU of a trace.dat as a port: `pull` decodes pages until `budget` events."""

    def __init__(
        self,
        dat: DatFile,
        data: CpuData,
        walker: PageWalker,
        plans: dict[int, TuplePlan],
        tgids: dict[int, int],
        counting: bool,
        wanted: frozenset[int] | None,
    ) -> None:
        super().__init__(wanted, counting)
        self._dat = dat
        self._data = data
        self._walker = walker
        self._plans = {i: p for i, p in plans.items() if wanted is None or p.kind in wanted}
        self._tgids = tgids
        self._pages: Iterator[tuple[Any, int]] = dat.cpu_pages(data)
        self._to_ns: Callable[[int], int] | None = dat.to_ns()
        self._strings: StrCache = {}
        self.id_counts: dict[int, int] = {}
        self.pages_done = 0
        self._last_page_end = -1  # raw ts of the last event of the previous page
        self.set_cpu(data.cpu)

    def pull(self, iterator: Any = None, budget: int = 65536) -> None:
        walker = self._walker
        counts = self.id_counts
        out = self.out
        plans = self._plans
        counting = self.counting
        cpu = self.cpu
        to_ns = self._to_ns
        tgids = self._tgids
        strings = self._strings
        u16 = struct.Struct(self._dat.endian + "H").unpack_from
        seen = 0
        while seen < budget:
            try:
                buf, start = next(self._pages)
            except StopIteration:
                self.done = True
                return
            except BadTraceError:
                raise
            except Exception as err:  # decompression errors of zlib / zstandard
                raise BadTraceError(
                    f"{self._dat.path}: CPU {cpu}'s data cannot be decompressed ({err}); "
                    "the trace.dat is damaged, copy it again."
                ) from err
            try:
                page_ts, lost, events = walker.events(buf, start)
            except (PageError, IndexError) as err:
                raise BadTraceError(
                    f"{self._dat.path}: CPU {cpu}, page {self.pages_done}: {err}; the "
                    "trace.dat is damaged, copy it again."
                ) from err
            self.pages_done += 1
            if lost:
                count = lost if lost > 0 else 1
                begin = self._last_page_end
                begin_ns = begin if to_ns is None or begin < 0 else to_ns(begin)
                end_ns = page_ts if to_ns is None else to_ns(page_ts)
                self.lost_tuple(count, begin_ns, end_ns)
            if not events:
                continue
            seen += len(events)
            self._last_page_end = events[-1][0]
            try:
                for ts, rec, _length in events:
                    event_id = u16(buf, rec)[0]
                    counts[event_id] = counts.get(event_id, 0) + 1
                    if counting:
                        continue
                    plan = plans.get(event_id)
                    if plan is None:
                        continue
                    values = plan.unpack(buf, rec) + plan.defaults
                    payload = plan.pick(values)
                    tid = payload[0]
                    if plan.strings or plan.dynamic:
                        fixed = list(payload)
                        for slot in plan.strings:
                            fixed[slot] = c_string(fixed[slot], strings)
                        for slot, storage, field_end in plan.dynamic:
                            fixed[slot] = dynamic_string(buf, rec, fixed[slot], storage, field_end)
                        payload = tuple(fixed)
                    out.append(
                        (
                            ts if to_ns is None else to_ns(ts),
                            cpu,
                            plan.kind,
                            tid,
                            tgids.get(tid, -1),
                            "",
                            *payload[1:],
                        )
                    )
            except struct.error as err:
                raise BadTraceError(
                    f"{self._dat.path}: CPU {cpu}, page {self.pages_done - 1}: a record is "
                    "shorter than its event format; the trace.dat is damaged."
                ) from err
            first, last = events[0][0], events[-1][0]
            if to_ns is not None:
                first, last = to_ns(first), to_ns(last)
            if self.first_ts < 0:
                self.first_ts = first
            self.last_ts = last
            self.events += len(events)

    def finish_counts(self) -> None:
        """Name the per-id counts (unknown ids keep a `unknown_<id>` name)."""
        formats = self._dat.formats
        for event_id, n in self.id_counts.items():
            fmt = formats.get(event_id)
            name = fmt.name if fmt is not None else f"unknown_{event_id}"
            self.name_counts[name] = self.name_counts.get(name, 0) + n
        self.cpu_counts[self.cpu] = self.events

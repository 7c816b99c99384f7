"""Walk the events of one ftrace ring-buffer page (a sub-buffer), as libtraceevent's kbuffer.

A page starts with a header: the absolute timestamp of its first event (u64) and `commit`
(a kernel long: the bytes of event data in its low 27 bits; bit 31 set when events were
lost before this page, bit 30 when their count is stored as a long right after the data).
Events follow, each with a 32-bit header, little endian: `type_len` in the low 5 bits,
`time_delta` (ns, or clock ticks) in the upper 27.

- `type_len` 1..28: a data record of `type_len * 4` bytes follows;
- 0: the record's length (+4) is the next u32, the record follows it (rounded to 4);
- 29 (padding): the next u32 is the bytes to skip after it (a discarded event);
- 30 (time extend): delta = next u32 << 27 | time_delta, no record;
- 31 (absolute time stamp): ts = next u32 << 27 | time_delta, keeping the top 5 bits
  of the running timestamp.

Every kind but the absolute time stamp adds its `time_delta` to the running timestamp,
exactly as kbuffer does, so our timestamps equal `trace-cmd report`'s.
"""

from __future__ import annotations

import struct
from typing import Any, Final

MISSING_EVENTS: Final = 1 << 31
MISSING_STORED: Final = 1 << 30
COMMIT_MASK: Final = (1 << 27) - 1
TS_MSB: Final = 0xF8 << 56
PADDING: Final = 29
TIME_EXTEND: Final = 30
TIME_STAMP: Final = 31


class PageError(ValueError):
    """A page whose header or events run past its end."""


class PageWalker:
    """Decodes page headers and event headers for one file's endianness and long size."""

    def __init__(self, endian: str, long_size: int, page_size: int, data_offset: int) -> None:
        self.big = endian == ">"
        self._u64 = struct.Struct(endian + "Q").unpack_from
        self._u32 = struct.Struct(endian + "I").unpack_from
        self._long = struct.Struct(endian + ("Q" if long_size == 8 else "I")).unpack_from
        self.long_size = long_size
        self.page_size = page_size
        self.data_offset = data_offset

    def events(self, buf: Any, start: int) -> tuple[int, int, list[tuple[int, int, int]]]:
        """(page timestamp, lost events, [(ts, record offset, record length)]) of the page
        at `start`. Lost is 0 when none, -1 when events were lost but not counted."""
        u32 = self._u32
        ts: int = self._u64(buf, start)[0]
        page_ts = ts
        commit: int = self._long(buf, start + 8)[0]
        size = commit & COMMIT_MASK
        data = start + self.data_offset
        end = data + size
        if end > start + self.page_size:
            raise PageError(f"a page claims {size} bytes of events, more than the page holds")
        lost = 0
        if commit & MISSING_EVENTS:
            lost = self._long(buf, end)[0] if commit & MISSING_STORED else -1
        out: list[tuple[int, int, int]] = []
        append = out.append
        pos = data
        big = self.big
        while pos < end:
            header: int = u32(buf, pos)[0]
            if big:
                type_len = header >> 27
                delta = header & COMMIT_MASK
            else:
                type_len = header & 31
                delta = header >> 5
            if type_len == 0:
                length = (u32(buf, pos + 4)[0] - 4 + 3) & ~3
                ts += delta
                append((ts, pos + 8, length))
                pos += 8 + length
            elif type_len <= 28:
                ts += delta
                length = type_len << 2
                append((ts, pos + 4, length))
                pos += 4 + length
            elif type_len == TIME_EXTEND:
                ts += (u32(buf, pos + 4)[0] << 27) + delta
                pos += 8
            elif type_len == TIME_STAMP:
                ts = ((u32(buf, pos + 4)[0] << 27) | delta) | (ts & TS_MSB)
                pos += 8
            else:  # padding
                ts += delta
                pos += 4 + u32(buf, pos + 4)[0] if pos + 8 <= end else end
        if out and out[-1][1] + out[-1][2] > end:
            raise PageError("an event runs past the end of its page")
        return page_ts, lost, out

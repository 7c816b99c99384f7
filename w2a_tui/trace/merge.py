"""Interleave per-stream event buffers into one time-ordered stream.

Each stream is in time order on its own, so an event can be released once every stream
that has not ended has read past its timestamp (the *watermark*). Events at the watermark
wait, so that equal timestamps always come out in stream order, whatever the chunking.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from operator import itemgetter

from w2a_tui.events import Event
from w2a_tui.trace.port import PortDecoder

_BY_TS = itemgetter(0)


def watermark(decoders: Sequence[PortDecoder]) -> int | None:
    """The timestamp below which no stream can still produce an event; None: all ended."""
    marks = [d.last_ts for d in decoders if not d.done]
    return min(marks) if marks else None


def needy(decoders: Sequence[PortDecoder], mark: int | None) -> list[int]:
    """The streams holding the watermark back: they must be read further."""
    return [i for i, d in enumerate(decoders) if not d.done and d.last_ts == mark]


def release(decoders: Sequence[PortDecoder], mark: int | None) -> list[Event]:
    """Take the buffered events before `mark` (all of them if None), in time order."""
    ready: list[Event] = []
    for decoder in decoders:
        buffered = decoder.out
        if not buffered:
            continue
        if mark is None or buffered[-1][0] < mark:
            ready.extend(buffered)
            decoder.out = []
        elif buffered[0][0] < mark:
            cut = _cut(buffered, mark)
            ready.extend(buffered[:cut])
            decoder.out = buffered[cut:]
    ready.sort(key=_BY_TS)  # stable: equal timestamps keep stream order
    return ready


def _cut(buffered: list[Event], mark: int) -> int:
    """Where to split `buffered` so that events before `mark` come first.

    Streams are nearly always in time order, so a bisection finds the cut; min/max over
    the two sides (C loops) prove it. A stream that goes back in time (overlapping
    packets) is partitioned instead, keeping each side's order, so the result is the same.
    """
    stamps = list(map(_BY_TS, buffered))
    cut = bisect_left(stamps, mark)
    if (cut == 0 or max(stamps[:cut]) < mark) and (cut == len(stamps) or min(stamps[cut:]) >= mark):
        return cut
    before = [e for e in buffered if e[0] < mark]
    after = [e for e in buffered if e[0] >= mark]
    buffered[:] = before + after
    return len(before)

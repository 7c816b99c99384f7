"""Is a packet's time believable? Damaged timestamps must never become absurd figures.

A stream's packets follow one another in time (LTTng lets them overlap by microseconds,
never more), each packet's events lie between its timestamp_begin and timestamp_end, and
all the streams of a trace cover about the same stretch of time. A packet that breaks
this (a timestamp of all ones, an end before its begin, a jump of years, time running
backwards) is damaged: it is dropped, and the warning names the file, the packet and what
was lost. babeltrace2 refuses such traces outright; dropping only the packet keeps the rest.

Everything here works on one trace directory's packet index before any event is decoded,
file by file, so it travels with any way of decoding the streams.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

from w2a_tui.trace.fastctf.stream import Packet, StreamFile

NS_LIMIT = 1 << 63  # figures are int64 nanoseconds downstream
# Consecutive packets of one stream may overlap by this much (tc-scp-*: 2 us).
OVERLAP_NS = 10_000_000
# A packet is implausible when it lies this far (or 4 stream spans, if longer, up to a
# year) from the middle of the trace's other packets.
MIN_WINDOW_NS = 3600 * 1_000_000_000
MAX_WINDOW_NS = 366 * 86400 * 1_000_000_000
EARLY_NS = 1_000_000_000  # streams may start this far apart whatever their spans
MAX_CPU = 1 << 16  # cpu_id beyond any Linux NR_CPUS
_YEAR_NS = 365.25 * 86400 * 1e9


@dataclass(slots=True)
class _Verdict:
    packet: Packet
    begin: int  # ns, -1 when absent
    end: int
    why: str = ""


def check_packets(name: str, files: list[StreamFile], convert: Callable[[int], int]) -> list[str]:
    """Drop the packets of `files` whose time is damaged (in place; the packet after a
    dropped one is marked `gap`), fix cpu_ids that break their stream's; the warnings."""
    verdicts = {id(f): [_verdict(p, convert) for p in f.packets] for f in files}
    good = [v for vs in verdicts.values() for v in vs if not v.why]
    owner_of = {id(v): f.path.name for f in files for v in verdicts[id(f)]}
    streams: dict[object, list[_Verdict]] = {}
    for stream_file in files:  # files of one data stream (rotation) count as one
        first = stream_file.packets[0] if stream_file.packets else None
        key: object = (
            (first.stream_class, first.instance)
            if first and first.instance >= 0
            else id(stream_file)
        )
        streams.setdefault(key, []).extend(v for v in verdicts[id(stream_file)] if not v.why)
    _mark_outliers(good, list(streams.values()))
    early = _early_streams(list(streams.values()))
    dropped: list[str] = []
    lost_bytes = 0
    warnings: list[str] = []
    for stream_file in files:
        file_verdicts = verdicts[id(stream_file)]
        _mark_backwards([v for v in file_verdicts if not v.why])
        kept: list[Packet] = []
        gap = False
        for index, verdict in enumerate(file_verdicts):
            if verdict.why:
                packet = verdict.packet
                dropped.append(
                    f"stream file {stream_file.path.name}, packet {index} (byte "
                    f"{packet.offset}): {verdict.why}"
                )
                lost_bytes += packet.size
                gap = bool(kept)
                continue
            kept.append(replace(verdict.packet, gap=True) if gap else verdict.packet)
            gap = False
        warnings.extend(_fix_cpus(stream_file.path.name, kept))
        stream_file.packets = kept
    for stream, ahead in early:
        earliest = min((v for v in stream if not v.why), key=lambda v: v.begin)
        warnings.append(
            f"stream file {owner_of[id(earliest)]} begins {_gap(ahead)} before the trace's other "
            "streams: "
            "its first packet's timestamp_begin is damaged, or this CPU was idle since long "
            "before (a snapshot); the trace's time range includes that stretch."
        )
    if dropped:
        shown = "; ".join(dropped[:3])
        more = f"; and {len(dropped) - 3} more" if len(dropped) > 3 else ""
        warnings.insert(
            0,
            f"{name}: {len(dropped)} damaged packet(s) left out ({shown}{more}): their "
            f"events ({lost_bytes:,} bytes) are missing, and the vCPUs of those CPUs are "
            "`unknown` over the gap.",
        )
    return warnings


def _verdict(packet: Packet, convert: Callable[[int], int]) -> _Verdict:
    begin = convert(packet.begin) if packet.begin >= 0 else -1
    end = convert(packet.end) if packet.end >= 0 else -1
    verdict = _Verdict(packet, begin, end)
    for what, value in (("timestamp_begin", begin), ("timestamp_end", end)):
        if value >= NS_LIMIT:
            verdict.why = f"its {what} is out of range ({value} ns)"
            return verdict
    if begin >= 0 and end >= 0 and end < begin:
        verdict.why = f"its timestamp_end is {_gap(begin - end)} before its timestamp_begin"
    return verdict


def _mark_outliers(good: list[_Verdict], streams: list[list[_Verdict]]) -> None:
    """Packets far from the middle of all the others (years, where the trace lasts
    seconds); see `_window`."""
    begins = [v.begin for v in good if v.begin >= 0]
    if len(begins) < 2:
        return
    middle = statistics.median_low(begins)
    spans = sorted(
        max(v.end for v in vs) - min(v.begin for v in vs)
        for vs in ([v for v in stream if v.begin >= 0 and v.end >= 0] for stream in streams)
        if vs
    )
    window = _window(spans)
    for verdict in good:
        if verdict.begin >= 0 and verdict.begin < middle - window:
            verdict.why = (
                f"its timestamp_begin lies {_gap(middle - verdict.begin)} before the "
                "trace's other packets"
            )
        elif verdict.end > middle + window:
            verdict.why = (
                f"its timestamp_end lies {_gap(verdict.end - middle)} after the trace's "
                "other packets"
            )


def _early_streams(streams: list[list[_Verdict]]) -> list[tuple[list[_Verdict], int]]:
    """Streams whose first packet begins well before the others' (LTTng starts every
    CPU's stream at once): more than 4 median stream spans (at least 1 s) early."""
    timed = [[v for v in s if not v.why and v.begin >= 0 and v.end >= 0] for s in streams]
    timed = [s for s in timed if s]
    if len(timed) < 2:
        return []
    firsts = [min(v.begin for v in s) for s in timed]
    middle = statistics.median_high(firsts)
    spans = sorted(max(v.end for v in s) - min(v.begin for v in s) for s in timed)
    allowed = max(4 * statistics.median_low(spans), EARLY_NS)
    return [(s, middle - f) for s, f in zip(timed, firsts, strict=True) if f < middle - allowed]


def _window(spans: list[int]) -> int:
    """How far from the middle a packet may lie: 4 stream spans (the median one when
    there are 3 or more, robust to one damaged stream; else the longest), at least an
    hour, at most a year."""
    scale = statistics.median_low(spans) if len(spans) >= 3 else max(spans, default=0)
    return min(max(4 * scale, MIN_WINDOW_NS), MAX_WINDOW_NS)


def _mark_backwards(verdicts: list[_Verdict]) -> None:
    """In one stream file, time only moves forward: keep the longest run of packets whose
    beginnings do (dropping the fewest), then packets whose end overruns the next one."""
    timed = [v for v in verdicts if v.begin >= 0]
    keep = _longest_non_decreasing([v.begin for v in timed])
    for index, verdict in enumerate(timed):
        if index not in keep:
            verdict.why = "its timestamp_begin runs backwards from the packets around it"
    kept = [v for i, v in enumerate(timed) if i in keep]
    for a, b in pairwise(kept):
        if a.end >= 0 and b.begin < a.end - OVERLAP_NS:
            a.why = (
                f"its timestamp_end lies {_gap(a.end - b.begin)} after the next packet's "
                "timestamp_begin"
            )


def _longest_non_decreasing(values: list[int]) -> set[int]:
    """Indices of one longest non-decreasing subsequence (patience sorting)."""
    tails: list[int] = []  # values
    tail_index: list[int] = []
    previous = [-1] * len(values)
    for i, value in enumerate(values):
        at = bisect.bisect_right(tails, value)
        if at == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[at] = value
            tail_index[at] = i
        previous[i] = tail_index[at - 1] if at else -1
    keep: set[int] = set()
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        keep.add(i)
        i = previous[i]
    return keep


def _fix_cpus(name: str, packets: list[Packet]) -> list[str]:
    """LTTng writes one stream file per CPU: a packet whose cpu_id is not its file's is
    damaged in that field; it is read as its file's CPU."""
    counted = Counter(p.cpu for p in packets if 0 <= p.cpu < MAX_CPU)
    wrong = [i for i, p in enumerate(packets) if p.cpu >= 0 and p.cpu not in counted]
    if not wrong and len(counted) <= 1:
        return []
    cpu = counted.most_common(1)[0][0] if counted else -1
    odd = [i for i, p in enumerate(packets) if p.cpu != cpu and p.cpu >= 0]
    for i in odd:
        packets[i] = replace(packets[i], cpu=cpu)
    return [
        f"stream file {name}: {len(odd)} packet(s) carry a cpu_id other than the stream's "
        f"CPU {cpu} (damaged); they are read as CPU {cpu}."
    ]


def implausible_ranges(ports: dict[str, tuple[int, int]]) -> str:
    """Why a trace's per-stream time ranges (from babeltrace2) cannot be true, or ""."""
    for name, (begin, end) in ports.items():
        if not (0 <= begin < NS_LIMIT and 0 <= end < NS_LIMIT) or end < begin:
            return f"stream {name} has an impossible time range ({begin} to {end} ns)"
    if len(ports) >= 2:
        begins = sorted(b for b, _ in ports.values())
        middle = statistics.median_low(begins)
        window = _window(sorted(e - b for b, e in ports.values()))
        for name, (begin, end) in ports.items():
            if begin < middle - window or end > middle + window:
                return (
                    f"stream {name} lies {_gap(max(middle - begin, end - middle))} away from "
                    "the trace's other streams: its timestamps are damaged"
                )
    return ""


def _gap(ns: float) -> str:
    if ns >= _YEAR_NS:
        return f"{ns / _YEAR_NS:.0f} years"
    if ns >= 86400e9:
        return f"{ns / 86400e9:.1f} days"
    if ns >= 1e9:
        return f"{ns / 1e9:.3f} s"
    return f"{ns / 1e6:.3f} ms"

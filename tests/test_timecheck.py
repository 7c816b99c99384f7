"""The packet time checks on their own: damage is found, long real-looking traces are not
called damaged."""

from __future__ import annotations

from pathlib import Path

from w2a_tui.trace.fastctf.stream import Packet, StreamFile
from w2a_tui.trace.fastctf.timecheck import check_packets, implausible_ranges

S = 1_000_000_000
HOUR = 3600 * S
YEARS_146 = 146 * 365 * 86400 * S


def _file(name: str, spans: list[tuple[int, int]], cpu: int = 0, instance: int = -1) -> StreamFile:
    packets = [
        Packet(i * 4096, 4096, 0, 0, 0, instance, begin, end, 0, cpu)
        for i, (begin, end) in enumerate(spans)
    ]
    return StreamFile(Path(name), packets)


def _check(*files: StreamFile) -> list[str]:
    return check_packets("t", list(files), lambda cycles: cycles)


def test_a_three_hour_trace_with_idle_cpus_is_not_damage() -> None:
    busy = _file("busy", [(i * S // 10, (i + 1) * S // 10) for i in range(100)], cpu=0)
    idle = [_file(f"idle{c}", [(0, 3 * HOUR)], cpu=c) for c in (1, 2, 3)]
    assert _check(busy, *idle) == []
    assert all(len(f.packets) == 1 for f in idle) and len(busy.packets) == 100


def test_a_single_stream_packet_146_years_on_is_dropped_with_its_neighbour_marked() -> None:
    stream = _file("one", [(0, S), (S, 2 * S), (YEARS_146, YEARS_146 + S), (3 * S, 4 * S)])
    warnings = _check(stream)
    assert "1 damaged packet(s)" in warnings[0] and "one, packet 2" in warnings[0]
    assert [p.begin for p in stream.packets] == [0, S, 3 * S]
    assert stream.packets[2].gap and not stream.packets[1].gap


def test_an_end_that_overruns_the_next_packet_is_damage() -> None:
    stream = _file("one", [(0, S), (S, 40 * S), (2 * S, 3 * S)])
    assert "lies 38.000 s after the next packet" in _check(stream)[0]
    assert [p.begin for p in stream.packets] == [0, 2 * S]


def test_microsecond_overlaps_are_not_damage() -> None:
    stream = _file("one", [(0, S + 2000), (S, 2 * S)])
    assert _check(stream) == []


def test_babeltrace2_ranges() -> None:
    assert implausible_ranges({"a": (0, 3 * HOUR), "b": (0, 60 * S)}) == ""
    assert "away from the trace's other streams" in implausible_ranges(
        {"a": (0, 2 * S), "b": (0, YEARS_146)}
    )
    assert "impossible time range" in implausible_ranges({"a": (5 * S, S)})


def test_a_stream_beginning_a_day_early_is_said() -> None:
    """Two streams, one single-packet stream whose timestamp_begin lost a day: nothing
    else contradicts it, so it is kept, but the span it adds is explained."""
    busy = _file("busy", [(86400 * S, 86401 * S), (86401 * S, 86402 * S)], cpu=0)
    damaged = _file("idle", [(0, 86402 * S)], cpu=1)
    warnings = _check(busy, damaged)
    assert len(warnings) == 1 and "stream file idle begins 1.0 days before" in warnings[0]
    assert _check(_file("a", [(0, 2 * S)]), _file("b", [(S // 2, 2 * S)], cpu=1)) == []

"""Time as users read and type it: adaptive units, nice ruler ticks, and `g` input parsing."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final

from w2a_tui.errors import W2AError

# (unit, ns per unit), largest first.
UNITS: Final = (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1))
_DISPLAY_UNIT: Final = {"s": "s", "ms": "ms", "us": "µs", "ns": "ns"}
_NS_PER: Final = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "µs": 1_000, "ns": 1}


def unit_for(span_ns: float) -> tuple[str, int]:
    """The largest unit in which `span_ns` is at least 1 (ns below that)."""
    for name, scale in UNITS:
        if abs(span_ns) >= scale:
            return _DISPLAY_UNIT[name], scale
    return "ns", 1


def format_duration(ns: float, digits: int = 3) -> str:
    """`1.234 ms`, `17 ns`: at most `digits` significant decimals, trailing zeros dropped."""
    unit, scale = unit_for(ns)
    if scale == 1:
        return f"{round(ns)} ns"
    text = f"{ns / scale:.{digits}f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def format_exact(ns: int) -> str:
    """A duration to the nanosecond in its largest unit: `5.486123 ms`, `2.000000017 s`,
    so that it equals the difference of two `format_time(..., step_ns=1)` stamps."""
    unit, scale = unit_for(ns)
    if scale == 1:
        return f"{ns} ns"
    decimals = len(str(scale)) - 1
    whole, part = divmod(abs(int(ns)), scale)
    sign = "-" if ns < 0 else ""
    return f"{sign}{whole}.{part:0{decimals}d} {unit}"


WALL_CLOCK_FROM: Final = 10**17  # timestamps past this are ns since the epoch (1973+)


def wall_clock(ns: int) -> str:
    """`22:13:21.412345678` (UTC) of an absolute timestamp, to the nanosecond."""
    seconds, part = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%H:%M:%S}.{part:09d}"


def format_time(ns: int, origin: int, step_ns: float | None = None) -> str:
    """A timestamp as seconds from the trace start (`1.2503s`), with just enough decimals to
    tell apart ticks `step_ns` apart (µs resolution by default)."""
    rel = ns - origin
    if step_ns is None or step_ns <= 0:
        decimals = 6
    else:
        decimals = max(0, min(9, math.ceil(-math.log10(step_ns / 1e9) - 1e-9)))
    return f"{rel / 1e9:.{decimals}f}s"


def nice_step(span_ns: float, max_ticks: int) -> int:
    """A tick step of 1, 2 or 5 times 10^k ns giving at most `max_ticks` ticks over `span_ns`."""
    if span_ns <= 0 or max_ticks <= 0:
        return 1
    raw = span_ns / max_ticks
    exp = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    for mult in (1, 2, 5, 10):
        step = mult * exp
        if step >= raw:
            return int(step)
    return int(10 * exp)


def ticks(t0: int, t1: int, max_ticks: int, origin: int = 0) -> tuple[int, list[int]]:
    """The step and the tick times within [t0, t1): round multiples of the step counted
    from `origin` (the trace start), so labels read 0.2s, 0.4s and not 0.213s, 0.413s."""
    step = nice_step(t1 - t0, max_ticks)
    first = -(-(t0 - origin) // step) * step + origin
    return step, list(range(first, t1, step))


_TIME_RE: Final = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms|us|µs|ns)?\s*$")


def parse_time(text: str, *, origin: int, cursor: int) -> int:
    """Parse a `g` (go to) input into an absolute timestamp in ns.

    `1.5s`, `1500ms`, `20us` are from the trace start; `+200us` / `-1ms` are relative to the
    cursor; a bare integer is raw ns since the clock origin (as exported), unless it is
    smaller than the trace start, then it is ns from the trace start.
    """
    wall = _parse_wall_clock(text.strip(), origin)
    if wall is not None:
        return wall
    match = _TIME_RE.match(text)
    if match is None:
        raise W2AError(
            f"cannot read time {text.strip()!r}: type e.g. 1.5s, 1500ms, +200us, raw ns, "
            "22:13:21.4 or an ISO date and time."
        )
    sign, number, unit = match.groups()
    if unit is None:
        if "." in number:
            raise W2AError(f"{text.strip()!r} needs a unit (s, ms, us, ns) when it has decimals.")
        value = int(number)
        if sign:
            return cursor + (value if sign == "+" else -value)
        return value if value >= origin else origin + value
    value_ns = round(float(number) * _NS_PER[unit])
    if sign == "+":
        return cursor + value_ns
    if sign == "-":
        return cursor - value_ns
    return origin + value_ns


_CLOCK_RE: Final = re.compile(
    r"^(?:(\d{4}-\d{2}-\d{2})[T ])?"  # an ISO date, else the trace's first day
    r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"  # hh:mm[:ss[.fraction]]
    r"(Z|[+-]00:?00| UTC)?$"  # UTC only: the header shows UTC
)


def _parse_wall_clock(text: str, origin: int) -> int | None:
    """`22:13:21.4` (UTC, on the day the trace starts) or `2023-11-15T22:13:21.412Z`:
    the wall-clock times the header shows, to the nanosecond; None if `text` is not one.
    Only for traces whose clock is the epoch's (LTTng's default)."""
    match = _CLOCK_RE.match(text)
    if match is None:
        return None
    if origin < WALL_CLOCK_FROM:
        raise W2AError("this trace's clock is not wall-clock time: go to a time from its start.")
    day, hours, minutes, seconds, fraction, _ = match.groups()
    if day is None:
        start = datetime.fromtimestamp(origin // 1_000_000_000, tz=UTC)
        day = f"{start:%Y-%m-%d}"
    try:
        midnight = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    except ValueError as err:
        raise W2AError(f"cannot read the date {day!r}: write it as 2023-11-15.") from err
    h, m, sec = int(hours), int(minutes), int(seconds or 0)
    if h > 23 or m > 59 or sec > 60:
        raise W2AError(f"{text!r} is not a time of day: write it as 22:13:21.4.")
    ns = int((fraction or "").ljust(9, "0"))
    return (int(midnight.timestamp()) + h * 3600 + m * 60 + sec) * 1_000_000_000 + ns

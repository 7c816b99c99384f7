"""ftrace records -> field values and `w2a_tui.events` tuples, one plan per event format.

The event names and fields of ftrace are the kernel's own (`kvm_exit` with or without
`vcpu_id`, `kvm_inj_virq` with `irq` or `vector`, `softirq_entry` ...); `events.PAYLOAD`
lists the spellings it accepts. ftrace names threads as the kernel does: its `pid` fields
and `common_pid` are thread ids, so the tuple's tid slots take them, and the tgid (the
tuple's pid) comes from the reader's tgid map (-1 when unknown).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from w2a_tui.events import PAYLOAD, EventKind, kind_of
from w2a_tui.trace.ftrace.formats import (
    BYTES,
    CHARS,
    DATA_LOC,
    DYN_BYTES,
    NUMBER,
    REL_LOC,
    EventFormat,
    Field,
)
from w2a_tui.trace.plan import STRING_FIELDS

# ftrace spells some tuple slots differently: its `pid` fields are thread ids, and it has
# no tgid fields (an empty spelling list: the slot takes its default).
_FTRACE_PAYLOAD: Final[dict[EventKind, tuple[tuple[str, ...], ...]]] = {
    EventKind.SCHED_PROCESS_FORK: (
        ("parent_comm",),
        ("parent_pid",),
        (),
        ("child_comm",),
        ("child_pid",),
        (),
    ),
    EventKind.SCHED_PROCESS_EXEC: (("filename",), ("pid",)),
    EventKind.SCHED_PROCESS_EXIT: (("comm",), ("pid",)),
}

_NUMBER_CODES: Final = {
    (1, True): "b",
    (1, False): "B",
    (2, True): "h",
    (2, False): "H",
    (4, True): "i",
    (4, False): "I",
    (8, True): "q",
    (8, False): "Q",
}

StrCache = dict[bytes, str]


def c_string(raw: bytes, cache: StrCache) -> str:
    """A NUL-terminated byte string as text (memoised: comms repeat endlessly)."""
    text = cache.get(raw)
    if text is None:
        text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        if len(cache) < 65536:
            cache[raw] = text
    return text


def payload_spellings(kind: EventKind) -> tuple[tuple[str, ...], ...]:
    return _FTRACE_PAYLOAD.get(kind, PAYLOAD[kind])


@dataclass(frozen=True, slots=True)
class TuplePlan:
    """How to turn a record of one event format into a `w2a_tui.events` tuple."""

    kind: int
    unpack: Callable[[Any, int], tuple[Any, ...]]  # (buffer, offset) -> raw values
    size: int  # bytes the unpack reads
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # raw values + defaults -> payload
    defaults: tuple[Any, ...]
    strings: tuple[int, ...]  # payload positions holding fixed char arrays (bytes)
    dynamic: tuple[tuple[int, int, int], ...]  # (payload position, storage, field end)


def tuple_plan(fmt: EventFormat, endian: str) -> TuplePlan | None:
    """The plan for a format whose event the analysis knows, else None."""
    kind = kind_of(fmt.name)
    if kind is None:
        return None
    by_name = {f.name: f for f in fmt.fields}
    chosen: list[Field | None] = []
    for spellings in payload_spellings(kind):
        chosen.append(next((by_name[s] for s in spellings if s in by_name), None))
    pid_field = by_name.get("common_pid")
    if pid_field is None:
        return None
    unique = {id(f): f for f in (pid_field, *[c for c in chosen if c is not None])}
    present = sorted(unique.values(), key=lambda f: f.offset)
    code = endian
    pos = 0
    for f in present:
        if f.offset < pos:
            return None  # overlapping fields: not a layout we understand
        if f.offset > pos:
            code += f"{f.offset - pos}x"
        code += _code(f)
        pos = f.offset + f.size
    unpacker = struct.Struct(code)
    index = {id(f): i for i, f in enumerate(present)}
    defaults: list[Any] = []
    picks: list[int] = [index[id(pid_field)]]
    strings: list[int] = []
    dynamic: list[tuple[int, int, int]] = []
    spellings_all = payload_spellings(kind)
    canonical = PAYLOAD[kind]
    for slot, (chosen_field, _spellings) in enumerate(zip(chosen, spellings_all, strict=True)):
        if chosen_field is None:
            defaults.append("" if canonical[slot][0] in STRING_FIELDS else -1)
            picks.append(len(present) + len(defaults) - 1)
            continue
        picks.append(index[id(chosen_field)])
        if chosen_field.storage == CHARS:
            strings.append(slot + 1)
        elif chosen_field.storage in (DATA_LOC, REL_LOC):
            end = chosen_field.offset + chosen_field.size
            dynamic.append((slot + 1, chosen_field.storage, end))
    return TuplePlan(
        kind=int(kind),
        unpack=unpacker.unpack_from,
        size=unpacker.size,
        pick=_picker(picks),
        defaults=tuple(defaults),
        strings=tuple(strings),
        dynamic=tuple(dynamic),
    )


def _picker(picks: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    getter = itemgetter(*picks)
    if len(picks) > 1:
        return getter
    return lambda values: (getter(values),)


def _code(f: Field) -> str:
    if f.storage == NUMBER:
        return _NUMBER_CODES[(f.size, f.signed)]
    if f.storage == CHARS:
        return f"{f.size}s"
    if f.storage in (DATA_LOC, REL_LOC):
        return "I"
    return f"{f.size}x"  # raw arrays are never payload fields


def dynamic_string(buf: Any, rec: int, loc: int, storage: int, field_end: int) -> str:
    """The text of a `__data_loc` / `__rel_loc` char array."""
    offset = loc & 0xFFFF
    length = loc >> 16
    start = rec + offset + (field_end if storage == REL_LOC else 0)
    raw = bytes(buf[start : start + length])
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


# -- every field, for `trace-cmd report -R` parity and the text reader -------------------


def record_fields(fmt: EventFormat, buf: Any, rec: int, endian: str) -> dict[str, Any]:
    """All fields of a record but the common_* ones: ints, strs or bytes."""
    out: dict[str, Any] = {}
    for f in fmt.fields:
        if f.name.startswith("common_"):
            continue
        out[f.name] = field_value(f, buf, rec, endian)
    return out


def field_value(f: Field, buf: Any, rec: int, endian: str) -> Any:
    at = rec + f.offset
    if f.storage == NUMBER:
        return struct.unpack_from(endian + _NUMBER_CODES[(f.size, f.signed)], buf, at)[0]
    if f.storage == CHARS:
        return bytes(buf[at : at + f.size]).split(b"\0", 1)[0].decode("utf-8", "replace")
    if f.storage in (DATA_LOC, REL_LOC, DYN_BYTES):
        loc = struct.unpack_from(endian + "I", buf, at)[0]
        if f.storage == DYN_BYTES:
            start = rec + (loc & 0xFFFF)
            return bytes(buf[start : start + (loc >> 16)])
        return dynamic_string(buf, rec, loc, f.storage, f.offset + f.size)
    assert f.storage == BYTES
    return bytes(buf[at : at + f.size])

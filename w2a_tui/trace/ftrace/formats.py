"""ftrace event format files (`events/<system>/<event>/format`) parsed into field layouts.

A format file names the event, gives its numeric id and lists its fields with their byte
offset, size and signedness, e.g.

    name: sched_switch
    ID: 316
    format:
        field:unsigned short common_type;  offset:0;  size:2;  signed:0;
        ...
        field:char prev_comm[16];  offset:8;  size:16;  signed:0;
        field:__data_loc char[] name;  offset:12;  size:4;  signed:0;

Fixed `char x[N]` arrays and `__data_loc`/`__rel_loc` char arrays are strings; other
arrays are kept as bytes; everything else is an integer of 1, 2, 4 or 8 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# How a field's value is stored in a record.
NUMBER: Final = 0
CHARS: Final = 1  # fixed char array, NUL-terminated string
DATA_LOC: Final = 2  # u32: offset (low 16 bits) and length (high 16) of a string
REL_LOC: Final = 3  # as DATA_LOC, offset relative to the end of this field
BYTES: Final = 4  # any other array: raw bytes
DYN_BYTES: Final = 5  # a __data_loc array that is not char: raw bytes

_FIELD = re.compile(
    r"field:(?P<decl>[^;]*);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);"
    r"(?:\s*signed:(?P<signed>\d+);)?"
)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    offset: int
    size: int
    signed: bool
    storage: int  # NUMBER, CHARS, DATA_LOC, REL_LOC, BYTES or DYN_BYTES
    type: str  # the C declaration without the name, e.g. `unsigned long`


@dataclass(frozen=True, slots=True)
class EventFormat:
    system: str
    name: str
    id: int
    fields: tuple[Field, ...]  # common_* fields first, as in the file

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


class FormatError(ValueError):
    """A format file that cannot be parsed."""


def parse_format(text: str, system: str = "") -> EventFormat:
    """One event's format file."""
    name = ""
    event_id = -1
    fields: list[Field] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("name:"):
            name = stripped[5:].strip()
        elif stripped.startswith("ID:"):
            try:
                event_id = int(stripped[3:].strip())
            except ValueError as err:
                raise FormatError(f"bad event id in format of {name or '?'}") from err
        elif stripped.startswith("field:"):
            match = _FIELD.match(stripped)
            if match is None:
                continue
            fields.append(
                _field(
                    match["decl"].strip(),
                    int(match["offset"]),
                    int(match["size"]),
                    match["signed"] == "1",
                )
            )
        elif stripped.startswith("print fmt:"):
            break
    if not name or event_id < 0:
        raise FormatError("an event format lacks its name or ID")
    return EventFormat(system, name, event_id, tuple(fields))


def _field(decl: str, offset: int, size: int, signed: bool) -> Field:
    """`__data_loc char[] name` / `char prev_comm[16]` / `unsigned long ip` -> Field."""
    array = ""
    if decl.endswith("]"):
        decl, _, array = decl.rpartition("[")
        array = array[:-1]
    words = decl.split()
    name = words[-1] if words else ""
    type_words = words[:-1]
    if "[" in name:  # `char comm[16]` parsed above; `type name[]` after __data_loc
        name = name.split("[", 1)[0]
    type_text = " ".join(type_words)
    loc = type_words[:1]
    is_char = any(w in ("char", "char[]") for w in type_words) or type_text.endswith("char[]")
    if loc == ["__data_loc"] or loc == ["__rel_loc"]:
        storage = (DATA_LOC if loc == ["__data_loc"] else REL_LOC) if is_char else DYN_BYTES
    elif array or "[" in decl:
        storage = CHARS if is_char else BYTES
    elif size in (1, 2, 4, 8):
        storage = NUMBER
    else:
        storage = BYTES
    return Field(name, offset, size, signed, storage, type_text)


@dataclass(frozen=True, slots=True)
class PageHeader:
    """The ring-buffer sub-buffer header (`events/header_page`)."""

    timestamp_size: int = 8
    commit_offset: int = 8
    commit_size: int = 8  # the kernel's long size
    data_offset: int = 16


def parse_header_page(text: str) -> PageHeader:
    offsets: dict[str, tuple[int, int]] = {}
    for match in _FIELD.finditer(text):
        decl = match["decl"].split()
        if decl:
            offsets[decl[-1].split("[", 1)[0]] = (int(match["offset"]), int(match["size"]))
    stamp = offsets.get("timestamp", (0, 8))
    commit = offsets.get("commit", (8, 8))
    data = offsets.get("data", (commit[0] + commit[1], 0))
    if stamp != (0, 8):
        raise FormatError("the ring-buffer page header has no 8-byte timestamp at offset 0")
    return PageHeader(stamp[1], commit[0], commit[1], data[0])

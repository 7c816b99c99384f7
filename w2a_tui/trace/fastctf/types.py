"""The CTF 1.8 field types the fast decoder understands, as plain immutable records.

Byte order `None` means the trace's native order (typealiases are often declared before
the `trace` block that says what it is). Sizes and alignments are in bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Unsupported(Exception):
    """The trace uses something the fast decoder does not handle: read it through bt2."""


@dataclass(frozen=True, slots=True)
class IntType:
    size: int
    align: int
    signed: bool
    byte_order: str | None  # "le", "be" or None (native)
    text: bool = False  # encoding UTF8/ASCII: arrays of these are strings
    clock: str | None = None  # `map = clock.NAME.value`
    # Enumerations: (label, low, high) per mapping; empty for plain integers.
    mappings: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class StringType:
    align: int = 8


@dataclass(frozen=True, slots=True)
class FloatType:
    size: int
    align: int


@dataclass(frozen=True, slots=True)
class StructType:
    members: tuple[tuple[str, FieldType], ...]
    min_align: int = 1

    @property
    def align(self) -> int:
        return max([self.min_align, *(alignment(t) for _, t in self.members)])


@dataclass(frozen=True, slots=True)
class VariantType:
    tag: str
    options: tuple[tuple[str, FieldType], ...]


@dataclass(frozen=True, slots=True)
class ArrayType:
    element: FieldType
    length: int


@dataclass(frozen=True, slots=True)
class SequenceType:
    element: FieldType
    length_ref: str  # name (or dotted path) of the length field


FieldType = IntType | StringType | FloatType | StructType | VariantType | ArrayType | SequenceType


def alignment(t: FieldType) -> int:
    if isinstance(t, IntType | FloatType | StringType):
        return t.align
    if isinstance(t, StructType):
        return t.align
    if isinstance(t, ArrayType | SequenceType):
        return alignment(t.element)
    return 1  # variant: each option aligns itself


@dataclass(slots=True)
class Clock:
    name: str
    freq: int = 1_000_000_000
    offset_s: int = 0
    offset: int = 0  # cycles


@dataclass(slots=True)
class EventClass:
    id: int
    name: str
    stream_id: int
    context: StructType | None = None
    payload: StructType | None = None


@dataclass(slots=True)
class StreamClass:
    id: int
    header: StructType | None = None
    event_context: StructType | None = None
    packet_context: StructType | None = None
    events: dict[int, EventClass] = field(default_factory=dict)


@dataclass(slots=True)
class Metadata:
    byte_order: str = "le"
    uuid: bytes | None = None
    packet_header: StructType | None = None
    clocks: dict[str, Clock] = field(default_factory=dict)
    streams: dict[int, StreamClass] = field(default_factory=dict)
    env: dict[str, str | int] = field(default_factory=dict)

"""The compiled event walk (`_cwalk`, a C extension), driven from the stream layouts.

The generated Python handlers of layout.py cost about a microsecond per event, most of it
the interpreter's. `_cwalk.Table.walk` runs the same decoding in C from small programs of
steps compiled here, one per event class, and builds the very same tuples. It covers what
real kernel traces use (LTTng's compact and large headers, integers, text arrays,
strings); an event of any class it has no program for is decoded by the Python handlers,
one at a time, and the walk resumes after it. So the two always agree, and the Python
reader remains whole: it is used alone when the extension was not built, or when
`W2A_PURE_PYTHON=1`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from w2a_tui.events import EventKind
from w2a_tui.trace.fastctf.codegen import int_array_span
from w2a_tui.trace.fastctf.layout import StreamLayout, compact_header, id_variant
from w2a_tui.trace.fastctf.types import (
    ArrayType,
    FieldType,
    FloatType,
    IntType,
    StringType,
    StructType,
)
from w2a_tui.trace.plan import COMMON_CONTEXT, PAYLOAD_SCOPE, ClassPlan
from w2a_tui.trace.port import RunFormat

_cwalk: ModuleType | None
try:
    from w2a_tui.trace.fastctf import _cwalk
except ImportError:  # not built (no C compiler at install): the Python reader alone
    _cwalk = None

PURE_PYTHON_ENV: Final = "W2A_PURE_PYTHON"

_ALIGN, _SKIP, _INT, _TEXT, _STRING, _CID, _CLOCK = 1, 2, 3, 4, 5, 6, 7
_EMIT_TS, _EMIT_CPU = -1, -2
_MAX_SLOTS: Final = 64
_MAX_CLASSES: Final = 65536
_INT64 = range(-(1 << 63), 1 << 63)
_NO_END = 1 << 64
# A class's part in runs of guest entries (analysis.runs), as the C walk numbers them.
_ROLES: Final = {
    int(EventKind.KVM_ENTRY): 1,
    int(EventKind.KVM_EXIT): 2,
    int(EventKind.KVM_INJ_VIRQ): 3,
}


def enabled() -> bool:
    """The compiled walk is built and not turned off."""
    return _cwalk is not None and os.environ.get(PURE_PYTHON_ENV, "") in ("", "0")


class _NotCompiled(Exception):
    """A layout the steps do not express: that class stays with the Python handlers."""


class _Steps:
    """The steps of one program, as `Compiler` would lay the same fields out."""

    def __init__(self) -> None:
        self.words: list[int] = []

    def add(self, op: int, a: int = 0, b: int = 0, c: int = 0, d: int = 0) -> None:
        self.words += (op, a, b, c, d)

    def align(self, bits: int) -> None:
        if bits > 1:
            if bits & (bits - 1) or bits > 4096:
                raise _NotCompiled
            self.add(_ALIGN, bits)

    def skip(self, bits: int) -> None:
        if bits:
            self.add(_SKIP, bits)

    def blob(self) -> bytes:
        return struct.pack(f"={len(self.words)}q", *self.words)  # C reads int64_t

    def member(self, t: FieldType, slot: int | None, order: str) -> None:
        """One field; `slot`: where its value goes when the tuple wants it."""
        if isinstance(t, IntType):
            self.integer(t, slot, order)
        elif isinstance(t, StringType):
            self.align(8)
            self.add(_STRING, -1 if slot is None else slot)
        elif isinstance(t, StructType):
            if slot is not None:
                raise _NotCompiled
            self.align(t.align)
            for _, member in t.members:
                self.member(member, None, order)
        elif isinstance(t, ArrayType):
            self.array(t, slot)
        elif isinstance(t, FloatType):
            if slot is not None or t.size not in (32, 64):
                raise _NotCompiled
            self.align(t.align)
            self.skip(t.size)
        else:  # sequences and variants: run-time lengths and tags stay in Python
            raise _NotCompiled

    def integer(self, t: IntType, slot: int | None, order: str) -> None:
        if t.clock is not None:
            raise _NotCompiled  # Python says why (a clock updated outside the header)
        self.align(t.align)
        if slot is None:
            self.skip(t.size)
            return
        if t.size not in (8, 16, 32, 64) or t.align < 8:
            raise _NotCompiled
        self.add(_INT, slot, t.size, int(t.signed), int((t.byte_order or order) == "le"))

    def array(self, t: ArrayType, slot: int | None) -> None:
        element = t.element
        if isinstance(element, IntType) and element.size == 8 and element.align <= 8:
            self.align(8)
            if slot is None:
                self.skip(8 * t.length)
                return
            if element.signed and not element.text:
                raise _NotCompiled
            self.add(_TEXT, slot, t.length)
            return
        span = int_array_span(t)
        if slot is not None or span is None:
            raise _NotCompiled
        if span[1]:
            self.align(span[0])
            self.skip(span[1])


def _header_steps(layout: StreamLayout, option: StructType) -> bytes:
    """One option of the header's variant after the id: the full class id (extended)
    and the timestamp."""
    steps = _Steps()
    order = layout.meta.byte_order
    steps.align(option.align)
    for name, t in option.members:
        if not isinstance(t, IntType):
            raise _NotCompiled
        steps.align(t.align)
        little = int((t.byte_order or order) == "le")
        if name == "id" or t.clock is not None:
            if t.size not in (8, 16, 32, 64) or t.align < 8:
                raise _NotCompiled
            if t.clock is not None and t.clock != layout.clock_name:
                raise _NotCompiled
            steps.add(_CID if name == "id" else _CLOCK, 0, t.size, 0, little)
        else:
            steps.skip(t.size)
    return steps.blob()


@dataclass(frozen=True, slots=True)
class _Header:
    """An event header the walk reads: `id_bits` 5 for LTTng's compact one, else the
    size of an id of its own followed by the compact or the extended option."""

    order: str
    align: int
    id_bits: int
    compact: StructType | None
    extended: StructType


def _header(layout: StreamLayout) -> _Header:
    header, native = layout.stream.header, layout.meta.byte_order
    if header is None:
        raise _NotCompiled
    compact = compact_header(header, native)
    if compact is not None:
        return _Header(compact.order, compact.align, 5, None, compact.extended)
    # LTTng's "large" header: a 16-bit id (65535: extended), then a variant on it.
    found = id_variant(header)
    if found is None:
        raise _NotCompiled
    id_type = found.id_type
    if id_type.size not in (8, 16, 32) or id_type.align < 8 or header.align % id_type.align:
        raise _NotCompiled
    order = id_type.byte_order or native
    return _Header(order, header.align, id_type.size, found.compact, found.extended)


class _TupleShape:
    """Where each position of a class's tuple comes from, in the C walk's codes: the
    timestamp, the CPU, a constant, or the slot a field is read into (`emit`; None for a
    class that is only skipped). The same plan as layout.StreamLayout's handlers."""

    def __init__(self, plan: ClassPlan | None) -> None:
        self.context_slots: dict[int, int] = {}
        self.payload_slots: dict[int, int] = {}
        self.consts: list[Any] = []
        self.emit: tuple[int, ...] | None = None
        if plan is None:
            return
        values = [self._bind(plan.tid), self._bind(plan.pid), self._bind(plan.procname)]
        for index, default in zip(plan.payload, plan.defaults, strict=True):
            values.append(
                self._const(default) if index < 0 else self._bind((PAYLOAD_SCOPE, index))
            )
        if plan.procname[0] < 0:
            values[2] = self._const("")
        self.emit = (_EMIT_TS, _EMIT_CPU, self._const(plan.kind), *values)

    @property
    def slot_count(self) -> int:
        return len(self.context_slots) + len(self.payload_slots)

    def _const(self, value: Any) -> int:
        self.consts.append(value)
        return -3 - (len(self.consts) - 1)

    def _bind(self, where: tuple[int, int]) -> int:
        scope, index = where
        if scope < 0:
            return self._const(-1)
        slots = self.context_slots if scope == COMMON_CONTEXT else self.payload_slots
        if index not in slots:
            slots[index] = self.slot_count
        return slots[index]


class CompiledWalk:
    """`decode_loop` of one StreamLayout, in C where the steps reach."""

    def __init__(self, layout: StreamLayout, pack: RunFormat | None) -> None:
        """Raises `_NotCompiled` for a stream the C walk cannot start on at all. `pack`:
        pack runs of guest entries in this format (analysis.runs.RUN_FORMAT)."""
        assert _cwalk is not None
        header = _header(layout)
        convert = layout.convert
        if convert.freq != 1_000_000_000 or convert.base not in _INT64:
            raise _NotCompiled
        self.layout = layout
        self.table = _cwalk.Table(
            header.order == "le",
            header.align,
            convert.base,
            _header_steps(layout, header.extended),
            header.id_bits,
            _header_steps(layout, header.compact) if header.compact is not None else b"",
        )
        self.tried: set[int] = set()
        self.pack = pack is not None
        if pack is not None:
            self.table.set_runs(*pack)

    def learn(self, class_id: int) -> bool:
        """Give the table the program of `class_id`; False when it has none (or had)."""
        if class_id in self.tried or not 0 <= class_id < _MAX_CLASSES:
            return False
        self.tried.add(class_id)
        layout = self.layout
        event = layout.stream.events.get(class_id)
        if event is None:
            return False  # the Python handlers raise the reader's own error for it
        plan = layout.plan(class_id)
        decoded = plan.kind >= 0 and plan.wanted
        if decoded and plan.cpu >= 0:
            return False
        shape = _TupleShape(plan if decoded else None)
        if shape.slot_count > _MAX_SLOTS:
            return False
        steps = _Steps()
        order = layout.meta.byte_order
        try:
            for scope, slots in (
                (layout.stream.event_context, shape.context_slots),
                (event.context, {}),
                (event.payload, shape.payload_slots),
            ):
                if scope is None:
                    continue
                steps.align(scope.align)
                for index, (_, member) in enumerate(scope.members):
                    steps.member(member, slots.get(index), order)
        except (_NotCompiled, RecursionError):
            return False
        role = _ROLES.get(plan.kind, 0) if decoded else 0
        self.table.set_class(
            class_id, steps.blob(), shape.emit, tuple(shape.consts), shape.slot_count, role
        )
        return True

    def decode_loop(
        self,
        buf: Any,
        p: int,
        end: int,
        clock: int,
        cpu: int,
        out: list[Any],
        handlers: Any,
        limit: int,
        last: int,
    ) -> tuple[int, int, int]:
        """`StreamLayout.decode_loop`, but `out` is the list itself."""
        walk = self.table.walk
        python_loop: Callable[..., tuple[int, int, int]] = self.layout.decode_loop
        last_arg = last if last < _NO_END else -1
        pack = self.pack
        n = 0
        while True:
            p, clock, k, stop = walk(buf, p, end, clock, cpu, out, limit - n, last_arg, pack)
            n += k
            if stop == -1:
                return p, clock, n
            if stop >= 0 and self.learn(stop):
                continue
            p, clock, k = python_loop(buf, p, end, clock, cpu, out.append, handlers, 1, last)
            n += k
            if not k or n >= limit or p >= end:
                return p, clock, n


def compiled_walk(layout: StreamLayout, pack: RunFormat | None) -> CompiledWalk | None:
    """The compiled walk of this layout, or None (not built, turned off, or a header it
    does not know)."""
    if not enabled():
        return None
    try:
        return CompiledWalk(layout, pack)
    except _NotCompiled:
        return None

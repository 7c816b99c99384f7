"""Per stream class: the compiled packet, header and per-event-class functions."""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from w2a_tui.trace.fastctf.codegen import BadData, Compiler, Wants
from w2a_tui.trace.fastctf.types import (
    Clock,
    IntType,
    Metadata,
    StreamClass,
    StructType,
    Unsupported,
    VariantType,
)
from w2a_tui.trace.plan import COMMON_CONTEXT, PAYLOAD_SCOPE, ClassPlan, make_plan

HEADER_FIELDS = ("magic", "uuid", "stream_id", "stream_instance_id")
CONTEXT_FIELDS = (
    "timestamp_begin",
    "timestamp_end",
    "content_size",
    "packet_size",
    "events_discarded",
    "cpu_id",
)
_NS = 1_000_000_000


def field_name(raw: str) -> str:
    """babeltrace2 drops one leading underscore from TSDL field names."""
    return raw[1:] if raw.startswith("_") else raw


def member_names(t: StructType | None) -> list[str]:
    return [field_name(n) for n, _ in t.members] if t is not None else []


class ClockConversion:
    """Cycles -> ns from origin, exactly as babeltrace2 2.0 computes it (its double math
    for frequencies other than 1 GHz included)."""

    def __init__(self, clock: Clock) -> None:
        freq = clock.freq
        seconds, cycles = clock.offset_s + clock.offset // freq, clock.offset % freq
        self.freq = freq
        self.base = seconds * _NS + self._ns(cycles)

    def _ns(self, cycles: int) -> int:
        return cycles if self.freq == _NS else int(1e9 * cycles / float(self.freq))

    def __call__(self, cycles: int) -> int:
        return self.base + self._ns(cycles)

    def expression(self, clock_var: str) -> str:
        if self.freq == _NS:
            return f"{self.base} + {clock_var}"
        return f"{self.base} + int(1e9 * {clock_var} / {float(self.freq)!r})"


def compile_scopes(
    meta: Metadata, scopes: list[tuple[StructType | None, tuple[str, ...]]], name: str
) -> Callable[[Any, int], tuple[int, dict[str, Any]]]:
    """A function (buf, p) -> (p after the scopes, {field: value}) for packet scopes."""
    compiler = Compiler(meta.byte_order, None, {})
    compiler.packet = True
    compiler.start(known=64)
    found: list[tuple[str, str]] = []
    for scope, wanted in scopes:
        if scope is None:
            continue
        top = {}
        for index, (raw, _) in enumerate(scope.members):
            if field_name(raw) in wanted:  # sink.ctf.fs writes `_cpu_id`
                var = compiler.var()
                top[index] = var
                found.append((field_name(raw), var))
        compiler.scope(scope, Wants(top=top, bytes_ok=True))
    compiler.flush()
    result = ", ".join(f"{raw!r}: {var}" for raw, var in found)
    compiler.emit(f"return p, {{{result}}}")
    return compiler.build(name, "buf, p")


class StreamLayout:
    """Compiled readers for the events of one stream class; event classes compile lazily."""

    def __init__(self, meta: Metadata, stream: StreamClass, wanted: Collection[int] | None):
        self.meta = meta
        self.stream = stream
        self.wanted = wanted
        if stream.header is None:
            raise Unsupported("stream without an event header")
        self.clock_name = _header_clock(stream.header)
        if self.clock_name is None or self.clock_name not in meta.clocks:
            raise Unsupported("event header without a timestamp mapped to a known clock")
        self.convert = ClockConversion(meta.clocks[self.clock_name])
        self.context_names = member_names(stream.event_context)
        self.plans: dict[int, ClassPlan] = {}
        self._values: list[str] = []  # tuple expressions of the class being compiled
        self.decode_loop = self._loop(counting=False)
        self.count_loop = self._loop(counting=True)
        self.handlers = _Lazy(self._handler)
        self.skips = _Lazy(self._skip)

    def plan(self, class_id: int) -> ClassPlan:
        plan = self.plans.get(class_id)
        if plan is None:
            event = self.stream.events[class_id]
            plan = make_plan(
                event.name, member_names(event.payload), self.context_names, self.wanted
            )
            self.plans[class_id] = plan
        return plan

    def check(self, class_id: int) -> None:
        """Raise Unsupported now if events of this class could not be skipped later (the
        source is generated, not compiled: ~10 us per class)."""
        self._body(class_id, None)

    def _loop(self, counting: bool) -> Callable[..., tuple[int, int, int]]:
        compiler = Compiler(self.meta.byte_order, self.clock_name, {})
        compiler.header = True
        compiler.lines = ["    n = 0", "    while p < end:"]
        compiler.indent = 2
        assert self.stream.header is not None
        if not any(name == "id" for name in _int_names(self.stream.header)):
            if len(self.stream.events) != 1:
                raise Unsupported("event header without an id")
            compiler.emit(f"cid = {next(iter(self.stream.events))}")
        compiler.start(known=1)
        if not _compact_header(compiler, self.stream.header, self.meta.byte_order):
            compiler.scope(self.stream.header, Wants())
        compiler.flush()
        compiler.emit("if clock > last: break")  # past the packet's end: damaged
        if counting:
            compiler.emit("p = handlers[cid](buf, p)")
            compiler.emit("out(cid)")
        else:
            compiler.emit("p = handlers[cid](buf, p, clock, cpu, out)")
        compiler.emit("n += 1")
        compiler.emit("if n == limit: break")
        compiler.indent = 1
        compiler.emit("return p, clock, n")
        params = "buf, p, end, clock, cpu, out, handlers, limit, last"
        return compiler.build("count_loop" if counting else "decode_loop", params)

    def _body(self, class_id: int, plan: ClassPlan | None) -> Compiler:
        event = self.stream.events.get(class_id)
        if event is None:
            raise KeyError(class_id)
        compiler = Compiler(self.meta.byte_order, self.clock_name, {})
        compiler.start(known=1)
        context_top: dict[int, str] = {}
        payload_top: dict[int, str] = {}
        self._values = []
        if plan is not None:
            for where in (plan.tid, plan.pid, plan.procname):
                self._values.append(self._bind(compiler, where, context_top, payload_top))
            for index, default in zip(plan.payload, plan.defaults, strict=True):
                if index < 0:
                    self._values.append(compiler.const(default))
                else:
                    self._values.append(
                        self._bind(compiler, (PAYLOAD_SCOPE, index), context_top, payload_top)
                    )
        if self.stream.event_context is not None:
            compiler.scope(self.stream.event_context, Wants(top=context_top))
        if event.context is not None:
            compiler.scope(event.context, Wants())
        if event.payload is not None:
            compiler.scope(event.payload, Wants(top=payload_top))
        compiler.flush()
        return compiler

    @staticmethod
    def _bind(
        compiler: Compiler,
        where: tuple[int, int],
        context_top: dict[int, str],
        payload_top: dict[int, str],
    ) -> str:
        scope, index = where
        if scope < 0:
            return "-1"
        top = context_top if scope == COMMON_CONTEXT else payload_top
        if index not in top:
            top[index] = compiler.var()
        return top[index]

    def _handler(self, class_id: int) -> Callable[..., int]:
        plan = self.plan(class_id) if class_id in self.stream.events else None
        if plan is None or plan.kind < 0 or not plan.wanted:
            return self._skip(class_id)
        if plan.cpu >= 0:
            raise Unsupported("per-event CPU fields (perf)")
        compiler = self._body(class_id, plan)
        values = list(self._values)
        if plan.procname[0] < 0:
            values[2] = "''"
        ts = self.convert.expression("clock")
        compiler.emit(f"out(({ts}, cpu, {plan.kind}, {', '.join(values)}))")
        compiler.emit("return p")
        return compiler.build(f"event_{class_id}", "buf, p, clock, cpu, out")

    def _skip(self, class_id: int) -> Callable[..., int]:
        compiler = self._body(class_id, None)
        compiler.emit("return p")
        return compiler.build(f"skip_{class_id}", "buf, p, clock=0, cpu=0, out=None")


class _Lazy(dict[int, Callable[..., int]]):
    """class id -> compiled function, compiled at first use (traces declare ~1200 classes
    and use a few dozen); an unknown id raises KeyError."""

    def __init__(self, make: Callable[[int], Callable[..., int]]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, class_id: int) -> Callable[..., int]:
        try:
            function = self._make(class_id)
        except (Unsupported, RecursionError) as why:
            # Met in the middle of a pass: this class's events cannot be read here.
            raise BadData(f"event class {class_id}: {why or 'nested too deeply'}") from None
        self[class_id] = function
        return function


@dataclass(frozen=True, slots=True)
class CompactHeader:
    """LTTng's compact event header, recognised: 5-bit id and 27-bit timestamp sharing one
    32-bit word, or id 31 then the `extended` structure (full id and timestamp)."""

    order: str  # "le" or "be"
    align: int  # bits
    extended: StructType


@dataclass(frozen=True, slots=True)
class IdVariant:
    """An LTTng event header: an unsigned `id` whose all-ones value announces the
    `extended` option of a variant on it, any other value the `compact` one."""

    id_type: IntType
    compact: StructType
    extended: StructType


def id_variant(header: StructType) -> IdVariant | None:
    """The header as an `IdVariant` (LTTng's compact and large headers), or None."""
    if len(header.members) != 2 or header.align < 8:
        return None
    (id_name, id_type), (_, variant) = header.members
    if not (isinstance(id_type, IntType) and isinstance(variant, VariantType)):
        return None
    if id_name != "id" or variant.tag != "id" or id_type.signed:
        return None
    top = (1 << id_type.size) - 1
    if sorted(id_type.mappings) != [("compact", 0, top - 1), ("extended", top, top)]:
        return None
    options = dict(variant.options)
    compact, extended = options.get("compact"), options.get("extended")
    if not isinstance(compact, StructType) or not isinstance(extended, StructType):
        return None
    return IdVariant(id_type, compact, extended)


def compact_header(header: StructType, native: str) -> CompactHeader | None:
    """The header as a `CompactHeader`, or None when it is another layout."""
    found = id_variant(header)
    if found is None or found.id_type.size != 5:
        return None
    compact = found.compact
    if len(compact.members) != 1 or not isinstance(compact.members[0][1], IntType):
        return None
    stamp = compact.members[0][1]
    if stamp.size != 27 or stamp.align != 1 or stamp.signed or stamp.clock is None:
        return None
    order = found.id_type.byte_order or native
    if (stamp.byte_order or native) != order:
        return None
    return CompactHeader(order, header.align, found.extended)


def _compact_header(compiler: Compiler, header: StructType, native: str) -> bool:
    """The compact header read with one unpack instead of two bit-field extractions: the
    hottest code of the Python reader. False: not that header."""
    found = compact_header(header, native)
    if found is None:
        return False
    order, align = found.order, found.align
    word = compiler.const(struct.Struct("<I" if order == "le" else ">I").unpack_from)
    mask = (1 << 27) - 1
    compiler.emit(f"p = (p + {align - 1}) & {-align}")
    compiler.emit(f"w, = {word}(buf, p >> 3)")
    compiler.emit("cid = w & 31" if order == "le" else "cid = w >> 27")
    compiler.emit("if cid != 31:")
    compiler.emit(f"    v = {'w >> 5' if order == 'le' else f'w & {mask}'}")
    compiler.emit(f"    if v < (clock & {mask}): clock += {mask + 1}")
    compiler.emit(f"    clock = (clock & {~mask}) | v")
    compiler.emit("    p += 32")
    compiler.emit("else:")
    compiler.emit("    p += 5")
    compiler.indent += 1
    compiler.start(known=1)
    compiler.member("extended", found.extended, None)
    compiler.flush()
    compiler.emit("pass")
    compiler.indent -= 1
    compiler.start(known=1)
    return True


def _int_names(t: StructType) -> list[str]:
    names: list[str] = []
    for name, member in t.members:
        if isinstance(member, IntType):
            names.append(name)
        elif isinstance(member, StructType):
            names.extend(_int_names(member))
        elif isinstance(member, VariantType):
            for _, option in member.options:
                if isinstance(option, StructType):
                    names.extend(_int_names(option))
    return names


def _header_clock(t: StructType) -> str | None:
    for _, member in t.members:
        if isinstance(member, IntType) and member.clock:
            return member.clock
        inner: list[StructType] = []
        if isinstance(member, StructType):
            inner = [member]
        elif isinstance(member, VariantType):
            inner = [o for _, o in member.options if isinstance(o, StructType)]
        for option in inner:
            found = _header_clock(option)
            if found:
                return found
    return None

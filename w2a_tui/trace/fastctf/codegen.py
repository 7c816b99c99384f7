"""Compile CTF field layouts into specialised Python functions (source text + exec).

One function per event class reads exactly the fields the analysis asked for and skips
the others by arithmetic: consecutive byte-aligned integers and text arrays become one
`struct.Struct.unpack_from`, alignment known at compile time costs nothing at run time,
and only strings, sequences and variants need run-time work. Positions are in bits from
the start of the mapped file; packets start on 8-byte boundaries (checked by the reader),
so file alignment equals the packet alignment CTF specifies.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from w2a_tui.trace.fastctf.types import (
    ArrayType,
    FieldType,
    FloatType,
    IntType,
    SequenceType,
    StringType,
    StructType,
    Unsupported,
    VariantType,
    alignment,
)

_FMT = {
    (8, False): "B",
    (8, True): "b",
    (16, False): "H",
    (16, True): "h",
    (32, False): "I",
    (32, True): "i",
    (64, False): "Q",
    (64, True): "q",
}
_DECODE = ".decode('utf-8', 'surrogateescape')"
_MAX_INDENT = 15


class BadData(Exception):
    """Raised by generated code on data no layout can explain (bad variant tag...)."""


class TextCache(dict[bytes, str]):
    """NUL-padded byte arrays -> str, memoised: comm/procname arrays repeat endlessly and a
    dict hit is several times cheaper than split + decode."""

    def __missing__(self, raw: bytes) -> str:
        text = raw.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
        if len(self) > 100_000:
            self.clear()
        self[raw] = text
        return text


def _lowbit(value: int) -> int:
    return value & -value


def _text_element(t: FieldType) -> bool:
    return isinstance(t, IntType) and t.text and t.size == 8 and t.align <= 8


@dataclass(slots=True)
class _State:
    known: int  # p is a multiple of `known` bits at the start of the current run
    offset: int = 0  # static bits since the run start
    items: dict[str, list[tuple[int, str, str | None]]] = field(default_factory=dict)
    post: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Wants:
    """What a compiled scope must bind: top-level member index -> variable name."""

    top: dict[int, str] = field(default_factory=dict)
    bytes_ok: bool = False  # u8 arrays may be read as bytes (packet header uuid)


class Compiler:
    """Accumulates the source of one function; `scope()` appends a structure's code."""

    def __init__(self, native_order: str, clock_name: str | None, namespace: dict[str, Any]):
        self.order = native_order
        self.clock_name = clock_name
        self.ns = namespace
        self.lines: list[str] = []
        self.indent = 1
        self.state = _State(known=1)
        self.named: dict[str, tuple[str, IntType]] = {}  # raw field name -> (var, type)
        self.refs: set[str] = set()
        self.header = False  # `id` fields set `cid`, clock-mapped fields update `clock`
        self.packet = False  # packet scopes: clock-mapped fields are read, not applied
        self._n = 0

    # -- helpers --------------------------------------------------------------------------

    def var(self) -> str:
        self._n += 1
        return f"v{self._n}"

    def const(self, value: object) -> str:
        name = f"K{len(self.ns)}"
        self.ns[name] = value
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def start(self, known: int) -> None:
        self.state = _State(known=known)

    def align(self, bits: int) -> None:
        st = self.state
        if bits <= st.known:
            st.offset = -(-st.offset // bits) * bits
        else:
            self.flush()
            self.emit(f"p = (p + {bits - 1}) & {-bits}")
            self.state.known = bits

    def flush(self) -> None:
        st = self.state
        for order, items in st.items.items():
            needed = sorted(i for i in items if i[2] is not None)
            if not needed:
                continue
            fmt, at = ("<" if order == "le" else ">"), 0
            for offset, code, _ in needed:
                if offset > at:
                    fmt += f"{offset - at}x"
                fmt += code
                at = offset + struct.calcsize(code)
            names = ", ".join(str(v) for _, _, v in needed)
            unpacker = self.const(struct.Struct(fmt).unpack_from)
            self.emit(f"{names}, = {unpacker}(buf, p >> 3)")
        for line in st.post:
            self.emit(line)
        if st.offset:
            self.emit(f"p += {st.offset}")
            st.known = min(st.known, _lowbit(st.offset))
        st.offset = 0
        st.items = {}
        st.post = []

    def after_value(self, name: str, var: str, t: IntType) -> list[str]:
        """Statements run once `var` holds the value of integer field `name`."""
        lines: list[str] = []
        if self.header and name == "id":
            lines.append(f"cid = {var}")
        if t.clock is not None and not self.packet:
            if not self.header or t.clock != self.clock_name:
                raise Unsupported(f"field {name!r} updates clock {t.clock!r} outside the header")
            if t.size == 64:
                # A full timestamp never moves time back within a packet: one that does is
                # damage, made to overrun the packet's end so the reader stops there.
                lines.append(f"clock = {var} if {var} >= clock else {1 << 65}")
            else:
                mask = (1 << t.size) - 1
                lines.append(f"if {var} < (clock & {mask}): clock += {mask + 1}")
                lines.append(f"clock = (clock & {~mask}) | {var}")
        return lines

    # -- fields ---------------------------------------------------------------------------

    def scope(self, t: StructType, wants: Wants) -> None:
        """Code reading structure `t` (a dynamic scope), binding `wants.top`."""
        self.refs |= _references(t)
        self.align(t.align)
        for index, (name, member) in enumerate(t.members):
            self.member(name, member, wants.top.get(index), wants.bytes_ok)

    def member(self, name: str, t: FieldType, want: str | None, bytes_ok: bool = False) -> None:
        if isinstance(t, IntType):
            self.integer(name, t, want)
        elif isinstance(t, StringType):
            self.string(want)
        elif isinstance(t, StructType):
            if want is not None:
                raise Unsupported(f"structure field {name!r} wanted")
            self.align(t.align)
            for member_name, member in t.members:
                self.member(member_name, member, None)
        elif isinstance(t, ArrayType):
            self.array(name, t, want, bytes_ok)
        elif isinstance(t, SequenceType):
            self.sequence(t, want)
        elif isinstance(t, VariantType):
            if want is not None:
                raise Unsupported(f"variant field {name!r} wanted")
            self.variant(t)
        elif isinstance(t, FloatType):
            if want is not None or t.size not in (32, 64):
                raise Unsupported("floating point field wanted or of an odd size")
            self.align(t.align)
            self.state.offset += t.size  # skipped: the analysis reads no reals
        else:  # pragma: no cover
            raise Unsupported(f"field type {type(t).__name__}")

    def integer(self, name: str, t: IntType, want: str | None) -> None:
        needed = want is not None or name in self.refs or t.clock is not None
        needed = needed or (self.header and name == "id")
        var = want or (self.var() if needed else None)
        self.align(t.align)
        st = self.state
        order = t.byte_order or self.order
        code = _FMT.get((t.size, t.signed))
        if code is not None and st.offset % 8 == 0 and st.known >= 8:
            st.items.setdefault(order, []).append((st.offset // 8, code, var))
            if var is not None:
                st.post.extend(self.after_value(name, var, t))
        elif var is not None:
            self.emit(f"{var} = {_bitfield(f'p + {st.offset}', t.size, order, t.signed)}")
            for line in self.after_value(name, var, t):
                self.emit(line)
        st.offset += t.size
        if var is not None and name in self.refs:
            self.named[name] = (var, t)

    def string(self, want: str | None) -> None:
        self.align(8)
        self.flush()
        self.emit("q = p >> 3")
        self.emit("e = buf.find(b'\\x00', q)")
        self.emit(f"if e < 0: raise {self.const(BadData)}('unterminated string')")
        if want is not None:
            self.emit(f"{want} = buf[q:e]{_DECODE}")
        self.emit("p = (e + 1) << 3")
        self.state.known = 8

    def array(self, name: str, t: ArrayType, want: str | None, bytes_ok: bool) -> None:
        element = t.element
        if isinstance(element, IntType) and element.size == 8 and element.align <= 8:
            self.align(8)
            st = self.state
            if st.offset % 8 or st.known < 8:
                raise Unsupported("byte array off byte boundaries")
            if want is not None and element.signed and not (element.text or bytes_ok):
                raise Unsupported(f"signed byte array {name!r} wanted")
            st.items.setdefault("le", []).append((st.offset // 8, f"{t.length}s", want))
            # Wanted byte arrays are text (comm...), encoded or not, as the bt2 decoders do.
            if want is not None and not bytes_ok:
                st.post.append(f"{want} = {self.const(TextCache())}[{want}]")
            st.offset += 8 * t.length
            return
        if want is not None:
            raise Unsupported(f"array field {name!r} wanted")
        span = int_array_span(t)
        if span is None:
            self.loop(str(t.length), t.element)
        elif span[1]:
            self.align(span[0])
            self.state.offset += span[1]

    def sequence(self, t: SequenceType, want: str | None) -> None:
        ref = t.length_ref.split(".")[-1]
        if ref not in self.named:
            raise Unsupported(f"sequence length {t.length_ref!r} not found before its use")
        length = self.named[ref][0]
        element = t.element
        if want is not None and not _text_element(element):
            raise Unsupported("non-text sequence wanted")
        if isinstance(element, IntType):
            element_align = element.align
            self.align(element_align)
            self.flush()
            stride = -(-element.size // element_align) * element_align
            if want is not None:
                self.emit("q = p >> 3")
                self.emit(f"{want} = buf[q:q + {length}].split(b'\\x00', 1)[0]{_DECODE}")
            self.emit(f"p += {length} * {stride}")
            self.state.known = min(self.state.known, _lowbit(stride))
            return
        self.loop(length, element)

    def nest(self) -> None:
        """Python allows 20 nested blocks: deeper field nesting is not compiled."""
        if self.indent >= _MAX_INDENT:
            raise Unsupported("fields nested too deeply (arrays, sequences or variants)")

    def loop(self, count: str, element: FieldType) -> None:
        self.nest()
        self.align(alignment(element))
        self.flush()
        saved = self.state
        self.emit(f"for _ in range({count}):")
        self.indent += 1
        self.start(known=1)
        self.member("", element, None)
        self.flush()
        self.emit("pass")
        self.indent -= 1
        self.state = _State(known=1)
        del saved

    def variant(self, t: VariantType) -> None:
        ref = t.tag.split(".")[-1]
        if ref not in self.named:
            raise Unsupported(f"variant tag {t.tag!r} not found before its use")
        tag, tag_type = self.named[ref]
        if not tag_type.mappings:
            raise Unsupported(f"variant tag {t.tag!r} is not an enumeration")
        self.nest()
        self.flush()
        known = self.state.known
        ends: list[int] = []
        named = dict(self.named)
        keyword = "if"
        for option_name, option in t.options:
            ranges = [(lo, hi) for label, lo, hi in tag_type.mappings if label == option_name]
            if not ranges:
                continue
            test = " or ".join(
                f"{tag} == {lo}" if lo == hi else f"{lo} <= {tag} <= {hi}" for lo, hi in ranges
            )
            self.emit(f"{keyword} {test}:")
            keyword = "elif"
            self.indent += 1
            self.start(known=known)
            self.member(option_name, option, None)
            self.flush()
            self.emit("pass")
            ends.append(self.state.known)
            self.indent -= 1
            self.named = dict(named)
        if keyword == "if":
            raise Unsupported(f"variant on {t.tag!r} has no selectable option")
        self.emit("else:")
        self.emit(f"    raise {self.const(BadData)}('no variant option for tag %d' % {tag})")
        self.start(known=min(ends))

    # -- output ---------------------------------------------------------------------------

    def build(self, name: str, params: str) -> Callable[..., Any]:
        """Compile the accumulated lines (the caller flushed and returned) into a function."""
        source = f"def {name}({params}):\n" + "\n".join(self.lines) + "\n"
        try:
            code = compile(source, f"<fastctf {name}>", "exec")
        except (SyntaxError, RecursionError, MemoryError) as err:
            raise Unsupported(f"layout of {name} does not compile ({err})") from None
        exec(code, self.ns)
        function: Callable[..., Any] = self.ns[name]
        function.__source__ = source  # type: ignore[attr-defined]
        return function


def int_array_span(t: ArrayType) -> tuple[int, int] | None:
    """(alignment, bits) of an array of integers (nested arrays flattened: int x[2][3] is
    six ints in a row) skipped by arithmetic; (1, 0) when it holds none; None when its
    elements must be walked one by one (not integers, or padded between them)."""
    element: FieldType = t.element
    count = t.length
    while isinstance(element, ArrayType):
        count *= element.length
        element = element.element
    if not isinstance(element, IntType):
        return None
    if not count:
        return (1, 0)
    stride = -(-element.size // element.align) * element.align
    if stride == element.size or count == t.length:
        return (element.align, (count - 1) * stride + element.size)
    return None


def _bitfield(position: str, size: int, order: str, signed: bool) -> str:
    """An expression reading a `size`-bit integer at bit `position` of `buf`."""
    mask = (1 << size) - 1
    first = f"(({position}) >> 3)"
    last = f"((({position}) + {size + 7}) >> 3)"
    if order == "le":
        value = f"((int.from_bytes(buf[{first}:{last}], 'little') >> (({position}) & 7)) & {mask})"
    else:
        value = (
            f"((int.from_bytes(buf[{first}:{last}], 'big') >> "
            f"({last} * 8 - ({position}) - {size})) & {mask})"
        )
    if signed:
        half = 1 << (size - 1)
        return f"((({value}) ^ {half}) - {half})"
    return value


def _references(t: FieldType) -> set[str]:
    """Names used as sequence lengths or variant tags anywhere inside `t`."""
    found: set[str] = set()
    if isinstance(t, StructType):
        for _, member in t.members:
            found |= _references(member)
    elif isinstance(t, VariantType):
        found.add(t.tag.split(".")[-1])
        for _, option in t.options:
            found |= _references(option)
    elif isinstance(t, SequenceType):
        found.add(t.length_ref.split(".")[-1])
        found |= _references(t.element)
    elif isinstance(t, ArrayType):
        found |= _references(t.element)
    return found

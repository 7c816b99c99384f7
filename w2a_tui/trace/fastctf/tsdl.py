"""A parser for the TSDL (CTF 1.8 metadata) subset that LTTng and perf write.

Recursive descent over a regex tokenizer. Anything outside the subset raises
`Unsupported`, so that the caller reads the trace through babeltrace2 instead of guessing.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from dataclasses import replace

from w2a_tui.trace.fastctf.types import (
    ArrayType,
    Clock,
    EventClass,
    FieldType,
    FloatType,
    IntType,
    Metadata,
    SequenceType,
    StreamClass,
    StringType,
    StructType,
    Unsupported,
    VariantType,
)

_TOKEN = re.compile(
    r"""\s+|/\*.*?\*/|//[^\n]*
    |(?P<str>"(?:[^"\\]|\\.)*")
    |(?P<num>(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*)
    |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>:=|\.\.\.|[{}\[\]();:,=<>.+\-*])
    |(?P<bad>.)""",
    re.S | re.X,
)

# Token kinds.
STR, NUM, ID, OP = "s", "n", "i", "o"
_END = ("o", "<end>")


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    append = tokens.append
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:
            continue  # blank or comment
        if kind == "bad":
            raise Unsupported(f"unexpected character {m.group()!r} in the metadata")
        append(
            (
                STR if kind == "str" else NUM if kind == "num" else ID if kind == "id" else OP,
                m.group(),
            )
        )
    return tokens


def _number(text: str) -> int:
    digits = text.rstrip("uUlL")
    if digits.startswith(("0x", "0X")):
        return int(digits, 16)
    if len(digits) > 1 and digits.startswith("0"):
        return int(digits, 8)
    return int(digits)


def _unquote(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


_BLOCKS = ("trace", "env", "clock", "stream", "event", "callsite")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.i = 0
        self.aliases: dict[str, FieldType] = {}
        self.structs: dict[str, StructType] = {}
        self.enums: dict[str, IntType] = {}
        self.variants: dict[str, VariantType] = {}
        self.meta = Metadata()
        self.byte_order_seen = False
        self.events: list[EventClass] = []

    # -- token helpers ------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else _END

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok[1] != text:
            raise Unsupported(f"metadata: expected {text!r}, found {tok[1]!r}")

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text and self.peek()[0] in (OP, ID):
            self.i += 1
            return True
        return False

    # -- top level ------------------------------------------------------------------------

    def parse(self) -> Metadata:
        while self.i < len(self.toks):
            kind, text = self.peek()
            if kind == ID and text in _BLOCKS and self.peek(1)[1] == "{":
                self.i += 1
                self.block(text)
            elif kind == ID and text == "typealias":
                self.typealias()
            elif kind == ID and text == "typedef":
                self.typedef()
            elif kind == ID and text in ("struct", "enum", "variant", "integer", "string"):
                self.type_spec(declarator_follows=False)
                self.expect(";")
            elif kind == OP and text == ";":
                self.i += 1
            else:
                raise Unsupported(f"metadata: unexpected {text!r} at top level")
        for event in self.events:
            stream = self.meta.streams.get(event.stream_id)
            if stream is None:
                if event.stream_id == -1 and len(self.meta.streams) == 1:
                    stream = next(iter(self.meta.streams.values()))
                else:
                    raise Unsupported(f"event {event.name!r} names an unknown stream")
            stream.events[event.id] = event
        return self.meta

    def typealias(self) -> None:
        self.expect("typealias")
        target = self.type_spec(declarator_follows=False)
        self.expect(":=")
        names = []
        while self.peek()[1] != ";":
            kind, text = self.next()
            if kind != ID:
                raise Unsupported(f"metadata: unexpected {text!r} in a typealias name")
            names.append(text)
        self.expect(";")
        self.aliases[" ".join(names)] = target

    def typedef(self) -> None:
        self.expect("typedef")
        base = self.type_spec(declarator_follows=True)
        name, t = self.declarator(base)
        self.expect(";")
        self.aliases[name] = t

    def block(self, kind: str) -> None:
        self.expect("{")
        values: dict[str, object] = {}
        while not self.accept("}"):
            if self.peek()[1] in ("typealias", "typedef"):
                self.typealias() if self.peek()[1] == "typealias" else self.typedef()
                continue
            key_parts = []
            while self.peek()[1] not in ("=", ":="):
                key_parts.append(self.next()[1])
                if self.i >= len(self.toks):
                    raise Unsupported("metadata: unterminated block")
            key = "".join(key_parts)
            if self.next()[1] == ":=":
                values[key] = self.type_spec(declarator_follows=False)
            else:
                values[key] = self.value()
            self.expect(";")
        self.expect(";")
        getattr(self, f"on_{kind}")(values)

    def value(self) -> object:
        kind, text = self.next()
        if kind == STR:
            return _unquote(text)
        if kind == NUM:
            return _number(text)
        if kind == OP and text in "+-" and self.peek()[0] == NUM:
            number = _number(self.next()[1])
            return -number if text == "-" else number
        if kind == ID:
            parts = [text]
            while self.peek()[1] == "." and self.peek(1)[0] == ID:
                self.i += 1
                parts.append(self.next()[1])
            return ".".join(parts)
        raise Unsupported(f"metadata: unexpected value {text!r}")

    # -- blocks ---------------------------------------------------------------------------

    def on_trace(self, values: dict[str, object]) -> None:
        order = values.get("byte_order")
        if order not in ("le", "be", "network"):
            raise Unsupported(f"trace byte order {order!r}")
        self.meta.byte_order = "be" if order == "network" else str(order)
        if values.get("major", 1) != 1 or values.get("minor", 8) != 8:
            raise Unsupported("CTF version other than 1.8")
        if isinstance(values.get("uuid"), str):
            self.meta.uuid = uuid_module.UUID(str(values["uuid"])).bytes
        header = values.get("packet.header")
        if header is not None:
            self.meta.packet_header = _as_struct(header)

    def on_env(self, values: dict[str, object]) -> None:
        self.meta.env = {k: v for k, v in values.items() if isinstance(v, str | int)}

    def on_clock(self, values: dict[str, object]) -> None:
        name = str(values.get("name", ""))
        clock = Clock(name=name)
        for key, attr in (("freq", "freq"), ("offset_s", "offset_s"), ("offset", "offset")):
            if key in values:
                value = values[key]
                if not isinstance(value, int):
                    raise Unsupported(f"clock {key} is not an integer")
                setattr(clock, attr, value)
        if clock.freq <= 0:
            raise Unsupported("clock frequency 0")
        self.meta.clocks[name] = clock

    def on_stream(self, values: dict[str, object]) -> None:
        sid = values.get("id", -1)
        if not isinstance(sid, int):
            raise Unsupported("stream id is not an integer")
        stream = StreamClass(id=sid)
        for key, attr in (
            ("event.header", "header"),
            ("event.context", "event_context"),
            ("packet.context", "packet_context"),
        ):
            if key in values:
                setattr(stream, attr, _as_struct(values[key]))
        self.meta.streams[sid] = stream

    def on_event(self, values: dict[str, object]) -> None:
        name, eid, sid = values.get("name"), values.get("id", 0), values.get("stream_id", -1)
        if not isinstance(name, str) or not isinstance(eid, int) or not isinstance(sid, int):
            raise Unsupported("event without a name or an integer id")
        event = EventClass(id=eid, name=name, stream_id=sid)
        if "context" in values:
            event.context = _as_struct(values["context"])
        if "fields" in values:
            event.payload = _as_struct(values["fields"])
        self.events.append(event)

    def on_callsite(self, values: dict[str, object]) -> None:
        pass

    # -- types ----------------------------------------------------------------------------

    def attributes(self) -> dict[str, object]:
        self.expect("{")
        attrs: dict[str, object] = {}
        while not self.accept("}"):
            key = self.next()[1]
            self.expect("=")
            attrs[key] = self.value()
            self.expect(";")
        return attrs

    def type_spec(self, declarator_follows: bool) -> FieldType:
        kind, text = self.peek()
        if kind != ID:
            raise Unsupported(f"metadata: expected a type, found {text!r}")
        if text == "integer":
            self.i += 1
            return _integer(self.attributes())
        if text == "floating_point":
            self.i += 1
            attrs = self.attributes()
            size = int(attrs.get("exp_dig", 0)) + int(attrs.get("mant_dig", 0))  # type: ignore[call-overload]
            return FloatType(size=size, align=int(attrs.get("align", 8)))  # type: ignore[call-overload]
        if text == "string":
            self.i += 1
            if self.peek()[1] == "{":
                attrs = self.attributes()
                if str(attrs.get("encoding", "UTF8")) not in ("UTF8", "ASCII", "utf8"):
                    raise Unsupported("string encoding")
            return StringType()
        if text == "struct":
            return self.struct()
        if text == "enum":
            return self.enum()
        if text == "variant":
            return self.variant()
        return self.alias_ref(declarator_follows)

    def alias_ref(self, declarator_follows: bool) -> FieldType:
        names: list[str] = []
        j = self.i
        while self.toks[j][0] == ID if j < len(self.toks) else False:
            names.append(self.toks[j][1])
            j += 1
        if declarator_follows:
            names = names[:-1]
        key = " ".join(names)
        if not names or key not in self.aliases:
            raise Unsupported(f"metadata: unknown type {key!r}")
        self.i += len(names)
        return self.aliases[key]

    def struct(self) -> StructType:
        self.expect("struct")
        name = self.next()[1] if self.peek()[0] == ID else None
        if self.peek()[1] != "{":
            if name is None or name not in self.structs:
                raise Unsupported(f"metadata: unknown struct {name!r}")
            return self.structs[name]
        self.expect("{")
        members = self.members()
        min_align = 1
        if self.peek()[1] == "align" and self.peek(1)[1] == "(":
            self.i += 2
            min_align = _number(self.next()[1])  # bits, like integer alignments
            self.expect(")")
        struct = StructType(members=tuple(members), min_align=min_align)
        if name is not None:
            self.structs[name] = struct
        return struct

    def members(self) -> list[tuple[str, FieldType]]:
        members: list[tuple[str, FieldType]] = []
        while not self.accept("}"):
            if self.peek()[1] == "typealias":
                self.typealias()
                continue
            if self.peek()[1] == "typedef":
                self.typedef()
                continue
            base = self.type_spec(declarator_follows=True)
            while True:
                members.append(self.declarator(base))
                if not self.accept(","):
                    break
            self.expect(";")
        return members

    def declarator(self, base: FieldType) -> tuple[str, FieldType]:
        kind, name = self.next()
        if kind != ID:
            raise Unsupported(f"metadata: expected a field name, found {name!r}")
        lengths: list[int | str] = []
        while self.accept("["):
            kind, text = self.next()
            if kind == NUM:
                lengths.append(_number(text))
            elif kind == ID:
                parts = [text]
                while self.accept("."):
                    parts.append(self.next()[1])
                lengths.append(".".join(parts))
            else:
                raise Unsupported(f"metadata: bad array length {text!r}")
            self.expect("]")
        t = base
        for length in reversed(lengths):
            t = ArrayType(t, length) if isinstance(length, int) else SequenceType(t, length)
        return name, t

    def enum(self) -> IntType:
        self.expect("enum")
        name = self.next()[1] if self.peek()[0] == ID else None
        if self.peek()[1] not in (":", "{"):
            if name is None or name not in self.enums:
                raise Unsupported(f"metadata: unknown enum {name!r}")
            return self.enums[name]
        container: FieldType | None = None
        if self.accept(":"):
            container = self.type_spec(declarator_follows=False)
        else:
            container = self.aliases.get("int")
        if not isinstance(container, IntType):
            raise Unsupported("enum container is not an integer")
        self.expect("{")
        mappings: list[tuple[str, int, int]] = []
        next_value = 0
        while not self.accept("}"):
            kind, label = self.next()
            label = _unquote(label) if kind == STR else label
            low = high = next_value
            if self.accept("="):
                low = high = int(self.value())  # type: ignore[call-overload]
                if self.accept("..."):
                    high = int(self.value())  # type: ignore[call-overload]
            mappings.append((label, low, high))
            next_value = high + 1
            self.accept(",")
        enum = replace(container, mappings=tuple(mappings))
        if name is not None:
            self.enums[name] = enum
        return enum

    def variant(self) -> VariantType:
        self.expect("variant")
        name = self.next()[1] if self.peek()[0] == ID else None
        tag = ""
        if self.accept("<"):
            parts = []
            while not self.accept(">"):
                parts.append(self.next()[1])
            tag = "".join(parts)
        if self.peek()[1] != "{":
            if name is None or name not in self.variants:
                raise Unsupported(f"metadata: unknown variant {name!r}")
            known = self.variants[name]
            return VariantType(tag or known.tag, known.options)
        self.expect("{")
        variant = VariantType(tag, tuple(self.members()))
        if name is not None:
            self.variants[name] = variant
        if not tag:
            raise Unsupported("untagged variant")
        return variant


def _integer(attrs: dict[str, object]) -> IntType:
    size = attrs.get("size")
    if not isinstance(size, int) or not 0 < size <= 64:
        raise Unsupported(f"integer size {size!r}")
    align = attrs.get("align", 8 if size % 8 == 0 else 1)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise Unsupported(f"integer alignment {align!r}")
    signed = attrs.get("signed", False)
    signed_flag = signed in (True, 1, "true", "TRUE", "1")
    order = attrs.get("byte_order", "native")
    byte_order: str | None
    if order in ("native",):
        byte_order = None
    elif order in ("le", "be"):
        byte_order = str(order)
    elif order == "network":
        byte_order = "be"
    else:
        raise Unsupported(f"integer byte order {order!r}")
    encoding = str(attrs.get("encoding", "none"))
    clock = None
    mapped = attrs.get("map")
    if isinstance(mapped, str):
        parts = mapped.split(".")
        if len(parts) != 3 or parts[0] != "clock" or parts[2] != "value":
            raise Unsupported(f"integer mapped to {mapped!r}")
        clock = parts[1]
    return IntType(
        size=size,
        align=align,
        signed=signed_flag,
        byte_order=byte_order,
        text=encoding.upper() in ("UTF8", "ASCII"),
        clock=clock,
    )


def _as_struct(t: object) -> StructType:
    if not isinstance(t, StructType):
        raise Unsupported("a scope that is not a structure")
    return t


def parse_metadata(text: str) -> Metadata:
    """The metadata model of a TSDL text; raises Unsupported outside the known subset."""
    try:
        return _Parser(tokenize(text)).parse()
    except (IndexError, ValueError, TypeError) as err:
        raise Unsupported(f"metadata: {err}") from err
    except RecursionError:
        raise Unsupported("metadata: types nested too deeply") from None

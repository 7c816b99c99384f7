"""A direct CTF 1.8 writer shaped like lttng-modules output (bt2's sink is far too slow).

Layout, as LTTng writes it: a text TSDL `metadata` file and one stream file per CPU
(`channel0_<cpu>`) made of fixed-size packets, each with the LTTng packet header and
packet context (`timestamp_begin/end`, `content_size`, `packet_size`, `packet_seq_num`,
cumulative `events_discarded`, `cpu_id`), then events with the compact 5-bit-id /
27-bit-timestamp header (or the extended one when the 27-bit delta overflows), the
optional `pid/tid/procname` stream event context, and the payload. Every field is
byte-aligned, so each event is one precompiled `struct.Struct.pack`.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from w2a_tui.sim.tracepoints import EventClass

CTF_MAGIC: Final = 0xC1FC1FC1
TS_BITS: Final = 27
TS_MASK: Final = (1 << TS_BITS) - 1
TS_LIMIT: Final = 1 << TS_BITS
EXTENDED_ID: Final = 31
PAGE: Final = 4096

_HEADER = struct.Struct("<I16sIQ")  # magic, uuid, stream_id, stream_instance_id
_CONTEXT = struct.Struct("<QQQQQQI")  # begin, end, content, packet size, seq, discarded, cpu
PACKET_PREAMBLE: Final = _HEADER.size + _CONTEXT.size
MAX_EVENT_BYTES: Final = 512

_FMT = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s32": "i", "s64": "q", "x64": "Q"}
_TSDL_INT = {
    "u8": "size = 8; align = 8; signed = 0; encoding = none; base = 10;",
    "u16": "size = 16; align = 8; signed = 0; encoding = none; base = 10;",
    "u32": "size = 32; align = 8; signed = 0; encoding = none; base = 10;",
    "u64": "size = 64; align = 8; signed = 0; encoding = none; base = 10;",
    "s32": "size = 32; align = 8; signed = 1; encoding = none; base = 10;",
    "s64": "size = 64; align = 8; signed = 1; encoding = none; base = 10;",
    "x64": "size = 64; align = 8; signed = 0; encoding = none; base = 16;",
}
_COMM_TSDL = "integer { size = 8; align = 8; signed = 0; encoding = UTF8; base = 10; }"


def _field_tsdl(name: str, kind: str) -> str:
    if kind == "comm":
        return f"\t\t{_COMM_TSDL} _{name}[16];"
    if kind == "str":
        return f"\t\tstring _{name};"
    if kind == "seq_s32":  # lttng-modules' ctf_sequence: a u8 length field, then the items
        return (
            f"\t\tinteger {{ {_TSDL_INT['u8']} }} __{name}_length;\n"
            f"\t\tinteger {{ {_TSDL_INT['s32']} }} _{name}[ __{name}_length ];"
        )
    return f"\t\tinteger {{ {_TSDL_INT[kind]} }} _{name};"


# A payload made of fixed runs, strings and sequences: a fixed run packs `n` arguments
# with one struct; "str" and "seq_s32" take one argument each.
Segment = tuple[struct.Struct, int] | str
_VARIABLE: Final = frozenset({"str", "seq_s32"})


def _segments(kinds: Sequence[str]) -> list[Segment]:
    segments: list[Segment] = []
    run: list[str] = []
    for kind in [*kinds, ""]:
        if kind and kind not in _VARIABLE:
            run.append(kind)
            continue
        if run:
            fmt = "<" + "".join("16s" if k == "comm" else _FMT[k] for k in run)
            segments.append((struct.Struct(fmt), len(run)))
            run = []
        if kind:
            segments.append(kind)
    return segments


def _pack_variable(segments: list[Segment], args: Sequence[Any]) -> bytes:
    """The payload of a class with strings or sequences (rare events: the slow path)."""
    out = bytearray()
    i = 0
    for seg in segments:
        if isinstance(seg, tuple):
            packer, n = seg
            out += packer.pack(*args[i : i + n])
            i += n
        elif seg == "str":
            out += args[i] + b"\0"
            i += 1
        else:
            items = args[i]
            out += struct.pack(f"<B{len(items)}i", len(items), *items)
            i += 1
    return bytes(out)


def metadata_text(
    classes: Iterable[EventClass],
    env: dict[str, str | int],
    trace_uuid: str,
    clock_uuid: str,
    clock_offset_ns: int,
    with_context: bool,
) -> str:
    """The TSDL metadata of the trace, in the text form babeltrace2 reads directly."""
    env_lines = "\n".join(
        f'\t{k} = "{v}";' if isinstance(v, str) else f"\t{k} = {v};" for k, v in env.items()
    )
    context = ""
    if with_context:
        context = (
            "\tevent.context := struct {\n"
            f"\t\tinteger {{ {_TSDL_INT['s32']} }} _pid;\n"
            f"\t\tinteger {{ {_TSDL_INT['s32']} }} _tid;\n"
            f"\t\t{_COMM_TSDL} _procname[16];\n"
            "\t};\n"
        )
    parts = [
        "/* CTF 1.8 */\n",
        "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
        "typealias integer { size = 16; align = 8; signed = false; } := uint16_t;\n"
        "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
        "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
        "typealias integer { size = 64; align = 8; signed = false; } := unsigned long;\n"
        "typealias integer { size = 5; align = 1; signed = false; } := uint5_t;\n"
        "typealias integer { size = 27; align = 1; signed = false; } := uint27_t;\n\n",
        "trace {\n\tmajor = 1;\n\tminor = 8;\n"
        f'\tuuid = "{trace_uuid}";\n\tbyte_order = le;\n'
        "\tpacket.header := struct {\n\t\tuint32_t magic;\n\t\tuint8_t  uuid[16];\n"
        "\t\tuint32_t stream_id;\n\t\tuint64_t stream_instance_id;\n\t};\n};\n\n",
        f"env {{\n{env_lines}\n}};\n\n",
        'clock {\n\tname = "monotonic";\n'
        f'\tuuid = "{clock_uuid}";\n'
        '\tdescription = "Monotonic Clock";\n'
        "\tfreq = 1000000000; /* Frequency, in Hz */\n"
        "\t/* clock value offset from Epoch is: offset * (1/freq) */\n"
        f"\toffset = {clock_offset_ns};\n}};\n\n",
        "typealias integer {\n\tsize = 27; align = 1; signed = false;\n"
        "\tmap = clock.monotonic.value;\n} := uint27_clock_monotonic_t;\n\n"
        "typealias integer {\n\tsize = 32; align = 8; signed = false;\n"
        "\tmap = clock.monotonic.value;\n} := uint32_clock_monotonic_t;\n\n"
        "typealias integer {\n\tsize = 64; align = 8; signed = false;\n"
        "\tmap = clock.monotonic.value;\n} := uint64_clock_monotonic_t;\n\n",
        "struct packet_context {\n"
        "\tuint64_clock_monotonic_t timestamp_begin;\n"
        "\tuint64_clock_monotonic_t timestamp_end;\n"
        "\tuint64_t content_size;\n\tuint64_t packet_size;\n\tuint64_t packet_seq_num;\n"
        "\tunsigned long events_discarded;\n\tuint32_t cpu_id;\n};\n\n",
        "struct event_header_compact {\n"
        "\tenum : uint5_t { compact = 0 ... 30, extended = 31 } id;\n"
        "\tvariant <id> {\n\t\tstruct {\n\t\t\tuint27_clock_monotonic_t timestamp;\n"
        "\t\t} compact;\n\t\tstruct {\n\t\t\tuint32_t id;\n"
        "\t\t\tuint64_clock_monotonic_t timestamp;\n\t\t} extended;\n\t} v;\n} align(8);\n\n",
        "stream {\n\tid = 0;\n\tevent.header := struct event_header_compact;\n"
        f"\tpacket.context := struct packet_context;\n{context}}};\n\n",
    ]
    for cls in classes:
        fields = "\n".join(_field_tsdl(n, k) for n, k in cls.fields)
        body = (
            f"\tfields := struct {{\n{fields}\n\t}};\n"
            if cls.fields
            else ("\tfields := struct {\n\t};\n")
        )
        parts.append(
            f'event {{\n\tname = "{cls.name}";\n\tid = {cls.id};\n\tstream_id = 0;\n{body}}};\n\n'
        )
    return "".join(parts)


@dataclass(slots=True)
class _Stream:
    cpu: int
    file: BinaryIO
    begin: int
    body: bytearray = field(default_factory=bytearray)
    prev_ts: int = 0
    last_ts: int = 0
    seq: int = 0
    discarded: int = 0
    dropping: int = 0


@dataclass(slots=True)
class WriteStats:
    """What really went into the stream files."""

    written: Counter[int] = field(default_factory=Counter)  # per class id
    discarded: int = 0
    packets: int = 0
    bytes: int = 0


class CtfWriter:
    """Writes per-CPU streams; events are tuples `(ts, class_id, tid, *payload)`.

    `ts` is in clock cycles (ns since the clock's offset); `tid` selects the
    pid/tid/procname context from `contexts` (ignored when the trace has no context).
    Comm and string fields must be given as bytes, sequences as tuples of ints. With
    `lost_prob`, each new packet may start by discarding a run of events (as a full
    LTTng ring buffer does), and the cumulative `events_discarded` of the following
    packet counts them.
    """

    def __init__(
        self,
        out_dir: Path,
        classes: Sequence[EventClass],
        n_cpus: int,
        begin_ts: int,
        trace_uuid: bytes,
        contexts: dict[int, tuple[int, int, bytes]] | None,
        packet_bytes: int = 128 * 1024,
        lost_prob: float = 0.0,
        seed: int = 0,
        drop_until: int = 0,
    ) -> None:
        self._packet_bytes = packet_bytes
        self._limit = packet_bytes - PACKET_PREAMBLE - MAX_EVENT_BYTES
        self._uuid = trace_uuid
        self._contexts = contexts
        self._lost_prob = lost_prob
        self._drop_until = drop_until  # never discard later events: the trace end stays put
        self._rng = random.Random(seed)
        self.stats = WriteStats()
        ctx_fmt = "ii16s" if contexts is not None else ""
        self._compact: list[struct.Struct | None] = [None] * 32
        self._extended: list[struct.Struct | None] = [None] * 32
        self._variable: list[list[Segment] | None] = [None] * 32
        for cls in classes:
            kinds = [k for _, k in cls.fields]
            if _VARIABLE.intersection(kinds):  # header + context here, payload by segments
                self._variable[cls.id] = _segments(kinds)
                kinds = []
            payload = "".join("16s" if k == "comm" else _FMT[k] for k in kinds)
            self._compact[cls.id] = struct.Struct("<I" + ctx_fmt + payload)
            self._extended[cls.id] = struct.Struct("<BIQ" + ctx_fmt + payload)
        out_dir.mkdir(parents=True, exist_ok=True)
        self._streams = [
            _Stream(cpu, open(out_dir / f"channel0_{cpu}", "wb"), begin_ts, prev_ts=begin_ts)  # noqa: SIM115 (closed by close()/finish())
            for cpu in range(n_cpus)
        ]

    def write(self, cpu: int, events: Sequence[tuple[Any, ...]]) -> None:
        """Append events (time-ordered for this CPU) to the CPU's stream."""
        if not events:
            return
        st = self._streams[cpu]
        self.stats.written.update(ev[1] for ev in events)
        compact = self._compact
        extended = self._extended
        variable = self._variable
        contexts = self._contexts
        limit = self._limit
        body = st.body
        prev = st.prev_ts
        for ev in events:
            if st.dropping and ev[0] < self._drop_until:
                st.dropping -= 1
                st.discarded += 1
                self.stats.discarded += 1
                self.stats.written[ev[1]] -= 1
                continue
            ts = ev[0]
            cid = ev[1]
            if ts < prev:
                raise ValueError(f"cpu {cpu}: event at {ts} before {prev}, streams must be ordered")
            args = ev[3:]
            segments = variable[cid]
            if segments is not None:
                tail = _pack_variable(segments, args)
                args = ()
            else:
                tail = b""
            if contexts is not None:
                args = contexts[ev[2]] + args
            if ts - prev < TS_LIMIT:
                body += compact[cid].pack(cid | ((ts & TS_MASK) << 5), *args)
            else:
                body += extended[cid].pack(EXTENDED_ID, cid, ts, *args)
            if tail:
                body += tail
            prev = ts
            if len(body) > limit:
                st.prev_ts = st.last_ts = prev
                self._close_packet(st, prev, full=True)
                body = st.body
                prev = st.prev_ts
        st.prev_ts = st.last_ts = prev

    def _close_packet(self, st: _Stream, end_ts: int, full: bool) -> None:
        content = PACKET_PREAMBLE + len(st.body)
        size = self._packet_bytes if full else -(-content // PAGE) * PAGE
        head = _HEADER.pack(CTF_MAGIC, self._uuid, 0, st.cpu) + _CONTEXT.pack(
            st.begin, end_ts, content * 8, size * 8, st.seq, st.discarded, st.cpu
        )
        st.file.write(head)
        st.file.write(st.body)
        st.file.write(bytes(size - content))
        self.stats.packets += 1
        self.stats.bytes += size
        st.seq += 1
        st.begin = end_ts
        st.prev_ts = end_ts
        st.body = bytearray()
        if self._lost_prob and self._rng.random() < self._lost_prob:
            st.dropping = self._rng.randint(20, 400)

    def close(self, end_ts: int) -> WriteStats:
        """Flush every stream's last packet, ending all of them at `end_ts`."""
        for st in self._streams:
            st.dropping = 0
            self._close_packet(st, max(end_ts, st.last_ts), full=False)
            st.file.close()
        return self.stats

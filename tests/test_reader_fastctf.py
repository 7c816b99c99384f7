"""The fast CTF decoder (w2a_tui.trace.fastctf): the same tuples as babeltrace2 on every
real trace and every simulator scenario, declines what it does not support (the reader
then falls back to babeltrace2), and refuses corrupt packets with one sentence."""

from __future__ import annotations

import os
import re
import shutil
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import real_trace, real_trace_names
from tests.support.trace_copies import SMALL_TRACE, copy_trace, trace_with_lost_events
from w2a_tui.errors import BadTraceError
from w2a_tui.sim.generate import generate
from w2a_tui.sim.scenarios import SCENARIOS, get_scenario, with_overrides
from w2a_tui.trace import open_trace
from w2a_tui.trace.fastctf import FastTrace, Unsupported
from w2a_tui.trace.fastctf.codegen import Compiler, Wants
from w2a_tui.trace.fastctf.metadata_file import metadata_text
from w2a_tui.trace.fastctf.tsdl import _Parser, parse_metadata, tokenize
from w2a_tui.trace.fastctf.types import StructType

NOT_LTTNG = {"tc-perf-taskset2"}  # perf's CTF converter: falling back is acceptable


def _read(path: Path, reader: str, **kwargs: Any) -> tuple[str, list[tuple[Any, ...]]]:
    os.environ["W2A_READER"] = reader
    try:
        source = open_trace(path)
        events = [e for batch in source.iter_batches(**kwargs) for e in batch]
    finally:
        del os.environ["W2A_READER"]
    return source.decoder, events


@pytest.mark.parametrize("name", real_trace_names())
def test_every_real_trace_decodes_like_babeltrace2(name: str) -> None:
    """Whole trace, all known kinds, against bt2's native decoder (itself checked against
    the public API by test_reader). LTTng traces must not be declined."""
    decoder, fast = _read(real_trace(name), "fast")
    assert decoder == ("bt2" if name in NOT_LTTNG else "fast")
    _, reference = _read(real_trace(name), "bt2")
    assert fast == reference
    assert fast


@pytest.mark.parametrize(
    "name",
    # big-endian; 16-bit large headers and 32-bit alignment (ARM); one stream in 3 files
    ["tc-flipping-endianness", "tc-bug446190", "babeltrace-tracefile-rotation"],
)
def test_odd_real_traces_equal_the_public_api(name: str) -> None:
    decoder, fast = _read(real_trace(name), "fast")
    assert decoder == "fast"
    assert fast == _read(real_trace(name), "public")[1]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fastctf-sim")
    made = {}
    for name in sorted(SCENARIOS):
        generate(root / name, with_overrides(get_scenario(name), seconds=0.02, seed=5))
        made[name] = root / name
    return made


def test_every_simulator_scenario_equals_the_public_api(scenarios: dict[str, Path]) -> None:
    for name, path in scenarios.items():
        decoder, fast = _read(path, "fast")
        assert decoder == "fast", name
        assert fast == _read(path, "public")[1], name


def test_lost_events_equal_babeltrace2(tmp_path: Path) -> None:
    """Discarded-event tuples (count, begin, end, CPU): from a first packet (count unknown),
    from later packets, and from the simulator's ring-buffer losses."""
    simulated = tmp_path / "sim-lost"
    generate(simulated, with_overrides(get_scenario("lost"), seconds=0.05, seed=3))
    for path in (
        trace_with_lost_events(tmp_path, lost=7, first=0),
        trace_with_lost_events(tmp_path, lost=7, first=1),
        simulated,
    ):
        decoder, fast = _read(path, "fast")
        lost = [e for e in fast if e[2] == 90]
        assert decoder == "fast" and lost
        assert fast == _read(path, "bt2")[1]


def test_clock_other_than_1ghz_converts_like_babeltrace2(
    tmp_path: Path, scenarios: dict[str, Path]
) -> None:
    """babeltrace2 converts cycles with double arithmetic when freq != 1 GHz; offset_s and
    an offset in cycles above freq are normalised first: every timestamp must match."""
    trace = copy_trace(scenarios["timer"], tmp_path / "freq")
    text = (trace / "metadata").read_text()
    text = text.replace("freq = 1000000000;", "freq = 2399987654; offset_s = 1500000000;")
    text = re.sub(r"offset = \d+;", "offset = 5123456789123;", text)
    (trace / "metadata").write_text(text)
    decoder, fast = _read(trace, "fast")
    assert decoder == "fast"
    assert fast == _read(trace, "public")[1]


def test_kind_filter_and_counts_match_babeltrace2() -> None:
    path = real_trace("tracevizlab-simple-kernel")
    kinds = {10, 11, 30}  # sched_switch, sched_waking, irq_handler_entry
    assert _read(path, "fast", kinds=kinds)[1] == _read(path, "bt2", kinds=kinds)[1]
    counts = {}
    for reader in ("fast", "bt2"):
        os.environ["W2A_READER"] = reader
        try:
            counts[reader] = open_trace(path).count_events()
        finally:
            del os.environ["W2A_READER"]
    assert counts["fast"] == counts["bt2"]


@pytest.mark.parametrize(
    ("field", "decoder", "why"),
    [
        ("floating_point { exp_dig = 11; mant_dig = 53; align = 8; }", "fast", ""),
        ("integer { size = 64; align = 8; map = clock.monotonic.value; }", "bt2", "clock"),
    ],
)
def test_unsupported_metadata_falls_back_to_babeltrace2(
    tmp_path: Path, scenarios: dict[str, Path], field: str, decoder: str, why: str
) -> None:
    """A field of a class the analysis decodes: a double is skipped (the analysis reads no
    reals), a clock update outside the event header is declined when opened and the bt2
    path reads the trace (the class has no event, so the data is still valid)."""
    trace = copy_trace(scenarios["timer"], tmp_path / "float")
    text = (trace / "metadata").read_text()
    text = text.replace(
        "_errno;\n",
        f"_errno;\n\t\t{field} _f;\n",
    )
    (trace / "metadata").write_text(text)
    os.environ["W2A_READER"] = "fast"
    try:
        source = open_trace(trace)
    finally:
        del os.environ["W2A_READER"]
    assert source.decoder == decoder
    assert why in source.fast_declined
    assert _read(trace, "fast")[1] == _read(trace, "public")[1]


def test_reader_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (("", "fast"), ("fast", "fast"), ("bt2", "bt2"), ("native", "bt2")):
        monkeypatch.setenv("W2A_READER", value)
        assert open_trace(SMALL_TRACE).decoder == expected
    monkeypatch.setenv("W2A_READER", "public")
    assert open_trace(SMALL_TRACE).decoder == "public"
    monkeypatch.setenv("W2A_READER", "turbo")
    with pytest.raises(BadTraceError, match="W2A_READER=turbo is not a reader"):
        open_trace(SMALL_TRACE)


# -- corrupt packets: checked by the fast indexer itself -----------------------------------

_PACKET_SIZE_AT, _CONTENT_SIZE_AT = 56, 48  # lttng-modules 2.11 packet context


def _ports() -> list[str]:
    meta = parse_metadata(metadata_text(SMALL_TRACE / "metadata"))
    assert meta.uuid is not None
    return [f"{uuid.UUID(bytes=meta.uuid)} | 0 | {cpu}" for cpu in range(8)]


def _patched(tmp_path: Path, at: int, fmt: str, value: int) -> Path:
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    stream = trace / "k_3"
    data = bytearray(stream.read_bytes())
    struct.pack_into(fmt, data, at, value)
    stream.write_bytes(bytes(data))
    return trace


def test_bad_magic_is_one_sentence(tmp_path: Path) -> None:
    trace = _patched(tmp_path, 0, "<I", 0xDEADBEEF)
    with pytest.raises(BadTraceError, match=r"stream file k_3, packet at byte 0: bad magic"):
        FastTrace.open([(trace, _ports())])


def test_content_beyond_packet_is_one_sentence(tmp_path: Path) -> None:
    size = struct.unpack_from("<Q", (SMALL_TRACE / "k_3").read_bytes(), _PACKET_SIZE_AT)[0]
    trace = _patched(tmp_path, _CONTENT_SIZE_AT, "<Q", size + 8)
    with pytest.raises(BadTraceError, match="content larger than the packet"):
        FastTrace.open([(trace, _ports())])


def test_truncated_stream_is_one_sentence(tmp_path: Path) -> None:
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    os.truncate(trace / "k_3", (trace / "k_3").stat().st_size // 2 + 1000)
    with pytest.raises(BadTraceError) as caught:
        FastTrace.open([(trace, _ports())])
    message = caught.value.message
    assert "stream file k_3" in message and "declared but only" in message
    assert message.endswith("record it again.") and "\n" not in message


def test_stream_grouping_must_match_babeltrace2_ports(tmp_path: Path) -> None:
    with pytest.raises(Unsupported, match="differ from babeltrace2's ports"):
        FastTrace.open([(SMALL_TRACE, _ports()[:-1])])
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    shutil.rmtree(trace / "index")  # not a stream file: ignored like babeltrace2 does
    assert len(FastTrace.open([(trace, _ports())]).ports()) == 8


# -- bit fields and byte orders, on hand-packed bytes -------------------------------------

_TSDL = """/* CTF 1.8 */
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
trace { major = 1; minor = 8; byte_order = %s; };
struct s {
    integer { size = 5; align = 1; signed = false; } a;
    integer { size = 27; align = 1; signed = true; } b;
    integer { size = 3; align = 1; signed = false; byte_order = be; } c;
    integer { size = 13; align = 1; signed = false; byte_order = be; } d;
    uint8_t n;
    integer { size = 16; align = 16; signed = false; } seq[n];
    string name;
    enum : uint8_t { x = 0, y = 1 ... 3 } tag;
    variant <tag> { uint8_t x; integer { size = 32; align = 32; signed = true; } y; } v;
    integer { size = 8; align = 8; signed = 0; encoding = UTF8; } text[4];
};
"""


def _decode(order: str, data: bytes) -> tuple[Any, ...]:
    parser = _Parser(tokenize(_TSDL % order))
    parser.parse()
    layout: StructType = parser.structs["s"]
    compiler = Compiler(order, None, {})
    compiler.start(known=64)
    names = [n for n, _ in layout.members]
    wanted = ["a", "b", "c", "d", "name", "tag", "text"]
    top = {names.index(n): f"w_{n}" for n in wanted}
    compiler.scope(layout, Wants(top=top))
    compiler.flush()
    compiler.emit(f"return p, ({', '.join(top[names.index(n)] for n in wanted)},)")
    function = compiler.build("probe", "buf, p")
    end, values = function(data, 0)
    assert end == len(data) * 8
    return tuple(values)


def _packed(order: str, a: int, b: int, tag: int) -> bytes:
    word = (a | ((b & (2**27 - 1)) << 5)) if order == "le" else ((a << 27) | (b & (2**27 - 1)))
    head = struct.pack("<I" if order == "le" else ">I", word)
    c, d = 5, 4321
    bits = (c << 13) | d  # big-endian fields: most significant bit first
    endian = "<" if order == "le" else ">"
    seq = struct.pack(f"{endian}HH", 7, 8)
    # n at byte 6, then one padding byte: the sequence's 16-bit elements align on 2 bytes
    body = head + struct.pack(">H", bits) + bytes([2, 0]) + seq + b"host\x00" + bytes([tag])
    if tag:
        body += bytes(-len(body) % 4) + struct.pack(f"{endian}i", -5)
    else:
        body += bytes([9])
    return body + b"ab\x00z"


@pytest.mark.parametrize("order", ["le", "be"])
@pytest.mark.parametrize("tag", [0, 2])
def test_bit_fields_sequences_strings_and_variants(order: str, tag: int) -> None:
    values = _decode(order, _packed(order, 17, -1234567, tag))
    assert values == (17, -1234567, 5, 4321, "host", tag, "ab")

"""Damaged copies of small real traces, built in tmp_path for the reader and CLI tests."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from paths import REAL_TRACES

SMALL_TRACE = REAL_TRACES / "tracevizlab-simple-kernel" / "simple-kernel"
MANY_THREADS = REAL_TRACES / "tc-many-threads" / "many-threads"

# lttng-modules >= 2.8 packet layout (checked below on every packet we patch):
# header magic u32, uuid[16], stream_id u32, stream_instance_id u64 = 32 bytes, then
# timestamp_begin, timestamp_end, content_size, packet_size, packet_seq_num u64,
# events_discarded u64 ("unsigned long" on x86_64), cpu_id u32.
_CTF_MAGIC = 0xC1FC1FC1
_PACKET_SIZE_AT = 56
_DISCARDED_AT = 72
_CPU_ID_AT = 80


def copy_trace(source: Path, dest: Path) -> Path:
    """A writable copy of a read-only real trace."""
    shutil.copytree(source, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def trace_with_lost_events(tmp_path: Path, lost: int = 7, first: int = 1) -> Path:
    """One stream (CPU 5) of tc-many-threads whose packets `first`.. report `lost` discarded
    events (events_discarded is cumulative per stream in LTTng, so every later packet gets
    it; from packet 0, the count before the trace began is unknown)."""
    dest = tmp_path / f"lost{first}"
    dest.mkdir()
    shutil.copy(MANY_THREADS / "metadata", dest / "metadata")
    stream = dest / "channel0_5"
    shutil.copy(MANY_THREADS / "channel0_5", stream)
    data = bytearray(stream.read_bytes())
    offset = index = 0
    while offset < len(data):
        magic = struct.unpack_from("<I", data, offset)[0]
        cpu = struct.unpack_from("<I", data, offset + _CPU_ID_AT)[0]
        assert magic == _CTF_MAGIC and cpu == 5, "unexpected packet layout in channel0_5"
        size_bits = struct.unpack_from("<Q", data, offset + _PACKET_SIZE_AT)[0]
        if index >= first:
            discarded = struct.unpack_from("<Q", data, offset + _DISCARDED_AT)[0]
            struct.pack_into("<Q", data, offset + _DISCARDED_AT, discarded + lost)
        offset += size_bits // 8
        index += 1
    assert index >= 2, "need two packets to report lost events between them"
    stream.write_bytes(bytes(data))
    return dest

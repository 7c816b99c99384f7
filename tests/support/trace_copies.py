"""Damaged copies of small real traces, built in tmp_path for the reader and CLI tests."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from tests.support.paths import ctf_dir

SMALL_TRACE = ctf_dir("tracevizlab-simple-kernel")
ROTATED = ctf_dir("babeltrace-tracefile-rotation")
LOST_CPU = 1
"""The CPU of the stream `trace_with_lost_events` keeps: three files of one packet each."""

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
    """One stream (CPU `LOST_CPU`, split over three files) of babeltrace-tracefile-rotation
    whose packets `first`.. report `lost` discarded events (events_discarded is cumulative
    per stream in LTTng, so every later packet gets it; from packet 0, the count before the
    trace began is unknown)."""
    dest = tmp_path / f"lost{first}"
    dest.mkdir()
    shutil.copy(ROTATED / "metadata", dest / "metadata")
    index = 0
    for source in sorted(ROTATED.glob(f"mychan_{LOST_CPU}_*")):
        stream = dest / source.name
        data = bytearray(source.read_bytes())
        offset = 0
        while offset < len(data):
            magic = struct.unpack_from("<I", data, offset)[0]
            cpu = struct.unpack_from("<I", data, offset + _CPU_ID_AT)[0]
            assert magic == _CTF_MAGIC and cpu == LOST_CPU, f"unexpected packet in {source.name}"
            size_bits = struct.unpack_from("<Q", data, offset + _PACKET_SIZE_AT)[0]
            if index >= first:
                discarded = struct.unpack_from("<Q", data, offset + _DISCARDED_AT)[0]
                struct.pack_into("<Q", data, offset + _DISCARDED_AT, discarded + lost)
            offset += size_bits // 8
            index += 1
        stream.write_bytes(bytes(data))
    assert index >= 2, "need two packets to report lost events between them"
    return dest

"""Forging caches the way an attacker would: read a cache file's header and arrays,
edit them, and write the file again with every checksum right."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from w2a_tui.store import cache


def unpack(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """A cache file's header and arrays (copies, ready to edit)."""
    data = path.read_bytes()
    _, _, _, hlen, _ = cache._PREAMBLE.unpack_from(data, 0)
    start = cache._PREAMBLE.size + hlen
    header = json.loads(data[cache._PREAMBLE.size : start])
    arrays = {}
    for name, entry in header["arrays"].items():
        dtype = np.dtype(entry["dtype"])
        count = int(np.prod(entry["shape"]))
        flat = np.frombuffer(data, dtype, count, start + entry["offset"]).copy()
        arrays[name] = flat.reshape(entry["shape"])
    return header, arrays


def repack(path: Path, header: dict[str, Any], arrays: dict[str, Any], body: bytes = b"") -> None:
    """Write the file again with every checksum right (what a forger would do)."""
    payload = bytearray(header["payload_size"])
    for name, entry in header["arrays"].items():
        raw = np.ascontiguousarray(arrays[name]).tobytes()
        payload[entry["offset"] : entry["offset"] + len(raw)] = raw
        entry["crc32"] = zlib.crc32(raw)
    body = body or json.dumps(header).encode()
    body += b" " * (-(cache._PREAMBLE.size + len(body)) % 64)
    preamble = cache._PREAMBLE.pack(
        cache._MAGIC, cache.FORMAT_VERSION, cache.ANALYSIS_VERSION, len(body), zlib.crc32(body)
    )
    path.write_bytes(preamble + body + bytes(payload))

"""The TSDL text of a trace's `metadata` file, plain or packetized (LTTng writes packets)."""

from __future__ import annotations

import struct
from pathlib import Path

from w2a_tui.trace.fastctf.types import Unsupported

_PACKET_MAGIC = 0x75D11D57
# magic, uuid[16], checksum, content_size, packet_size, compression, encryption,
# checksum scheme, major, minor: 37 bytes.
_HEADER = {"<": struct.Struct("<I16sIIIBBBBB"), ">": struct.Struct(">I16sIIIBBBBB")}


def metadata_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith(b"/* CTF"):
        return data.decode("utf-8", "surrogateescape")
    order = _byte_order(data)
    header = _HEADER[order]
    parts: list[bytes] = []
    at = 0
    while at < len(data):
        if len(data) - at < header.size:
            raise Unsupported("metadata: truncated packet header")
        magic, _, _, content, size, compression, encryption, checksum, major, minor = (
            header.unpack_from(data, at)
        )
        if magic != _PACKET_MAGIC:
            raise Unsupported("metadata: bad packet magic")
        if compression or encryption or checksum or (major, minor) != (1, 8):
            raise Unsupported("metadata: compressed, encrypted or checksummed packets")
        if size % 8 or content % 8 or content > size or content < header.size * 8:
            raise Unsupported("metadata: bad packet sizes")
        if at + size // 8 > len(data) or size == 0:
            raise Unsupported("metadata: truncated packet")
        parts.append(data[at + header.size : at + content // 8])
        at += size // 8
    return b"".join(parts).decode("utf-8", "surrogateescape")


def _byte_order(data: bytes) -> str:
    if len(data) >= 4:
        if struct.unpack_from("<I", data)[0] == _PACKET_MAGIC:
            return "<"
        if struct.unpack_from(">I", data)[0] == _PACKET_MAGIC:
            return ">"
    raise Unsupported("metadata: neither text nor packets")

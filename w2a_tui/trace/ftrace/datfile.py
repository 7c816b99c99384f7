"""The `trace.dat` container written by `trace-cmd record` / `extract`: versions 6 and 7.

Layout (trace-cmd.dat.v6(5) / v7(5)): a magic (`\\x17\\x08D` + `tracing`), the version as
a string, endianness, user-space long size and page size. Version 6 then holds, in order,
the ring-buffer header formats, the ftrace and event format files, kallsyms, printk
formats, saved command lines, the CPU count, options and a `flyrecord` table of
(offset, size) per CPU. Version 7 names a compression algorithm and points to a chain of
options sections; every other piece is a section that an option points to, optionally
compressed (zlib or zstd), and a BUFFER option gives the per-CPU data of each instance,
compressed in chunks when the file is.

`DatFile` parses everything but the per-CPU data, which `cpu_pages` hands out lazily one
ring-buffer page (sub-buffer) at a time.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from w2a_tui.trace.ftrace.formats import (
    EventFormat,
    FormatError,
    PageHeader,
    parse_format,
    parse_header_page,
)

MAGIC: Final = b"\x17\x08Dtracing"

# Option / section ids (trace-cmd's enum tracecmd_file_options).
OPT_DONE: Final = 0
OPT_DATE: Final = 1
OPT_CPUSTAT: Final = 2
OPT_BUFFER: Final = 3
OPT_TRACECLOCK: Final = 4
OPT_UNAME: Final = 5
OPT_OFFSET: Final = 7
OPT_CPUCOUNT: Final = 8
OPT_VERSION: Final = 9
OPT_TSC2NSEC: Final = 14
OPT_HEADER_INFO: Final = 16
OPT_FTRACE_EVENTS: Final = 17
OPT_EVENT_FORMATS: Final = 18
OPT_KALLSYMS: Final = 19
OPT_PRINTK: Final = 20
OPT_CMDLINES: Final = 21
OPT_BUFFER_TEXT: Final = 22

_SECTION_COMPRESSED: Final = 1


class DatError(ValueError):
    """A trace.dat that cannot be read; the message is one sentence for the user."""


@dataclass(slots=True)
class CpuData:
    cpu: int
    offset: int
    size: int  # bytes in the file (compressed size when the file is compressed)


@dataclass(slots=True)
class DatFile:
    path: Path
    version: int
    endian: str  # struct prefix: "<" or ">"
    long_size: int
    page_size: int
    compression: str = "none"
    compression_version: str = ""
    page_header: PageHeader = field(default_factory=PageHeader)
    formats: dict[int, EventFormat] = field(default_factory=dict)
    cmdlines: dict[int, str] = field(default_factory=dict)
    cpus: list[CpuData] = field(default_factory=list)
    cpu_count: int = 0
    clock: str = ""
    tsc_mult: int = 0
    tsc_shift: int = 0
    ts_offset: int = 0
    uname: str = ""
    tracecmd_version: str = ""
    cpustats: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)  # other instances, not read
    kallsyms: bytes = b""
    _map: Any = None

    # -- timestamps --------------------------------------------------------------------

    def to_ns(self) -> Callable[[int], int] | None:
        """The conversion trace-cmd report applies to raw timestamps, None when identity."""
        mult, shift, offset = self.tsc_mult, self.tsc_shift, self.ts_offset
        if mult:
            return lambda ts: ((ts * mult) >> shift) + offset
        if offset:
            return lambda ts: ts + offset
        return None

    # -- CPU data ----------------------------------------------------------------------

    def cpu_pages(self, data: CpuData) -> Iterator[tuple[Any, int]]:
        """(buffer, offset) of every page of one CPU's data, in file order."""
        page = self.page_size
        if self.compression == "none":
            end = data.offset + data.size
            buf = self._mapping()
            for start in range(data.offset, end - page + 1, page):
                yield buf, start
            return
        decompress = _decompressor(self.compression)
        buf = self._mapping()
        pos = data.offset
        (count,) = struct.unpack_from(self.endian + "I", buf, pos)
        pos += 4
        for _ in range(count):
            zsize, size = struct.unpack_from(self.endian + "II", buf, pos)
            pos += 8
            chunk = decompress(bytes(buf[pos : pos + zsize]), size)
            pos += zsize
            for start in range(0, len(chunk) - page + 1, page):
                yield chunk, start

    def page_count(self, data: CpuData) -> int:
        """How many pages `cpu_pages` will hand out for this CPU (chunk headers only)."""
        if self.compression == "none":
            return data.size // self.page_size
        buf = self._mapping()
        pos = data.offset
        (count,) = struct.unpack_from(self.endian + "I", buf, pos)
        pos += 4
        total = 0
        for _ in range(count):
            zsize, size = struct.unpack_from(self.endian + "II", buf, pos)
            pos += 8 + zsize
            total += size
        return total // self.page_size

    def _mapping(self) -> Any:
        if self._map is None:
            with self.path.open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def is_dat(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _decompressor(name: str) -> Callable[[bytes, int], bytes]:
    if name == "zlib":
        return lambda data, size: zlib.decompress(data)
    if name == "zstd":
        try:
            import zstandard
        except ImportError as err:  # pragma: no cover - installed by scripts/setup.sh
            raise DatError(
                "this trace.dat is zstd-compressed and the Python module `zstandard` is "
                "missing; install python3-zstandard (apt) or zstandard (pip)."
            ) from err
        decompressor = zstandard.ZstdDecompressor()
        return lambda data, size: decompressor.decompress(data, max_output_size=size)
    raise DatError(f"this trace.dat is compressed with {name}, which w2a-tui cannot read.")


class _Reader:
    """A cursor over bytes with the file's endianness."""

    def __init__(self, data: Any, pos: int, endian: str) -> None:
        self.data = data
        self.pos = pos
        self.endian = endian

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DatError("it ends in the middle of its header (truncated copy?)")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def u16(self) -> int:
        return int(struct.unpack(self.endian + "H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(self.endian + "I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(self.endian + "Q", self.take(8))[0])

    def cstr(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise DatError("it ends in the middle of its header (truncated copy?)")
        out = bytes(self.data[self.pos : end]).decode("utf-8", "replace")
        self.pos = end + 1
        return out


def read_dat(path: Path) -> DatFile:
    """Parse a trace.dat's header, formats and options; DatError when it cannot."""
    size = path.stat().st_size
    if size < 32:
        raise DatError("it is too short to be a trace.dat")
    with path.open("rb") as handle:
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _parse(path, data)
    except (struct.error, IndexError) as err:
        raise DatError("it ends in the middle of its header (truncated copy?)") from err
    except FormatError as err:
        raise DatError(f"one of its event formats cannot be parsed ({err})") from err
    finally:
        data.close()


def _parse(path: Path, data: Any) -> DatFile:
    if bytes(data[: len(MAGIC)]) != MAGIC:
        raise DatError("it does not start with the trace.dat magic")
    reader = _Reader(data, len(MAGIC), "<")
    version_text = reader.cstr()
    try:
        version = int(version_text)
    except ValueError as err:
        raise DatError(f"its version {version_text!r} is not a number") from err
    if version not in (6, 7):
        raise DatError(f"it is trace.dat version {version}; w2a-tui reads versions 6 and 7")
    endian = ">" if reader.take(1) == b"\x01" else "<"
    reader.endian = endian
    long_size = reader.take(1)[0]
    page_size = reader.u32()
    dat = DatFile(path, version, endian, long_size, page_size)
    if version == 6:
        _parse_v6(dat, reader)
    else:
        _parse_v7(dat, reader)
    if not dat.formats:
        raise DatError("it holds no event formats")
    return dat


# -- version 6 -------------------------------------------------------------------------


def _parse_v6(dat: DatFile, reader: _Reader) -> None:
    _read_header_info(dat, reader)
    _read_ftrace_formats(dat, reader)
    _read_event_formats(dat, reader)
    dat.kallsyms = reader.take(reader.u32())
    reader.take(reader.u32())  # printk formats
    _read_cmdlines(dat, reader)
    dat.cpu_count = reader.u32()
    kind = reader.take(10)
    if kind.startswith(b"options"):
        while True:
            option = reader.u16()
            if option == OPT_DONE:
                break
            _apply_option(dat, option, reader.take(reader.u32()))
        kind = reader.take(10)
    if kind.startswith(b"latency"):
        raise DatError("it holds a latency-tracer text buffer, not flyrecord events")
    if not kind.startswith(b"flyrecord"):
        raise DatError("its CPU data table is missing (no `flyrecord` marker)")
    for cpu in range(dat.cpu_count):
        offset, size = reader.u64(), reader.u64()
        dat.cpus.append(CpuData(cpu, offset, size))


# -- version 7 -------------------------------------------------------------------------


def _parse_v7(dat: DatFile, reader: _Reader) -> None:
    dat.compression = reader.cstr()
    dat.compression_version = reader.cstr()
    offset = reader.u64()
    sections: dict[int, int] = {}
    seen: set[int] = set()
    while offset and offset not in seen:
        seen.add(offset)
        content = _section(dat, reader.data, offset, OPT_DONE)
        offset = _read_options_v7(dat, _Reader(content, 0, dat.endian), sections)
    for section_id, handler in (
        (OPT_HEADER_INFO, _read_header_info),
        (OPT_FTRACE_EVENTS, _read_ftrace_formats),
        (OPT_EVENT_FORMATS, _read_event_formats),
        (OPT_CMDLINES, _read_cmdlines),
        (OPT_KALLSYMS, _read_kallsyms),
    ):
        if section_id in sections:
            content = _section(dat, reader.data, sections[section_id], section_id)
            handler(dat, _Reader(content, 0, dat.endian))


def _section(dat: DatFile, data: Any, offset: int, expected: int) -> bytes:
    reader = _Reader(data, offset, dat.endian)
    section_id = reader.u16()
    flags = reader.u16()
    reader.u32()  # description string id
    size = reader.u64()
    if section_id != expected:
        raise DatError(f"its section at offset {offset} is not of the expected kind")
    if not flags & _SECTION_COMPRESSED:
        return reader.take(size)
    zsize, usize = reader.u32(), reader.u32()
    try:
        return _decompressor(dat.compression)(reader.take(zsize), usize)
    except (zlib.error, ValueError) as err:
        if isinstance(err, DatError):
            raise
        raise DatError(f"its compressed section at offset {offset} is damaged") from err
    except Exception as err:  # zstandard.ZstdError is not a ValueError
        raise DatError(f"its compressed section at offset {offset} is damaged") from err


def _read_options_v7(dat: DatFile, reader: _Reader, sections: dict[int, int]) -> int:
    """Apply one options section; returns the offset of the next one (0: none)."""
    while reader.pos < len(reader.data):
        option = reader.u16()
        payload = reader.take(reader.u32())
        if option == OPT_DONE:
            return int(struct.unpack(dat.endian + "Q", payload[:8])[0]) if payload else 0
        if option in (
            OPT_HEADER_INFO,
            OPT_FTRACE_EVENTS,
            OPT_EVENT_FORMATS,
            OPT_CMDLINES,
            OPT_KALLSYMS,
        ):
            sections[option] = int(struct.unpack(dat.endian + "Q", payload[:8])[0])
        elif option == OPT_BUFFER:
            _read_buffer_option(dat, payload)
        elif option == OPT_BUFFER_TEXT:
            raise DatError("it holds a latency-tracer text buffer, not flyrecord events")
        else:
            _apply_option(dat, option, payload)
    return 0


def _read_buffer_option(dat: DatFile, payload: bytes) -> None:
    reader = _Reader(payload, 0, dat.endian)
    reader.u64()  # offset of the BUFFER FLYRECORD section
    name = reader.cstr()
    clock = reader.cstr()
    page_size = reader.u32()
    count = reader.u32()
    cpus = []
    for _ in range(count):
        cpu = reader.u32()
        offset, size = reader.u64(), reader.u64()
        cpus.append(CpuData(cpu, offset, size))
    if name:
        dat.instances.append(name)
        return
    dat.cpus = cpus
    dat.page_size = page_size
    if clock:
        dat.clock = clock


# -- pieces shared by both versions ----------------------------------------------------


def _apply_option(dat: DatFile, option: int, payload: bytes) -> None:
    text = payload.split(b"\0", 1)[0].decode("utf-8", "replace")
    if option == OPT_TRACECLOCK:
        if not dat.clock:
            dat.clock = _selected_clock(text)
    elif option == OPT_UNAME:
        dat.uname = text
    elif option == OPT_VERSION:
        dat.tracecmd_version = text
    elif option == OPT_CPUSTAT:
        dat.cpustats.append(text)
    elif option == OPT_CPUCOUNT and len(payload) >= 4:
        dat.cpu_count = int(struct.unpack(dat.endian + "I", payload[:4])[0])
    elif option == OPT_DATE:
        dat.ts_offset += _number(text) * 1000
    elif option == OPT_OFFSET:
        dat.ts_offset += _number(text)
    elif option == OPT_TSC2NSEC and len(payload) >= 16:
        dat.tsc_mult, dat.tsc_shift = struct.unpack(dat.endian + "II", payload[:8])


def _number(text: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        return 0


def _selected_clock(text: str) -> str:
    """`[local] global counter` -> `local`."""
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else text.strip()


def _read_header_info(dat: DatFile, reader: _Reader) -> None:
    if reader.take(12) != b"header_page\0":
        raise DatError("its ring-buffer page header format is missing")
    dat.page_header = parse_header_page(reader.take(reader.u64()).decode("utf-8", "replace"))
    if reader.take(13) != b"header_event\0":
        raise DatError("its ring-buffer event header format is missing")
    reader.take(reader.u64())


def _read_ftrace_formats(dat: DatFile, reader: _Reader) -> None:
    for _ in range(reader.u32()):
        _add_format(dat, reader.take(reader.u64()), "ftrace")


def _read_event_formats(dat: DatFile, reader: _Reader) -> None:
    for _ in range(reader.u32()):
        system = reader.cstr()
        for _ in range(reader.u32()):
            _add_format(dat, reader.take(reader.u64()), system)


def _add_format(dat: DatFile, raw: bytes, system: str) -> None:
    fmt = parse_format(raw.decode("utf-8", "replace"), system)
    dat.formats[fmt.id] = fmt


def _read_kallsyms(dat: DatFile, reader: _Reader) -> None:
    dat.kallsyms = reader.take(reader.u32())


def symbol_table(kallsyms: bytes) -> tuple[list[int], list[str]]:
    """/proc/kallsyms text -> (sorted addresses, names), for address -> function name."""
    pairs = []
    for line in kallsyms.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            try:
                pairs.append((int(parts[0], 16), parts[2]))
            except ValueError:
                continue
    pairs.sort()
    return [a for a, _ in pairs], [n for _, n in pairs]


def _read_cmdlines(dat: DatFile, reader: _Reader) -> None:
    text = reader.take(reader.u64()).decode("utf-8", "replace")
    for line in text.splitlines():
        pid, _, comm = line.strip().partition(" ")
        if pid.isdigit():
            dat.cmdlines[int(pid)] = comm

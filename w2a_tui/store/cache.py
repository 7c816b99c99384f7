"""On-disk cache of an analysis, so opening a trace a second time does not re-read it.

One file per trace: a fixed preamble, a JSON header (identity of the trace, versions, meta,
VMs, warnings, lane records, evidence strings, array directory) and the store's columns as
raw little-endian arrays at 64-byte aligned offsets.

Where: beside the trace, `<parent>/<trace name>.w2a-cache` (never inside a CTF directory:
babeltrace2 would try to decode any extra file there as a data stream), else under
`$XDG_CACHE_HOME/w2a-tui/` (default `~/.cache/w2a-tui/`), named after the trace's absolute
path. Beside the trace only when that folder is writable by us and not by every user
without the sticky bit (anyone could swap files there): then the per-user folder is used,
and the first write says so once on stderr.

Writing never follows a symlink and never opens a name someone else could have prepared:
the bytes go to a new file created with `O_CREAT|O_EXCL|O_NOFOLLOW` under a random name in
the same folder (mode 0600), then renamed over the final name (a symlink there is replaced,
not followed). Temporary files left by a killed writer are removed at the next write.

Reading: a cache is used only if it is a regular file (a symlink is not followed) owned by
us, root or the trace's owner, its format version, `ANALYSIS_VERSION` and the trace
identity all match, every checksum (CRC-32 of the header and of each array) is right, and
its content passes `cache_check` (types, ranges, columns consistent); anything else is a
miss and the trace is analysed again. The file is read into memory, not mapped: a cache
truncated while the TUI shows it cannot bring the process down (SIGBUS). Never pickle: the
file is data only.

Identity of a trace: every directory under the trace path that holds a file named
`metadata` is a CTF trace; each regular file inside such a directory (recursively, so the
`index/` files too) contributes its path relative to the trace path, its size, its mtime in
ns and a BLAKE2 digest of its content: the whole file when small (the metadata and the
packet indexes, which are small), else its first and last 64 KiB and 16 blocks of 4 KiB spread
evenly between them (a rewrite that keeps size and mtime still changes the key unless it
touches only bytes between those blocks). Relative names keep a cache valid when the trace
folder and its cache are moved together.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

# The analysis owns its version; re-exported here because it is part of the cache key.
from w2a_tui.analysis.version import ANALYSIS_VERSION as ANALYSIS_VERSION
from w2a_tui.model import AnalysisResult, TraceMeta, VmInfo
from w2a_tui.store.cache_check import CacheInvalid, check_columns, check_header
from w2a_tui.store.evidence_table import COLUMNS as EVIDENCE_COLUMNS
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.store.store import LaneRecord, StateStore

# Bump when this file layout changes (4: content digests in the identity).
FORMAT_VERSION: Final = 4

SUFFIX: Final = ".w2a-cache"
_MAGIC: Final = b"W2ACACHE"
_PREAMBLE: Final = struct.Struct("<8sIIQI")  # magic, format, analysis, header length, header crc
_ALIGN: Final = 64
_TMP_MARK: Final = ".tmp-"
_LEFTOVER_AGE_S: Final = 3600  # a temp file this old is a leftover even if its pid lives
# Content digest of a trace file: whole up to _WHOLE bytes (metadata: up to _WHOLE_METADATA),
# else the first and last _EDGE bytes and _BLOCKS blocks of _BLOCK bytes between them.
_WHOLE: Final = 256 * 1024
_WHOLE_METADATA: Final = 64 * 1024 * 1024
_EDGE: Final = 64 * 1024
_BLOCK: Final = 4096
_BLOCKS: Final = 16
# A store takes about 30 bytes per interval and an interval needs an event of at least a
# few bytes: a payload beyond this many times the trace's size is not a cache of it.
_PAYLOAD_PER_TRACE_BYTE: Final = 64

Identity = list[tuple[str, int, int, str]]


# ------------------------------------------------------------------ locations


def _xdg_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "w2a-tui"


def _beside_path(trace: Path) -> Path:
    return trace.parent / f"{trace.name}{SUFFIX}"


def _xdg_path(trace: Path) -> Path:
    import hashlib  # hashlib, secrets, concurrent.futures: when used (not by --no-cache)

    digest = hashlib.sha256(str(trace).encode()).hexdigest()[:16]
    return _xdg_cache_dir() / f"{trace.name}-{digest}{SUFFIX}"


def _open_to_others(mode: int) -> bool:
    """Writable by every user without the sticky bit: anyone may rename or replace any
    file there, so nothing of ours is safe in it."""
    return bool(mode & stat.S_IWOTH) and not mode & stat.S_ISVTX


def _is_safe_dir(directory: Path) -> bool:
    """A folder whose files only their owners can replace (see `_open_to_others`)."""
    try:
        st = directory.stat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and not _open_to_others(st.st_mode)


def _is_writable_dir(directory: Path) -> bool:
    """Writable by us, safe (see `_is_safe_dir`), and not marked read-only by its owner:
    root passes every permission check, but a folder whose mode has no write bit (a
    shared, read-only trace collection) should not receive our files even then."""
    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    if not _is_safe_dir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        return False
    return not (os.geteuid() == 0 and mode & 0o222 == 0)


def _candidates(trace_path: str | os.PathLike[str]) -> list[Path]:
    """Where a cache for this trace may be read from, preferred first."""
    trace = Path(trace_path).resolve()
    beside = _beside_path(trace)
    return [beside, _xdg_path(trace)] if _is_safe_dir(beside.parent) else [_xdg_path(trace)]


def cache_path_for(trace_path: str | os.PathLike[str]) -> Path:
    """Where `save_cached` writes the cache of this trace: beside it when its folder is
    writable and safe, else under `$XDG_CACHE_HOME/w2a-tui/`."""
    trace = Path(trace_path).resolve()
    beside = _beside_path(trace)
    return beside if _is_writable_dir(beside.parent) else _xdg_path(trace)


_told: set[Path] = set()


def _say_once_if_unsafe(folder: Path, instead: Path) -> None:
    """One line on stderr, once per folder and process, when the cache could have gone
    beside the trace but the folder is open to every user."""
    with contextlib.suppress(OSError):
        if folder not in _told and _open_to_others(folder.stat().st_mode):
            _told.add(folder)
            print(
                f"w2a-tui: note: {folder} is writable by every user and has no sticky bit, "
                f"so the cache goes to {instead.parent} instead.",
                file=sys.stderr,
            )


# ------------------------------------------------------------------- identity


def _digest(path: str, size: int, whole_up_to: int) -> str:
    """BLAKE2 of the file's content (sampled when big, see the module doc); "" when the
    file cannot be opened as a regular file."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        if size <= whole_up_to:
            spans = [(0, size)]
        else:
            step = (size - 2 * _EDGE) // (_BLOCKS + 1)
            middle = [(_EDGE + k * step, _BLOCK) for k in range(1, _BLOCKS + 1)]
            spans = [(0, _EDGE), *middle, (size - _EDGE, _EDGE)]
        for offset, length in spans:
            while length > 0:
                chunk = os.pread(fd, min(length, 1 << 20), offset)
                if not chunk:
                    break
                h.update(chunk)
                offset += len(chunk)
                length -= len(chunk)
    except OSError:
        return ""
    finally:
        os.close(fd)
    return h.hexdigest()


def trace_identity(trace_path: str | os.PathLike[str]) -> Identity:
    """(relative path, size, mtime ns, content digest) of every file of every CTF trace
    under the path, or of an ftrace file and its saved_tgids, sorted; empty when the path
    holds no trace."""
    root = Path(trace_path)
    files: list[Path] = []
    # A folder is an ftrace trace only through the trace.dat in it (`dat_target`): a CTF
    # folder is told apart without importing the readers (the TUI's first frame).
    if not root.is_dir() or (root / "trace.dat").exists():
        from w2a_tui.trace.ftrace.source import ftrace_files

        files = ftrace_files(root)  # a trace.dat or ftrace text, and its saved_tgids
    if files:
        base = root if root.is_dir() else root.parent
        found_files: Identity = []
        for file in files:
            st = file.stat()
            digest = _digest(str(file), st.st_size, _WHOLE)
            found_files.append((os.path.relpath(file, base), st.st_size, st.st_mtime_ns, digest))
        return sorted(found_files)
    if not root.is_dir():
        return []
    found: Identity = []
    ctf_dirs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if "metadata" in filenames:
            ctf_dirs.append(dirpath)
        if not any(dirpath == d or dirpath.startswith(d + os.sep) for d in ctf_dirs):
            continue
        for name in filenames:
            if SUFFIX in name:
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path, follow_symlinks=True)
            except OSError:
                continue
            whole = _WHOLE_METADATA if name == "metadata" else _WHOLE
            digest = _digest(path, st.st_size, whole) if stat.S_ISREG(st.st_mode) else ""
            rel = Path(os.path.relpath(path, root)).as_posix()
            found.append((rel, st.st_size, st.st_mtime_ns, digest))
    found.sort()
    return found


# ------------------------------------------------------------------- writing


def _raw(data: npt.NDArray[Any]) -> memoryview:
    """The bytes of a C-contiguous array, without copying."""
    return data.reshape(-1).view(np.uint8).data


def _store_arrays(store: StateStore) -> dict[str, npt.NDArray[Any]]:
    arrays = {f"store.{k}": v for k, v in store.columns().items()}
    arrays.update({f"evidence.{k}": v for k, v in store.evidence_table.columns().items()})
    return arrays


def _encode(store: StateStore, identity: Identity) -> tuple[bytes, list[npt.NDArray[Any]]]:
    """The header bytes (preamble + JSON, padded) and the arrays, in file order."""
    arrays = _store_arrays(store)
    directory: dict[str, dict[str, Any]] = {}
    ordered = []
    offset = 0  # relative to the end of the header
    for name, array in arrays.items():
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        directory[name] = {
            "offset": offset,
            "dtype": data.dtype.str,
            "shape": list(data.shape),
            "crc32": zlib.crc32(_raw(data)),
        }
        ordered.append(data)
        offset += -(-data.nbytes // _ALIGN) * _ALIGN
    header = {
        "identity": identity,
        "meta": asdict(store.meta),
        "vms": [asdict(vm) for vm in store.vms],
        "warnings": store.warnings,
        "lanes": [
            {
                "vm_pid": r.vm_pid,
                "vcpu": r.vcpu,
                "tid": r.tid,
                "comm": r.comm,
                "end_ns": r.end_ns,
                "exit_counts": [[k, v] for k, v in sorted(r.exit_counts.items())],
            }
            for r in store.records
        ],
        "strings": store.evidence_table.strings,
        "arrays": directory,
        "payload_size": offset,
        "checkpoint_every": store.checkpoint_every,
    }
    body = json.dumps(header, separators=(",", ":")).encode()
    body += b" " * (-(_PREAMBLE.size + len(body)) % _ALIGN)
    preamble = _PREAMBLE.pack(_MAGIC, FORMAT_VERSION, ANALYSIS_VERSION, len(body), zlib.crc32(body))
    return preamble + body, ordered


def _temp_prefix(final_name: str) -> str:
    return f".{final_name}{_TMP_MARK}"


def _create_temp(dir_fd: int, final_name: str) -> tuple[str, int]:
    """A new, empty file of ours in the folder: `O_EXCL|O_NOFOLLOW` under a random name,
    so no file or symlink planted in advance can be opened in its place."""
    import secrets

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        name = f"{_temp_prefix(final_name)}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            return name, os.open(name, flags, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {final_name}")


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def _remove_leftovers(dir_fd: int, final_name: str) -> None:
    """Delete our temporary files for this cache whose writer is gone (killed mid-write)
    or that are over an hour old. Only regular files we own are touched."""
    prefix = _temp_prefix(final_name)
    euid = os.geteuid()
    now = time.time()
    for name in os.listdir(dir_fd):
        if not name.startswith(prefix):
            continue
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != euid:
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        stale = now - st.st_mtime > _LEFTOVER_AGE_S
        if stale or not (pid_text.isdigit() and _writer_alive(int(pid_text))):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)


def _write(path: Path, store: StateStore, identity: Identity) -> None:
    """Write atomically: a new temporary file in the same folder, then rename over."""
    head, arrays = _encode(store, identity)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _remove_leftovers(dir_fd, path.name)
        tmp, fd = _create_temp(dir_fd, path.name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(head)
                for data in arrays:
                    out.write(_raw(data))
                    out.write(b"\0" * (-data.nbytes % _ALIGN))
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


def save_store(
    trace_path: str | os.PathLike[str], store: StateStore, identity: Identity | None = None
) -> Path | None:
    """Cache a store for this trace; the path written, None if nowhere writable or the path
    holds no CTF trace. `identity` is the trace identity taken *before* the analysis read
    it (so a trace changed meanwhile is not cached as if unchanged)."""
    identity = trace_identity(trace_path) if identity is None else identity
    if not identity:
        return None
    trace = Path(trace_path).resolve()
    beside, xdg = _beside_path(trace), _xdg_path(trace)
    if not _is_writable_dir(beside.parent):
        _say_once_if_unsafe(beside.parent, xdg)
    for path in (beside, xdg) if _is_writable_dir(beside.parent) else (xdg,):
        try:
            _write(path, store, identity)
        except OSError:
            continue
        return path
    return None


def save_cached(trace_path: str | os.PathLike[str], result: AnalysisResult) -> Path | None:
    """Cache an analysis result for this trace (see `save_store`)."""
    return save_store(trace_path, StateStore.from_result(result))


# ------------------------------------------------------------------- reading


def _trusted_uids(trace_path: str | os.PathLike[str]) -> set[int]:
    """Whose cache files we believe: ours, root's, and the trace owner's (who could
    write anything into the trace itself)."""
    uids = {os.geteuid(), 0}
    with contextlib.suppress(OSError):
        uids.add(os.stat(trace_path).st_uid)
    return uids


def _read_exact(fd: int, size: int, offset: int) -> npt.NDArray[np.uint8]:
    """`size` bytes at `offset`, into a buffer of our own (never a mapping of the file)."""
    buf = np.empty(size, dtype=np.uint8)
    view = buf.data
    done = 0
    while done < size:
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise CacheInvalid("file shorter than its header says")
        done += n
    return buf


def _read(path: Path, identity: Identity, trusted: set[int]) -> StateStore:
    """The store in the file, every byte of it checked (raises one of `_MISS` if not)."""
    fd, size = _open_trusted(path, trusted)
    try:
        header, start = _parse_header(fd, size, identity)
        return _parse_payload(fd, header, start)
    finally:
        os.close(fd)


def _open_trusted(path: Path, trusted: set[int]) -> tuple[int, int]:
    """(fd, size) of a regular file owned by a trusted uid; a symlink is not followed."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CacheInvalid("not a regular file")
        if st.st_uid not in trusted:
            raise CacheInvalid(f"owned by uid {st.st_uid}, not by us or the trace's owner")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def check_head(path: Path, identity: Identity, trusted: set[int]) -> os.stat_result:
    """The file's status, if it looks like a current cache of this trace: owner,
    versions, header (checksum and content), identity and size; else raise one of
    `_MISS`. Its arrays are neither read nor checked: `_read` does all of it again before
    anything is built."""
    fd, size = _open_trusted(path, trusted)
    try:
        _parse_header(fd, size, identity)
        return os.fstat(fd)
    finally:
        os.close(fd)


def _parse_header(fd: int, size: int, identity: Identity) -> tuple[dict[str, Any], int]:
    """The checked JSON header and where the payload starts."""
    if size < _PREAMBLE.size:
        raise CacheInvalid("short")
    magic, fmt, analysis, hlen, hcrc = _PREAMBLE.unpack(os.pread(fd, _PREAMBLE.size, 0))
    if magic != _MAGIC or fmt != FORMAT_VERSION or analysis != ANALYSIS_VERSION:
        raise CacheInvalid("version")
    start = _PREAMBLE.size + hlen
    if start > size:
        raise CacheInvalid("truncated header")
    body = _read_exact(fd, hlen, _PREAMBLE.size).tobytes()
    if zlib.crc32(body) != hcrc:
        raise CacheInvalid("header checksum")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise CacheInvalid("header is not JSON (or nests too deep)") from e
    header = check_header(parsed)
    if [tuple(x) for x in header["identity"]] != identity:
        raise CacheInvalid("stale")
    payload_size = header["payload_size"]
    if start + payload_size != size:
        raise CacheInvalid("size")
    trace_bytes = sum(entry[1] for entry in identity)
    if payload_size > _PAYLOAD_PER_TRACE_BYTE * trace_bytes + (1 << 20):
        raise CacheInvalid("payload far bigger than the trace")
    return header, start


def _parse_payload(fd: int, header: dict[str, Any], start: int) -> StateStore:
    """The store built from the payload's arrays, once both their checksums and their
    content (`cache_check`, which needs no checksum to be safe) pass. The checksums run
    in a thread of their own meanwhile: zlib releases the GIL, so a second core halves
    the wait."""
    from concurrent.futures import ThreadPoolExecutor

    payload = _read_exact(fd, header["payload_size"], start)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header["arrays"].items():
        dtype = np.dtype(entry["dtype"])
        count = int(np.prod(entry["shape"], dtype=np.int64))
        data = payload[entry["offset"] : entry["offset"] + count * dtype.itemsize].view(dtype)
        arrays[name] = data.reshape(entry["shape"])
    with ThreadPoolExecutor(1) as pool:
        checksums = pool.submit(_bad_checksum, header, arrays)
        try:
            store = _build(header, arrays)
        finally:
            bad = checksums.result()
    if bad:
        raise CacheInvalid(f"array {bad} checksum")
    return store


def _bad_checksum(header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> str:
    """The name of the first array whose CRC-32 is not the header's ("" if none)."""
    for name, entry in header["arrays"].items():
        if zlib.crc32(_raw(arrays[name])) != entry["crc32"]:
            return str(name)
    return ""


def _build(header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> StateStore:
    meta = TraceMeta(**header["meta"])
    vms = [VmInfo(**vm) for vm in header["vms"]]
    records = [
        LaneRecord(
            r["vm_pid"],
            r["vcpu"],
            r["tid"],
            r["comm"],
            r["end_ns"],
            {int(k): int(v) for k, v in r["exit_counts"]},
        )
        for r in header["lanes"]
    ]
    table = EvidenceTable(
        {name: arrays[f"evidence.{name}"] for name in EVIDENCE_COLUMNS}, header["strings"]
    )
    s = {name[len("store.") :]: a for name, a in arrays.items() if name.startswith("store.")}
    every = header["checkpoint_every"]
    if every < 2 or every % 2:
        raise CacheInvalid("checkpoint_every")
    ends = np.array([r.end_ns for r in records], dtype=np.int64)
    check_columns(s, ends, len(table), every)
    return StateStore(
        meta=meta,
        vms=vms,
        warnings=list(header["warnings"]),
        records=records,
        lane_off=s["lane_off"],
        starts=s["starts"],
        states=s["states"],
        exits=s["exits"],
        evidence=s["evidence"],
        gkey=s["gkey"],
        checkpoints=s["checkpoints"],
        group_off=s["group_off"],
        evidence_table=table,
        checkpoint_every=every,
    )


# Anything a damaged or crafted file can raise while being read and checked: a miss.
_MISS: Final = (
    CacheInvalid,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    ArithmeticError,
    RecursionError,
    MemoryError,
    struct.error,
)


def load_store(
    trace_path: str | os.PathLike[str], identity: Identity | None = None
) -> StateStore | None:
    """The cached store of this trace, ready to query; None on a miss or a stale, truncated,
    corrupt or crafted cache (never raises for those)."""
    identity = trace_identity(trace_path) if identity is None else identity
    if not identity:
        return None
    trusted = _trusted_uids(trace_path)
    for path in _candidates(trace_path):
        try:
            return _read(path, identity, trusted)
        except _MISS:
            continue
    return None


def load_cached(trace_path: str | os.PathLike[str]) -> AnalysisResult | None:
    """The cached analysis result of this trace, None on miss/stale/corrupt."""
    store = load_store(trace_path)
    return None if store is None else store.to_result()


def load_or_analyze(
    trace_path: str | os.PathLike[str],
    analyze: Callable[[], AnalysisResult],
    *,
    use_cache: bool = True,
) -> tuple[AnalysisResult, bool]:
    """(result, came_from_cache). With `use_cache=False` (`--no-cache`) the cache is
    neither read nor written."""
    if not use_cache:
        return analyze(), False
    identity = trace_identity(trace_path)
    store = load_store(trace_path, identity)
    if store is not None:
        return store.to_result(), True
    result = analyze()
    with contextlib.suppress(OSError, ValueError):
        save_store(trace_path, StateStore.from_result(result), identity)
    return result, False


def load_or_analyze_store(
    trace_path: str | os.PathLike[str],
    analyze: Callable[[], AnalysisResult],
    *,
    use_cache: bool = True,
) -> tuple[StateStore, bool]:
    """`load_or_analyze` for the TUI: returns the store itself (a cached store reopens
    without building any Python object per interval)."""
    if not use_cache:
        return StateStore.from_result(analyze(), release=True), False
    identity = trace_identity(trace_path)
    store = load_store(trace_path, identity)
    if store is not None:
        return store, True
    store = StateStore.from_result(analyze(), release=True)
    with contextlib.suppress(OSError, ValueError):
        save_store(trace_path, store, identity)
    return store, False

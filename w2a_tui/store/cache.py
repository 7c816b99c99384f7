"""On-disk cache of an analysis, so opening a trace a second time does not re-read it.

One file per trace: a fixed preamble, a JSON header (identity of the trace, versions, meta,
VMs, warnings, lane records, evidence strings, array directory) and the store's columns as
raw little-endian arrays at 64-byte aligned offsets, reopened zero-copy with `mmap`.

Where: beside the trace, `<parent>/<trace name>.w2a-cache` (never inside a CTF directory:
babeltrace2 would try to decode any extra file there as a data stream), else under
`$XDG_CACHE_HOME/w2a-tui/` (default `~/.cache/w2a-tui/`), named after the trace's absolute
path. A cache is used only if its format version, `ANALYSIS_VERSION` and the trace identity
all match and every checksum (CRC-32 of the header and of each array) is right; anything
else is a miss and the trace is analysed again. Never pickle: the file is data only.

Identity of a trace: every directory under the trace path that holds a file named
`metadata` is a CTF trace; each regular file inside such a directory (recursively, so the
`index/` files too: cheap to stat, and any rewrite of the trace changes them) contributes
its path relative to the trace path, its size and its mtime in ns. Relative names keep a
cache valid when the trace folder and its cache are moved together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import struct
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
from w2a_tui.store.evidence_table import COLUMNS as EVIDENCE_COLUMNS
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.store.store import LaneRecord, StateStore

# Bump when this file layout changes (3: per-state checkpoint rows replace the cum column).
FORMAT_VERSION: Final = 3

SUFFIX: Final = ".w2a-cache"
_MAGIC: Final = b"W2ACACHE"
_PREAMBLE: Final = struct.Struct("<8sIIQI")  # magic, format, analysis, header length, header crc
_ALIGN: Final = 64

Identity = list[tuple[str, int, int]]


# ------------------------------------------------------------------ locations


def _xdg_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "w2a-tui"


def _beside_path(trace: Path) -> Path:
    return trace.parent / f"{trace.name}{SUFFIX}"


def _xdg_path(trace: Path) -> Path:
    digest = hashlib.sha256(str(trace).encode()).hexdigest()[:16]
    return _xdg_cache_dir() / f"{trace.name}-{digest}{SUFFIX}"


def _is_writable_dir(directory: Path) -> bool:
    """Writable by us, and not marked read-only by its owner: root passes every permission
    check, but a folder whose mode has no write bit (a shared, read-only trace collection)
    should not receive our files even then."""
    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        return False
    return not (os.geteuid() == 0 and mode & 0o222 == 0)


def _candidates(trace_path: str | os.PathLike[str]) -> list[Path]:
    """Where a cache for this trace may live, preferred first."""
    trace = Path(trace_path).resolve()
    return [_beside_path(trace), _xdg_path(trace)]


def cache_path_for(trace_path: str | os.PathLike[str]) -> Path:
    """Where `save_cached` writes the cache of this trace: beside it when its folder is
    writable, else under `$XDG_CACHE_HOME/w2a-tui/`."""
    beside, xdg = _candidates(trace_path)
    return beside if _is_writable_dir(beside.parent) else xdg


# ------------------------------------------------------------------- identity


def trace_identity(trace_path: str | os.PathLike[str]) -> Identity:
    """(relative path, size, mtime ns) of every file of every CTF trace under the path,
    sorted; empty when the path holds no CTF trace."""
    root = Path(trace_path)
    if root.is_file():  # a one-file trace: trace-cmd's trace.dat, ftrace text
        st = root.stat()
        return [(root.name, st.st_size, st.st_mtime_ns)]
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
            rel = Path(os.path.relpath(path, root)).as_posix()
            found.append((rel, st.st_size, st.st_mtime_ns))
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


def _write(path: Path, store: StateStore, identity: Identity) -> None:
    """Write atomically: a temporary file in the same folder, then rename over."""
    head, arrays = _encode(store, identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            out.write(head)
            for data in arrays:
                out.write(_raw(data))
                out.write(b"\0" * (-data.nbytes % _ALIGN))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def save_store(
    trace_path: str | os.PathLike[str], store: StateStore, identity: Identity | None = None
) -> Path | None:
    """Cache a store for this trace; the path written, None if nowhere writable or the path
    holds no CTF trace. `identity` is the trace identity taken *before* the analysis read
    it (so a trace changed meanwhile is not cached as if unchanged)."""
    identity = trace_identity(trace_path) if identity is None else identity
    if not identity:
        return None
    beside, xdg = _candidates(trace_path)
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


class _Corrupt(Exception):
    """The file is not a valid, current cache of this trace."""


def _read(path: Path, identity: Identity) -> StateStore:
    with open(path, "rb") as f:
        try:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as e:  # empty file
            raise _Corrupt("empty") from e
    size = len(mapped)
    if size < _PREAMBLE.size:
        raise _Corrupt("short")
    magic, fmt, analysis, hlen, hcrc = _PREAMBLE.unpack_from(mapped, 0)
    if magic != _MAGIC or fmt != FORMAT_VERSION or analysis != ANALYSIS_VERSION:
        raise _Corrupt("version")
    start = _PREAMBLE.size + hlen
    if start > size:
        raise _Corrupt("truncated header")
    body = mapped[_PREAMBLE.size : start]
    if zlib.crc32(body) != hcrc:
        raise _Corrupt("header checksum")
    try:
        header = json.loads(body)
    except ValueError as e:
        raise _Corrupt("header") from e
    if [tuple(x) for x in header["identity"]] != identity:
        raise _Corrupt("stale")
    if start + header["payload_size"] != size:
        raise _Corrupt("size")
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header["arrays"].items():
        dtype = np.dtype(entry["dtype"])
        if dtype.kind not in "iu":
            raise _Corrupt(f"array {name} is not integers")
        count = int(np.prod(entry["shape"], dtype=np.int64))
        offset = start + entry["offset"]
        if offset + count * dtype.itemsize > size:
            raise _Corrupt("array past end")
        data = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
        if zlib.crc32(_raw(data)) != entry["crc32"]:
            raise _Corrupt(f"array {name} checksum")
        arrays[name] = data.reshape(entry["shape"])
    return _build(header, arrays)


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
        checkpoint_every=int(header["checkpoint_every"]),
    )


def load_store(
    trace_path: str | os.PathLike[str], identity: Identity | None = None
) -> StateStore | None:
    """The cached store of this trace, ready to query; None on a miss or a stale, truncated
    or corrupt cache (never raises for those)."""
    identity = trace_identity(trace_path) if identity is None else identity
    if not identity:
        return None
    for path in _candidates(trace_path):
        if not path.is_file():
            continue
        try:
            return _read(path, identity)
        except (_Corrupt, OSError, ValueError, KeyError, TypeError, IndexError):
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

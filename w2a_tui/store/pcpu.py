"""pCPU lanes in a store of their own (see `analysis.pcpu` for what the columns mean),
attached to the vCPU store as `store.pcpu`, and cached beside the vCPU cache: a sidecar
file written and read by the cache's own writer and reader (same format, same version
and trace-identity checks), so a stale or damaged sidecar is ignored, never trusted."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from functools import partial
from pathlib import Path

from w2a_tui.analysis.pcpu import lost_windows
from w2a_tui.model import Evidence, LaneData, State, TraceMeta
from w2a_tui.store import cache
from w2a_tui.store.evidence_table import EvidenceTable
from w2a_tui.store.store import StateStore

SIDECAR_SUFFIX = ".pcpu"


def pcpu_store(meta: TraceMeta, lanes: list[LaneData], evidence: list[Evidence]) -> StateStore:
    return StateStore.from_lanes(
        meta=meta,
        vms=[],
        lanes=lanes,
        evidence_table=EvidenceTable.from_list(evidence),
        warnings=[],
        release=True,
    )


def _sidecars(trace_path: str | os.PathLike[str]) -> list[Path]:
    return [p.with_name(p.name + SIDECAR_SUFFIX) for p in cache._candidates(trace_path)]


def save_pcpu(
    trace_path: str | os.PathLike[str], store: StateStore, identity: cache.Identity
) -> Path | None:
    """Write the pCPU store beside the vCPU cache (first writable place); None if none."""
    if not identity:
        return None
    for path in _sidecars(trace_path):
        with contextlib.suppress(OSError):
            cache._write(path, store, identity)
            return path
    return None


def load_pcpu(
    trace_path: str | os.PathLike[str], identity: cache.Identity | None = None
) -> StateStore | None:
    """The cached pCPU store of this trace, None on a miss or a stale/corrupt sidecar."""
    identity = cache.trace_identity(trace_path) if identity is None else identity
    if not identity:
        return None
    trusted = cache._trusted_uids(trace_path)  # as the cache: files of trusted owners only
    for path in _sidecars(trace_path):
        if path.is_file():
            with contextlib.suppress(Exception):
                return cache._read(path, identity, trusted)
    return None


def pcpu_loader(
    trace_path: str | os.PathLike[str], identity: cache.Identity
) -> Callable[[], StateStore | None] | None:
    """A reader of the cached pCPU store of this trace, when a sidecar's header says it is
    a current one (None: no such sidecar). Its arrays are read and checked, every byte as
    `load_pcpu` does, only when the reader is called (`StateStore.defer_pcpu`): opening a
    trace does not wait for them. A sidecar of ours that fails then is removed, so the
    next opening analyses the trace again and writes a sound one."""
    if not identity:
        return None
    trusted = cache._trusted_uids(trace_path)
    for path in _sidecars(trace_path):
        try:
            seen = cache.check_head(path, identity, trusted)
        except Exception:
            continue
        return partial(_read_or_discard, path, identity, trusted, _version(seen))
    return None


def _version(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_uid)


def _read_or_discard(
    path: Path, identity: cache.Identity, trusted: set[int], seen: tuple[int, ...]
) -> StateStore | None:
    """The sidecar's store; None if it fails, and then the file is removed when it is
    still the one whose header was checked (not one written since) and ours."""
    try:
        return cache._read(path, identity, trusted)
    except Exception:
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and _version(st) == seen and st.st_uid == os.geteuid():
                os.unlink(path)
        return None


def cpu_running(pcpu: StateStore, tid: int, t: int) -> int | None:
    """The host CPU whose lane shows thread `tid` at time `t` (None: on none of them)."""
    if tid < 0:
        return None
    for lane in range(len(pcpu.lanes)):
        iv = pcpu.interval_at(lane, t)
        if iv is not None and iv.evidence is not None and iv.evidence.next_tid == tid:
            return pcpu.lanes[lane].vcpu
    return None


def lane_of_cpu(pcpu: StateStore, cpu: int) -> int | None:
    return next((lane.index for lane in pcpu.lanes if lane.vcpu == cpu), None)


def lost_windows_of(pcpu: StateStore | None) -> list[tuple[int, int]]:
    """Where any host CPU lost events ([start, end) to its next recorded event), merged:
    what the ruler marks."""
    if pcpu is None or not pcpu.lanes:
        return []
    _lanes, starts, spent, _, whats = pcpu.rows_in_states(range(len(pcpu.lanes)), [State.UNKNOWN])
    return lost_windows(whats, starts, starts + spent)

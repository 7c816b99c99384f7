"""Bookmarks kept beside the trace's cache (`<cache>.bookmarks.json`), so `m` marks
survive quitting: a small JSON list of [time ns, lane], ignored when unreadable."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from w2a_tui.store import cache

SUFFIX = ".bookmarks.json"


def _paths(trace_path: str | os.PathLike[str]) -> list[Path]:
    return [p.with_name(p.name + SUFFIX) for p in cache._candidates(trace_path)]


def load_bookmarks(trace_path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    for path in _paths(trace_path):
        with contextlib.suppress(OSError, ValueError, TypeError):
            marks = json.loads(path.read_text())
            return [(int(t), int(lane)) for t, lane in marks]
    return []


def save_bookmarks(trace_path: str | os.PathLike[str], marks: list[tuple[int, int]]) -> None:
    """Write where the cache goes (beside the trace, else the user cache folder)."""
    for path in _paths(trace_path):
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps([[t, lane] for t, lane in marks]))
            os.replace(tmp, path)
            return

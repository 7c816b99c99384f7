"""Reading host kernel traces (CTF, via babeltrace2) into `w2a_tui.events` batches.

Only this package imports bt2. The analysis uses `open_trace` and `TraceSource` alone.

The readers are imported on first use of one of these names, not with the package: the
command line checks a path (`trace.discover`) and the TUI opens a cached trace without
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from w2a_tui.trace.fallback import read_trace
    from w2a_tui.trace.source import EventCounts, ReadProgress, TraceSource, open_trace

__all__ = ["EventCounts", "ReadProgress", "TraceSource", "open_trace", "read_trace"]


def __getattr__(name: str) -> Any:
    if name == "read_trace":
        from w2a_tui.trace import fallback

        return fallback.read_trace
    if name in __all__:
        from w2a_tui.trace import source

        return getattr(source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

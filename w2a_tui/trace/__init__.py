"""Reading host kernel traces (CTF, via babeltrace2) into `w2a_tui.events` batches.

Only this package imports bt2. The analysis uses `open_trace` and `TraceSource` alone.
"""

from __future__ import annotations

from w2a_tui.trace.fallback import read_trace
from w2a_tui.trace.source import EventCounts, ReadProgress, TraceSource, open_trace

__all__ = ["EventCounts", "ReadProgress", "TraceSource", "open_trace", "read_trace"]

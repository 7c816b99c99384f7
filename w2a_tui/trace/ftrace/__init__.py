"""ftrace input: trace-cmd's `trace.dat` (v6, v7) and the text of tracefs's `trace`, decoded
by our own readers into the same `w2a_tui.events` batches as the CTF path."""

from __future__ import annotations

from w2a_tui.trace.ftrace.source import FtraceSource, open_ftrace

__all__ = ["FtraceSource", "open_ftrace"]

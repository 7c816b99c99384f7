"""One pass over a trace, with babeltrace2 as the judge of damage.

Our own CTF decoder is the fast default; when it calls a trace damaged, babeltrace2 (the
reference) reads it again before that verdict reaches the user: a bug of ours must cost
time and a warning, never an analysis. When babeltrace2 fails too, our sentence stands,
since it names the stream file and the packet.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from w2a_tui.errors import BadTraceError
from w2a_tui.trace.source import TraceSource, open_trace, reader_choice

T = TypeVar("T")


def read_trace(path: str | os.PathLike[str], read: Callable[[TraceSource], T]) -> T:
    """`read(source)` over the trace at `path`, retried with babeltrace2 as above. The
    retry's source carries the warning in `meta.warnings`, so whatever `read` builds from
    the meta (the analysis's warnings, `info`'s report) shows it."""
    source: TraceSource | None = None
    try:
        source = open_trace(path)
        return read(source)
    except BadTraceError as err:
        if (source.decoder if source is not None else reader_choice()) != "fast":
            raise
        try:
            retry = open_trace(path, decoder="bt2")
            retry.meta.warnings.insert(
                0,
                f"w2a-tui's own CTF decoder could not read this trace ({err.message}); "
                "babeltrace2 read it instead.",
            )
            return read(retry)
        except BadTraceError:
            raise err from None

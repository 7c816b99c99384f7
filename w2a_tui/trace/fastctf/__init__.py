"""A pure-Python CTF 1.8 decoder for LTTng kernel traces: the reader's fast path.

Same tuples as the babeltrace2 decoders, several times faster; traces it cannot read
exactly (unsupported metadata, perf's converter output...) raise `Unsupported` when
opened, and the reader falls back to babeltrace2.
"""

from __future__ import annotations

from w2a_tui.trace.fastctf.reader import FastGraph, FastPortDecoder, FastTrace
from w2a_tui.trace.fastctf.types import Unsupported

__all__ = ["FastGraph", "FastPortDecoder", "FastTrace", "Unsupported"]

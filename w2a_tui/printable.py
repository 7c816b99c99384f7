"""Names from a trace made safe to show on a terminal.

Process names, VM names, host names, event names and paths come from the trace (or a
cache of it) and may hold any character: an escape sequence in a comm would recolour,
move the cursor or retitle the terminal of whoever runs `analyze`. Every human-readable
output (the `analyze` and `info` reports, the TUI) shows names through `printable`, which
writes each control character, invisible formatting character (bidi overrides,
zero-width) and undecodable byte as a visible escape. CSV and JSON keep names exact.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Final, TypeVar

T = TypeVar("T")

# C0 and C1 controls and DEL; line/paragraph separators; bidi embeddings, overrides and
# isolates; zero-width and other invisible format characters; tag characters; lone
# surrogates (bytes that were not UTF-8, kept by the decoders' `surrogateescape`).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000e0000-\U000e007f]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as `surrogateescape` keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every character that could act on a terminal (or hide itself) written
    as a visible escape: `\\x1b[41m` for ESC [ 4 1 m. Plain text is returned as is."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)


def printable_tree(value: T) -> T:
    """A copy of `value` with `printable` applied to every string inside it: dataclasses
    (field by field), lists, tuples, dict keys and values. For handing a whole report to a
    renderer at once; anything else is returned unchanged."""
    return _tree(value)  # type: ignore[no-any-return]


def _tree(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_tree(x) for x in value]
    if isinstance(value, tuple):
        return tuple(_tree(x) for x in value)
    if isinstance(value, dict):
        return {_tree(k): _tree(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        copy = dataclasses.replace(
            value, **{f.name: _tree(getattr(value, f.name)) for f in fields if f.init}
        )
        for f in fields:  # fields set after __init__ keep their (escaped) value too
            if not f.init:
                object.__setattr__(copy, f.name, _tree(getattr(value, f.name)))
        return copy
    return value

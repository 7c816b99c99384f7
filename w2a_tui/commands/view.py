"""`w2a-tui view TRACE` (or just `w2a-tui TRACE`): open the trace in the terminal UI."""

from __future__ import annotations

import argparse
from pathlib import Path

from w2a_tui.errors import BadTraceError, W2AError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", nargs="?", help="trace directory (LTTng CTF kernel trace)")
    parser.add_argument(
        "--no-cache", action="store_true", help="re-read the trace even if a cached analysis exists"
    )
    parser.add_argument(
        "--mono", action="store_true", help="draw states with glyphs, no colour (as NO_COLOR=1)"
    )


def run(args: argparse.Namespace) -> int:
    if not args.trace:
        raise W2AError("which trace? Give a trace directory: w2a-tui TRACE.")
    path = Path(args.trace)
    # Cheap checks before the UI starts: a missing path is one sentence on stderr.
    if not path.exists():
        raise BadTraceError(
            f"{args.trace} does not exist: give the path of an LTTng trace directory."
        )
    if not path.is_dir():
        raise BadTraceError(f"{args.trace} is not a directory: give an LTTng trace directory.")
    from w2a_tui.tui.app import W2AApp  # Textual loads only for this command

    app = W2AApp(str(path), use_cache=not args.no_cache, mono=True if args.mono else None)
    app.run()
    return int(app.return_code or 0)

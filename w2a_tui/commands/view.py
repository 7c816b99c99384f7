"""`w2a-tui view TRACE` (or just `w2a-tui TRACE`): open the trace in the terminal UI."""

from __future__ import annotations

import argparse
import sys

from w2a_tui.analysis.vectors import add_vectors_argument, resolve_vector_table
from w2a_tui.errors import W2AError
from w2a_tui.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", nargs="?", help="trace directory (LTTng CTF kernel trace)")
    parser.add_argument(
        "--no-cache", action="store_true", help="re-read the trace even if a cached analysis exists"
    )
    parser.add_argument(
        "--mono", action="store_true", help="draw states with glyphs, no colour (as NO_COLOR=1)"
    )
    add_vectors_argument(parser)


def run(args: argparse.Namespace) -> int:
    if not args.trace:
        raise W2AError("which trace? Give a trace directory: w2a-tui TRACE.")
    # Plain file-system checks before the UI starts: a missing path, a file, a folder
    # without any CTF trace get their one sentence on stderr and exit 2, not a screen.
    from w2a_tui.trace.discover import find_trace_dirs

    find_trace_dirs(args.trace)
    vector_table = resolve_vector_table(args.vectors)
    from w2a_tui.tui.app import W2AApp  # Textual loads only for this command

    app = W2AApp(
        args.trace,
        use_cache=not args.no_cache,
        mono=True if args.mono else None,
        vector_table=vector_table,
    )
    app.run()
    if app.error_message:
        # The app's screen is gone once it exits: repeat the sentence where it stays (the
        # terminal's scrollback), so the advice in it (a command to record) can be copied.
        print(f"w2a-tui: {printable(app.error_message)}", file=sys.stderr)
    return int(app.return_code or 0)

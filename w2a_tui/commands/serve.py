"""`w2a-tui serve TRACE [--host 127.0.0.1 --port 8000]`: the same TUI, same keys, in a web
browser, through textual-serve (each browser tab runs its own `w2a-tui view TRACE`).

The trace is analysed (and cached) before the server starts, so a bad trace is one
sentence here and every tab opens at once. Bound to the loopback address by default:
anyone who can reach the port can read the trace, so any other address gets a warning.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import shlex
import socket
import sys
from typing import Any

from w2a_tui.analysis.vectors import add_vectors_argument, resolve_vector_table
from w2a_tui.errors import EXIT_FAILURE, EXIT_OK, W2AError

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{static}css/xterm.css">
<script src="{static}js/textual.js"></script>
<style>
  html, body {{ margin: 0; height: 100%; background: #0c181f; }}
  #terminal {{ position: absolute; inset: 0; }}
  .closed {{ display: none; color: #ddd; font-family: monospace; padding: 2em; }}
  body.-closed .closed {{ display: block; }}
</style>
</head>
<body>
<div class="closed">Session ended. <a href="/">Open the trace again</a>.</div>
<div id="terminal" class="textual-terminal"
     data-session-websocket-url="{websocket}" data-font-size="{font_size}"></div>
</body>
</html>
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="trace directory (or an LTTng session folder)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, local only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--mono", action="store_true", help="draw states with glyphs, no colour")
    add_vectors_argument(parser)


def is_loopback(host: str) -> bool:
    """True when `host` (a name or an address) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def view_command(args: argparse.Namespace) -> str:
    """The shell command each browser tab runs: this Python, this package, this trace."""
    argv = [sys.executable, "-m", "w2a_tui", "view", args.trace]
    if args.mono:
        argv.append("--mono")
    if args.vectors:
        argv += ["--vectors", args.vectors]
    return shlex.join(argv)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise W2AError(f"--port {args.port} is not a TCP port (1-65535).")
    from w2a_tui.pipeline import load_store

    table = resolve_vector_table(args.vectors)
    store, _ = load_store(args.trace, vector_table=table)  # errors now, a warm cache for every tab
    if store.pcpu is None and store.pcpu_damaged:  # read in full: a damaged sidecar is
        load_store(args.trace, vector_table=table)  # removed, and rebuilt here, once
    try:
        from textual_serve.server import Server
    except ImportError as err:
        raise W2AError(
            "serve needs textual-serve: pip install 'w2a-tui[serve]'.", EXIT_FAILURE
        ) from err
    if not is_loopback(args.host):
        print(
            f"w2a-tui: warning: listening on {args.host}:{args.port}, not only on this "
            "machine: anyone who can reach that address can open this trace (thread names, "
            "VM names, timings). Use --host 127.0.0.1 with an SSH tunnel unless you mean it.",
            file=sys.stderr,
        )
    server = _server_class(Server)(
        view_command(args), host=args.host, port=args.port, title=f"w2a-tui {args.trace}"
    )
    print(
        f"w2a-tui: serving {args.trace} on http://{_url_host(args.host)}:{args.port}/ "
        "(Ctrl+C stops)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve()
    except OSError as err:
        raise W2AError(
            f"cannot listen on {args.host}:{args.port} ({err.strerror or err}); "
            "choose another --port."
        ) from err
    return EXIT_OK


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _server_class(base: type[Any]) -> type[Any]:
    """textual-serve's server with our own page: no fonts fetched from the internet (the
    hypervisor may have no route out), the websocket URL taken from the request's Host."""
    from aiohttp import web

    class W2AServer(base):  # type: ignore[misc]
        def initialize_logging(self) -> None:
            """textual-serve's banner and per-request log stay off our stderr."""

        async def on_startup(self, app: web.Application) -> None:
            """No banner: `run` already said where it serves."""

        async def handle_index(self, request: web.Request) -> web.Response:
            font_size = request.query.get("fontsize", "16")
            page = PAGE.format(
                title=html.escape(self.title),
                static="/static/",
                websocket=f"ws://{request.host}/ws",
                font_size=int(font_size) if font_size.isdigit() else 16,
            )
            return web.Response(text=page, content_type="text/html")

    return W2AServer

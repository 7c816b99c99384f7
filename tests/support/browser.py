"""Drive Debian's headless Chromium over its DevTools protocol (a small CDP client on
`websockets`), for the `w2a-tui serve` test and the browser screenshot.

Chromium is started with a fresh profile, no network but loopback (every other host name
resolves to nothing), and `--remote-debugging-port=0`: it writes the port it took into the
profile's DevToolsActivePort file. A script injected before the page loads keeps a copy of
everything the page's websocket receives (the app's terminal output), so a test can wait
for text that the canvas draws.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import websockets

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)

# Keeps the text of every websocket message the page receives in window.__w2aText.
RECORD_SOCKET = """
(() => {
  window.__w2aText = [];
  const decoder = new TextDecoder("utf-8", {fatal: false});
  const Native = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (event) => {
      const data = event.data;
      if (typeof data === "string") { window.__w2aText.push(data); }
      else if (data instanceof ArrayBuffer) { window.__w2aText.push(decoder.decode(data)); }
      else if (data && data.arrayBuffer) {
        data.arrayBuffer().then((b) => window.__w2aText.push(decoder.decode(b)));
      }
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise FileNotFoundError("chromium is missing: scripts/setup.sh installs it (apt)")
    return path


class Chromium:
    """A headless Chromium process with its own profile; `with Chromium() as c:`."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="w2a-chromium-"))
        self.size = (width, height)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> Chromium:
        args = [
            chromium_path(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.profile}",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if active.is_file() and active.read_text().strip():
                self.port = int(active.read_text().split()[0])
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("chromium did not open its DevTools port within 30 s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def page_socket(self) -> str:
        """The DevTools websocket URL of the first page."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])


class Page:
    """A CDP session on one page: `await page.call(method, **params)`."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), timeout=30))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply.get("result", {}).get("value")

    async def received_text(self) -> str:
        return str(await self.evaluate("(window.__w2aText || []).join('')") or "")

    async def wait_for_text(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = await self.received_text()
            if needle in text:
                return text
            await asyncio.sleep(0.25)
        raise TimeoutError(f"the page never received {needle!r} in {timeout:.0f} s")

    async def press(self, key: str) -> None:
        """One printable key, typed into the focused terminal."""
        await self.evaluate(
            "(document.querySelector('.xterm-helper-textarea') || document.body).focus()"
        )
        for kind in ("keyDown", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": key}
            if kind == "keyDown":
                params["text"] = key
            await self.call("Input.dispatchKeyEvent", **params)

    async def screenshot(self, path: Path) -> bytes:
        reply = await self.call("Page.captureScreenshot", format="png")
        data = base64.b64decode(reply["data"])
        path.write_bytes(data)
        return data


async def open_page(chromium: Chromium, url: str) -> tuple[Any, Page]:
    """Connect to Chromium's page, record its websocket traffic, load `url`."""
    socket = await websockets.connect(chromium.page_socket(), max_size=None)
    page = Page(socket)
    await page.call("Page.enable")
    await page.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SOCKET)
    await page.call("Page.navigate", url=url)
    return socket, page

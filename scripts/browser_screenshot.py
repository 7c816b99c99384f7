"""screenshots/serve-browser.png: the bundled sample served by `w2a-tui serve` and shown in
Debian's headless Chromium (driven over DevTools by tests/browser.py), as a user sees it.

    .venv/bin/python scripts/browser_screenshot.py
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import Chromium, open_page  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _shoot(chromium: Chromium, url: str, target: Path) -> None:
    connection, page = await open_page(chromium, url)
    try:
        await page.wait_for_text("qemu:db01", timeout=90)
        await asyncio.sleep(1.5)
        await page.screenshot(target)
    finally:
        await connection.close()


def main() -> int:
    target = ROOT / "screenshots" / "serve-browser.png"
    with tempfile.TemporaryDirectory(prefix="w2a-serve-shot-") as tmp:
        trace = Path(tmp) / "sample"
        shutil.copytree(ROOT / "traces" / "sample", trace)
        port = _free_port()
        cmd = [sys.executable, "-m", "w2a_tui", "serve", str(trace), "--port", str(port)]
        server = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("serve did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            with Chromium(width=1400, height=800) as chromium:
                asyncio.run(_shoot(chromium, f"http://127.0.0.1:{port}/", target))
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

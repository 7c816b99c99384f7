"""`w2a-tui serve`: the TUI in a real headless Chromium (Debian's, driven over DevTools),
served by textual-serve on a loopback port; and what it says before it serves."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import textual_serve.server

from tests.support.browser import Chromium, open_page
from tests.support.paths import REPO_ROOT, SAMPLE_TRACE
from w2a_tui.cli import main
from w2a_tui.commands.serve import is_loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    trace = tmp_path_factory.mktemp("serve") / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    port = _free_port()
    cmd = [sys.executable, "-m", "w2a_tui", "serve", str(trace), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_chromium_shows_the_lanes_and_a_key_changes_the_view(
    served: str, tmp_path: Path
) -> None:
    shots = (tmp_path / "lanes.png", tmp_path / "help.png")
    with Chromium() as chromium:
        connection, page = await open_page(chromium, served)
        try:
            before = await page.wait_for_text("qemu:db01", timeout=90)
            await asyncio.sleep(1.0)  # let the canvas draw the frame
            await page.screenshot(shots[0])
            await page.press("?")
            after = await page.wait_for_text("w2a-tui keys", timeout=30)
            await asyncio.sleep(1.0)
            await page.screenshot(shots[1])
        finally:
            await connection.close()
    # The app's own screen reached the browser: VM groups and vCPU lanes, then the help.
    for name in ("qemu:web01", "qemu:db01", "qemu:batch01", "vCPU 0", "vCPU 3"):
        assert name in before
    assert "w2a-tui keys" not in before and "w2a-tui keys" in after
    first, second = (p.read_bytes() for p in shots)
    assert first.startswith(b"\x89PNG") and len(first) > 20_000  # a drawn page, not blank
    assert first != second


def test_loopback_is_recognised() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")


def test_other_addresses_get_a_warning_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served_on: list[tuple[str, int, str]] = []

    def fake_serve(self: textual_serve.server.Server, debug: bool = False) -> None:
        served_on.append((self.host, self.port, self.command))

    # Only the listening is faked: nothing may listen beyond the loopback address here.
    monkeypatch.setattr(textual_serve.server.Server, "serve", fake_serve)
    assert main(["serve", str(SAMPLE_TRACE), "--host", "0.0.0.0", "--port", "8123"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "anyone who can reach" in err and "0.0.0.0:8123" in err
    host, port, command = served_on[0]
    assert (host, port) == ("0.0.0.0", 8123)
    assert "w2a_tui view" in command and str(SAMPLE_TRACE) in command
    assert main(["serve", str(SAMPLE_TRACE)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert served_on[1][:2] == ("127.0.0.1", 8000)


def test_bad_trace_and_busy_port_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(SAMPLE_TRACE), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "cannot listen" in err and "Traceback" not in err

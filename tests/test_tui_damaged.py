"""The TUI on a trace that made babeltrace2 abort the process: a sentence on the screen,
exit 2 after `q`, and a terminal that still echoes (an abort would have left it raw)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.support.damage import MAGIC_AT, SECOND_PACKET, sample_copy, write_field
from tests.support.paths import REPO_ROOT


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_the_tui_on_a_trace_that_aborted_babeltrace2(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    write_field(trace / "channel0_0", SECOND_PACKET + MAGIC_AT, 0xDEADBEEF, "<I")
    master, slave = pty.openpty()
    termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(slave))
    env = {k: v for k, v in os.environ.items() if k != "W2A_READER"}
    env.update({"TERM": "xterm-256color", "W2A_READER": "bt2", "COLUMNS": "100", "LINES": "30"})
    child = subprocess.Popen(
        [sys.executable, "-m", "w2a_tui", "view", "--no-cache", str(trace)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        screen = _read_until(master, b"readable", 120)
        assert b"readable" in screen, screen[-2000:]
        assert not termios.tcgetattr(slave)[3] & termios.ECHO  # the app runs the terminal raw
        os.write(master, b"q")
        status = child.wait(timeout=60)
        tail = _read_until(master, b"\n", 2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert status == 2, (status, tail[-2000:])
    assert termios.tcgetattr(slave)[3] & termios.ECHO, "the terminal was left without echo"
    os.close(master)
    os.close(slave)

"""`w2a-tui generate` shows how far it got on stderr (issue 12 item 9): a line redrawn in
place on a terminal, a few plain lines in a log, nothing extra for a short run."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

from w2a_tui.commands.generate import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_at_each_quarter_once_a_second_has_passed() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = Progress("generate mixed (5 s)", out, tty=False, clock=clock)
    clock.now += 0.5
    progress(0.3)  # too early: a short run stays quiet
    assert out.getvalue() == ""
    clock.now += 1.0
    progress(0.3)
    progress(0.4)  # same quarter: no new line
    clock.now += 2.0
    progress(0.8)
    progress(0.99)  # 100% is the summary line's job
    progress.done()
    assert out.getvalue().splitlines() == [
        "generate mixed (5 s): 25% simulated, 1.5 s",
        "generate mixed (5 s): 75% simulated, 3.5 s",
    ]


def test_a_terminal_gets_one_line_redrawn_at_most_five_times_a_second() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = Progress("generate mixed (5 s)", out, tty=True, clock=clock)
    progress(0.01)
    clock.now += 0.1
    progress(0.02)  # too soon after the last draw
    clock.now += 0.2
    progress(0.5)
    progress.done()
    assert out.getvalue() == (
        "\rgenerate mixed (5 s):   1% simulated, 0 s"
        "\rgenerate mixed (5 s):  50% simulated, 0 s"
        "\r\033[K"
    )
    assert "\n" not in out.getvalue()


def _generate(out: Path, *extra: str, stderr: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "w2a_tui", "generate", str(out), *extra]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)


def test_generate_on_a_terminal_redraws_its_line_then_prints_the_summary(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    proc = _generate(tmp_path / "t", "--seconds", "0.5", stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode()
    assert "\rgenerate mixed (0.5 s): " in text and "% simulated" in text
    before, _, after = text.rpartition("\r\033[K")
    assert before.count("\n") == 0  # the progress never scrolled the terminal
    assert after.startswith(f"{tmp_path / 't'}: ") and " events" in after


def test_generate_into_a_log_writes_plain_progress_lines(tmp_path: Path) -> None:
    # 4 VMs x 4 vCPUs for 2 s: several seconds of work, past the quiet first second.
    proc = _generate(
        tmp_path / "t", "--seconds", "2", "--vms", "4", "--vcpus", "4", stderr=subprocess.PIPE
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0
    lines = err.decode().splitlines()
    progress = [line for line in lines if "% simulated" in line]
    assert progress, lines
    assert all(line.startswith("generate mixed (2 s): ") for line in progress)
    percents = [int(line.split(": ")[1].split("%")[0]) for line in progress]
    assert percents == sorted(set(percents)) and set(percents) <= {25, 50, 75}
    assert "\r" not in err.decode() and "\033" not in err.decode()
    assert lines[-2].startswith(f"{tmp_path / 't'}: ")
    assert lines[-1].startswith("truth: ")

"""Bad input: exit status 2 and one clear sentence on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.trace_copies import SMALL_TRACE, copy_trace, trace_with_lost_events
from w2a_tui.cli import main


def _fails_clearly(args: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("w2a-tui: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_clearly(["info", str(tmp_path / "nope")], capsys, "does not exist", "metadata")


def test_file_instead_of_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "trace.tar.gz"
    path.write_bytes(b"\x1f\x8b not a directory")
    _fails_clearly(["info", str(path)], capsys, "is a file, not a trace directory")


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_clearly(["info", str(tmp_path)], capsys, "is empty")


def test_folder_of_unrelated_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(os.urandom(64))
    _fails_clearly(["info", str(tmp_path)], capsys, "holds no CTF trace")


def test_metadata_that_is_not_ctf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    (trace / "metadata").write_text("this is not TSDL\n")
    _fails_clearly(["info", str(trace)], capsys, "is not CTF metadata")


def test_corrupt_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    data = bytearray((trace / "metadata").read_bytes())
    at = data.find(b"event {")
    data[at : at + 7] = b"evXnt {"  # a TSDL syntax error inside the packetized metadata
    (trace / "metadata").write_bytes(bytes(data))
    _fails_clearly(["info", str(trace)], capsys, "is not a readable CTF trace", "metadata")


@pytest.mark.parametrize("keep_index", [True, False])
def test_truncated_stream_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_index: bool
) -> None:
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    if not keep_index:
        for idx in (trace / "index").iterdir():
            idx.unlink()
        (trace / "index").rmdir()
    stream = trace / "k_3"
    os.truncate(stream, stream.stat().st_size // 2 + 1000)  # cut inside a packet
    _fails_clearly(["info", str(trace)], capsys, "k_3", "is not a readable CTF trace")


def test_unreadable_stream_dangling_symlink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests run as root, so permissions cannot make a file unreadable: a stream file that
    is a symbolic link to a missing file is what an incomplete copy really produces."""
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    (trace / "k_2").unlink()
    (trace / "k_2").symlink_to(tmp_path / "elsewhere" / "k_2")
    _fails_clearly(["info", str(trace)], capsys, "k_2 is unreadable", "symbolic link")


def test_unreadable_stream_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A FIFO in place of a stream file would block a reader forever: refused up front."""
    trace = copy_trace(SMALL_TRACE, tmp_path / "t")
    (trace / "k_4").unlink()
    os.mkfifo(trace / "k_4")
    _fails_clearly(["info", str(trace)], capsys, "k_4 is unreadable", "FIFO")


def test_missing_trace_argument(capsys: pytest.CaptureFixture[str]) -> None:
    _fails_clearly(["info"], capsys, "give a trace directory")


def test_lost_events_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = trace_with_lost_events(tmp_path, lost=7)
    assert main(["info", str(trace)]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:3] == ["lost", "events", "7"] for line in out.splitlines()), out


def test_bad_input_through_a_real_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "info", str(tmp_path / "missing")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("w2a-tui: ")
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr

"""`w2a-tui record`: the commands per recorder, and a real 1-second tracefs recording on
this machine read back by `info`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2a_tui.cli import main
from w2a_tui.trace.ftrace.tracefs import TRACEFS_ROOTS, W2A_EVENTS


def _w2a(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "w2a_tui", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def tracefs() -> Path:
    """The machine's tracefs, mounted if it is not (CI runs as root)."""
    root = TRACEFS_ROOTS[0]
    if not (root / "trace").exists():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], check=True)
    assert (root / "trace").exists()
    return root


@pytest.mark.parametrize("via", ["lttng", "trace-cmd", "tracefs"])
def test_without_run_prints_the_commands_and_changes_nothing(tmp_path: Path, via: str) -> None:
    out = tmp_path / "rec"
    proc = _w2a("record", str(out), "--seconds", "5", "--via", via)
    assert proc.returncode == 0, proc.stderr
    assert not out.exists()
    text = proc.stdout
    assert "Nothing was changed" in text
    if via == "lttng":
        assert f"lttng create w2a --output={out}" in text
        assert "lttng add-context -k -t pid -t tid -t procname" in text and "sleep 5" in text
    elif via == "trace-cmd":
        assert "trace-cmd record -b 65536 -C local -O record-tgid" in text
        assert all(f"-e {e.replace('/', ':')}" in text for e in W2A_EVENTS)
        assert f"w2a-tui view {out}/trace.dat" in text
    else:
        assert "echo 65536 >" in text and "options/record-tgid" in text
        assert all(e in text for e in W2A_EVENTS)
        assert f"w2a-tui view {out}/trace.txt.gz" in text


def test_default_recorder_is_what_the_host_has(tmp_path: Path) -> None:
    proc = _w2a("record", str(tmp_path / "rec"))
    assert proc.returncode == 0
    assert proc.stdout.startswith("This host has: ")
    assert "trace-cmd" in proc.stdout.splitlines()[0]  # installed by scripts/setup.sh


def test_run_records_one_second_through_tracefs(tmp_path: Path, tracefs: Path) -> None:
    out = tmp_path / "rec"
    before = (tracefs / "options" / "record-tgid").read_text()
    instances = sorted(p.name for p in (tracefs / "instances").iterdir())
    proc = _w2a("record", str(out), "--run", "--seconds", "1", "--via", "tracefs")
    assert proc.returncode == 0, proc.stderr
    trace = out / "trace.txt.gz"
    assert f"w2a-tui view {trace}" in proc.stdout
    # Left as found: the global option and the instances.
    assert (tracefs / "options" / "record-tgid").read_text() == before
    assert sorted(p.name for p in (tracefs / "instances").iterdir()) == instances
    info = json.loads(_w2a("info", "--json", str(trace)).stdout)
    counts = info["counts"]
    assert counts.get("sched_switch", 0) > 0
    assert set(counts) <= {e.split("/")[1] for e in W2A_EVENTS}
    assert info["has_pid_tid"] is True  # saved_tgids kept beside the text
    assert 0.9e9 <= info["duration_ns"] <= 3e9
    assert (out / "saved_tgids").read_text().split("\n", 1)[0].split()[0].isdigit()


def test_no_tracefs_is_one_sentence(tmp_path: Path) -> None:
    proc = _w2a(
        "record", str(tmp_path / "rec"), "--run", "--via", "tracefs",
        "--tracefs", str(tmp_path / "nowhere"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "tracing is not available here: no tracefs is mounted" in proc.stderr


def test_tracefs_refusing_an_instance_is_one_sentence(tmp_path: Path) -> None:
    fake = tmp_path / "tracefs"
    fake.mkdir()
    (fake / "trace").write_text("")
    proc = _w2a(
        "record", str(tmp_path / "rec"), "--run", "--via", "tracefs", "--tracefs", str(fake)
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "refused a new tracing instance" in proc.stderr


def test_run_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["record", str(tmp_path / "rec"), "--run", "--via", "tracefs"]) == 2
    assert "recording needs root" in capsys.readouterr().err
    assert not (tmp_path / "rec").exists()


def test_out_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    proc = _w2a("record", str(tmp_path / "busy"), "--run")
    assert proc.returncode == 2 and "is not empty" in proc.stderr

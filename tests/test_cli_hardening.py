"""The CLI on hostile ground (issue 15): a full disk, deeply nested option files, odd
paths, an empty argument, an output aimed into the trace, and warnings that must reach
the user whatever the output is written to. Each: one sentence, exit 2, no traceback
(or, for warnings, the sentence on stderr and in the JSON)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT, SAMPLE_TRACE
from w2a_tui.cli import main

DEV_FULL = Path("/dev/full")


@pytest.fixture(autouse=True)
def private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_TRACE, tmp_path / "traces" / "sample"))


def one_sentence(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("w2a-tui: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def run_cli(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **kwargs.pop("env", {})}  # type: ignore[dict-item]
    run: subprocess.CompletedProcess[str] = subprocess.run(
        [sys.executable, "-m", "w2a_tui", *args],
        capture_output="stdout" not in kwargs,
        text=True,
        cwd=kwargs.pop("cwd", REPO_ROOT),
        env=env,
        timeout=300,
        **kwargs,  # type: ignore[call-overload]
    )
    return run


# ------------------------------------------------------------------ a full disk


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_to_a_full_disk_is_one_sentence(
    trace: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert DEV_FULL.exists()
    assert main(["export", str(trace), "--format", fmt, "-o", str(DEV_FULL)]) == 2
    one_sentence(capsys.readouterr().err, "/dev/full", "No space left on device")


@pytest.mark.parametrize(
    "args",
    [
        ["export"],
        ["export", "--format", "json"],
        ["analyze"],
        ["analyze", "--json"],
        ["info"],
        ["info", "--json"],
    ],
    ids=" ".join,
)
def test_stdout_on_a_full_disk_is_one_sentence(trace: Path, args: list[str]) -> None:
    with DEV_FULL.open("w") as full:
        run = run_cli([*args, str(trace)], stdout=full, stderr=subprocess.PIPE)
    assert run.returncode == 2, run.stderr
    one_sentence(run.stderr, "standard output", "No space left on device")


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_file_cut_short_by_a_full_disk_is_removed(trace: Path, tmp_path: Path) -> None:
    """A CSV that could not be written whole is not left behind to be taken for the
    export (a file size limit stands in for a full disk: the write fails with EFBIG)."""
    out = tmp_path / "out.csv"
    run = run_cli(["export", "--no-cache", str(trace), "-o", str(out)], preexec_fn=_limit_file_size)
    assert run.returncode == 2, run.stderr
    one_sentence(run.stderr, str(out), "File too large")
    assert not out.exists()


def test_a_closed_pipe_ends_quietly(trace: Path) -> None:
    run = subprocess.run(
        f"{sys.executable} -m w2a_tui export {trace} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert run.stdout.startswith("vm_pid,") and run.stderr == ""


# ------------------------------------------------------------------ odd inputs


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_deeply_nested_vectors_file_is_one_sentence(
    trace: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"deep{suffix}"
    depth = 100_000
    if suffix == ".json":
        path.write_text('{"vectors": ' + "[" * depth + "]" * depth + "}")
    else:
        path.write_text("vectors = " + "[" * depth + "]" * depth + "\n")
    assert main(["analyze", str(trace), "--vectors", str(path)]) == 2
    one_sentence(capsys.readouterr().err, "--vectors", "fix the file")


def test_info_on_proc_self_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "/proc/self"]) == 2
    one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("target", ["/dev/null", "a-file"])
def test_generate_onto_a_file_is_one_sentence(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if target == "a-file":
        target = str(tmp_path / "a-file")
        Path(target).write_text("keep me")
    assert main(["generate", target, "--seconds", "0.01"]) == 2
    one_sentence(capsys.readouterr().err, "is not a folder")
    assert target == "/dev/null" or Path(target).read_text() == "keep me"


@pytest.mark.parametrize("command", ["analyze", "info", "export", "view"])
def test_an_empty_trace_argument_is_refused_not_the_current_folder(
    trace: Path, command: str
) -> None:
    """`analyze ""` used to analyse whatever folder the user was in (here: a folder
    holding a trace, which it would have read and cached)."""
    run = run_cli([command, ""], cwd=trace.parent)
    assert run.returncode == 2, run.stdout
    one_sentence(run.stderr, "empty")
    assert run.stdout == ""
    assert sorted(p.name for p in trace.parent.iterdir()) == ["sample"]  # no cache written


def test_an_empty_output_argument_is_refused(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(trace), "-o", ""]) == 2
    one_sentence(capsys.readouterr().err, "-o is empty")


@pytest.mark.parametrize("where", ["metadata", "new.csv", ".", "link"])
def test_export_refuses_to_write_inside_the_trace(
    trace: Path, tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.read_bytes() for p in trace.iterdir()}
    target = trace / where
    if where == "link":  # a symlink outside that points inside
        target = tmp_path / "innocent.csv"
        target.symlink_to(trace / "metadata")
    assert main(["export", str(trace), "-o", str(target)]) == 2
    one_sentence(capsys.readouterr().err, "inside the trace", "elsewhere")
    assert {p.name: p.read_bytes() for p in trace.iterdir()} == before


# ------------------------------------------------------------------ warnings


@pytest.fixture
def damaged(trace: Path) -> Path:
    """The sample with one stream file emptied: a quarter of the intervals are missing,
    which the warnings must say whatever command writes the results."""
    (trace / "channel0_3").write_bytes(b"")
    return trace


def test_export_says_what_was_lost_on_stderr_and_in_json(
    damaged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_csv, out_json = tmp_path / "x.csv", tmp_path / "x.json"
    assert main(["export", "--no-cache", str(damaged), "-o", str(out_csv)]) == 0
    err = capsys.readouterr().err
    assert "w2a-tui: warning: " in err and "channel0_3" in err and "empty" in err
    assert main(["export", str(damaged), "--format", "json", "-o", str(out_json)]) == 0
    assert "channel0_3" in capsys.readouterr().err  # from the cache too
    data = json.loads(out_json.read_text())
    assert any("channel0_3" in w and "empty" in w for w in data["warnings"])
    assert len(data["intervals"]) == len(out_csv.read_text().splitlines()) - 1


def test_export_of_an_undamaged_trace_warns_of_nothing(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(trace), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["warnings"] == []


@pytest.mark.parametrize("args", [["analyze", "--json"], ["analyze"], ["info", "--json"]])
def test_every_result_writing_command_warns_on_stderr(
    damaged: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Output to a file or a pipe: the warnings also go to stderr (once)."""
    assert main([*args, str(damaged)]) == 0
    err = capsys.readouterr().err
    assert err.count("channel0_3") == 1 and err.startswith("w2a-tui: warning: ")

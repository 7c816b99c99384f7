"""Trace discovery below a folder (issue 12 item 9): it goes at most MAX_DEPTH levels down
(a big shared folder is not walked into unrelated trees), says so when it finds nothing,
and when it merges several trace directories a warning names them (info, analyze)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.trace_copies import SMALL_TRACE, copy_trace
from w2a_tui.cli import main
from w2a_tui.errors import BadTraceError
from w2a_tui.trace.discover import MAX_DEPTH, find_trace_dirs

SAMPLE = REPO_ROOT / "traces" / "sample"


def test_three_levels_down_is_found_four_is_not(tmp_path: Path) -> None:
    assert MAX_DEPTH == 3
    shallow = copy_trace(SMALL_TRACE, tmp_path / "a" / "sessions" / "s1" / "kernel")
    assert find_trace_dirs(tmp_path / "a") == [shallow]
    copy_trace(SMALL_TRACE, tmp_path / "b" / "x" / "sessions" / "s1" / "kernel")
    with pytest.raises(BadTraceError) as caught:
        find_trace_dirs(tmp_path / "b")
    assert "holds no CTF trace (no `metadata` file in it or up to 3 levels below)" in str(
        caught.value
    )


def test_a_deep_trace_is_refused_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_trace(SMALL_TRACE, tmp_path / "1" / "2" / "3" / "4")
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("w2a-tui: ") and "Traceback" not in err
    assert "up to 3 levels below" in err


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two LTTng sessions, each with its kernel/ trace (copies of the sample)."""
    root = tmp_path_factory.mktemp("sessions")
    for name in ("monday", "tuesday"):
        copy_trace(SAMPLE, root / name / "kernel")
    return root


def _merged(root: Path) -> str:
    return (
        f"{root} holds 2 kernel traces, read together as one trace: monday/kernel, "
        "tuesday/kernel; give one of these folders to read it alone."
    )


def test_info_names_the_merged_traces(
    two_sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", "--json", str(two_sessions)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["warnings"].count(_merged(two_sessions)) == 1
    assert report["trace_dirs"] == [str(two_sessions / d / "kernel") for d in ("monday", "tuesday")]
    assert _merged(two_sessions) in err


def test_analyze_names_the_merged_traces(
    two_sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "--no-cache", "--json", str(two_sessions)]) == 0
    out, err = capsys.readouterr()
    assert _merged(two_sessions) in json.loads(out)["warnings"]
    assert _merged(two_sessions) in err


def test_one_trace_gets_no_merge_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(SAMPLE)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not [w for w in report["warnings"] if "read together" in w]

"""What the TUI imports before its first frame (issue 13): the app and a trace opened from
its cache need neither the reader, nor the analysis' state machine, nor the exporters, nor
any data-frame library. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.pipeline import load_store

NOT_BEFORE_THE_FIRST_FRAME = (
    "pyarrow",
    "polars",
    "pandas",
    "dask",
    "bt2",
    "w2a_tui.trace",
    "w2a_tui.analysis.machine",
    "w2a_tui.export",
    "w2a_tui.fleet",
    "w2a_tui.tui.screens.summary",
    "w2a_tui.tui.screens.results",
)


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules for heavy in NOT_BEFORE_THE_FIRST_FRAME
        if m == heavy or m.startswith(heavy + ".")
    )


def test_importing_the_app_imports_nothing_the_first_frame_does_not_need() -> None:
    modules = _imported_after(
        "import w2a_tui.tui.app, w2a_tui.tui.screens.main, w2a_tui.tui.widgets.timeline"
    )
    assert "textual" in modules and "numpy" in modules  # the probe sees real imports
    assert _heavy(modules) == []


def test_opening_a_trace_from_its_cache_imports_no_reader(tmp_path: Path) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    _, hit = load_store(trace)
    assert not hit
    modules = _imported_after(
        "from w2a_tui.pipeline import load_store\n"
        f"store, hit = load_store({str(trace)!r})\n"
        "assert hit and store.pcpu_pending"
    )
    assert "w2a_tui.store.cache" in modules
    assert _heavy(modules) == []


def test_analysing_a_trace_still_imports_the_reader_and_the_machine(tmp_path: Path) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    modules = _imported_after(
        "from w2a_tui.pipeline import load_store\n"
        f"store, hit = load_store({str(trace)!r}, use_cache=False)\n"
        "assert not hit"
    )
    assert {"w2a_tui.trace", "w2a_tui.analysis.machine"} <= modules


def test_the_command_line_of_the_tui_imports_only_its_own_command() -> None:
    """`w2a-tui TRACE` parses its options and checks the path with the `view` command's
    module alone, and without the readers (they would load before Textual does)."""
    modules = _imported_after(
        "import w2a_tui.commands.view as view\n"
        "from w2a_tui.trace.discover import find_trace_dirs\n"
        "view.run = lambda args: find_trace_dirs(args.trace) and 0\n"
        "from w2a_tui.cli import main\n"
        f"assert main([{str(SAMPLE_TRACE)!r}]) == 0"
    )
    commands = {m for m in modules if m.startswith("w2a_tui.commands.")}
    assert commands <= {f"w2a_tui.commands.{m}" for m in ("view", "workers", "output")}, commands
    assert "w2a_tui.trace.discover" in modules
    assert not {"w2a_tui.trace.source", "w2a_tui.trace.fastctf", "bt2"} & modules

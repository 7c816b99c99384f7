"""Terminal injection (issue 15): names from a trace are shown with their control
characters escaped on every human-readable output, and kept exact in CSV and JSON.

The trace is the bundled sample with names rewritten in place (same lengths, so every
packet stays valid): a VM whose comm starts with a colour escape and ends with a window
title change, a preempting thread that clears the screen, a host name with a colour, and
a folder name with an escape (it appears in paths and in the warning of an empty stream).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from textual.widget import Widget

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.cli import main
from w2a_tui.model import AnalysisResult, TraceMeta
from w2a_tui.pipeline import analyze_trace
from w2a_tui.printable import printable, printable_tree
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.screens.summary import SummaryScreen
from w2a_tui.tui.screens.warnings import WarningsScreen
from w2a_tui.tui.widgets.timeline import Timeline

VM_COMM = b"\x1b[41mweb\x1b]0;x\x07"  # red background, then retitle the window
CC1 = b"cc1\x1b[2J"  # clear the screen
HOST = b"kvm\x1b[31mhost"  # same length as kvm-host-sim
SUBSTITUTIONS = {
    b"qemu:web01".ljust(16, b"\0"): VM_COMM.ljust(16, b"\0"),
    b"cc1".ljust(16, b"\0"): CC1.ljust(16, b"\0"),
    b"kvm-host-sim": HOST,
    b"CPU 1/KVM".ljust(16, b"\0"): b"CPU 1/KVM\xff".ljust(16, b"\0"),  # not UTF-8
}
FOLDER = "trace\x1b[7m"  # reverse video, in the path itself


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = Path(shutil.copytree(SAMPLE_TRACE, tmp_path_factory.mktemp("esc") / FOLDER))
    for path in dest.iterdir():
        data = path.read_bytes()
        for old, new in SUBSTITUTIONS.items():
            assert len(old) == len(new)
            data = data.replace(old, new)
        path.write_bytes(data)
    (dest / "channel0_5").write_bytes(b"")  # a warning that names the stream's path
    return dest


@pytest.fixture(scope="module")
def result(trace: Path) -> AnalysisResult:
    return analyze_trace(trace)


def test_the_recipe_puts_the_escapes_into_the_analysis(result: AnalysisResult) -> None:
    names = {vm.name for vm in result.vms}
    assert VM_COMM.decode() in names
    assert result.meta.hostname == HOST.decode()
    assert any(e.next_comm == CC1.decode() for e in result.evidence)
    assert any("\x1b" in w for w in result.warnings)


@pytest.mark.parametrize("command", [["analyze", "--no-cache"], ["info"]])
def test_no_escape_byte_reaches_the_terminal(
    trace: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, str(trace)]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out and "\x07" not in out and "\x1b" not in err
    assert "kvm\\x1b[31mhost" in out  # shown, escaped, not hidden
    assert "trace\\x1b[7m" in out + err
    if command[0] == "analyze":
        assert "\\x1b[41mweb\\x1b]0;x\\x07" in out
        assert "cc1\\x1b[2J" in out


def test_markup_in_a_name_is_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A `[/x]` in a host name must neither style the output nor crash rich."""
    dest = Path(shutil.copytree(SAMPLE_TRACE, tmp_path / "t"))
    meta = dest / "metadata"
    meta.write_bytes(meta.read_bytes().replace(b"kvm-host-sim", b"[/x][bold]k]"))
    assert main(["info", str(dest)]) == 0
    assert "[/x][bold]k]" in capsys.readouterr().out


def test_csv_and_json_keep_names_exact(trace: Path, tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "x.csv", tmp_path / "x.json"
    assert main(["export", "--no-cache", str(trace), "-o", str(out_csv)]) == 0
    assert main(["export", str(trace), "--format", "json", "-o", str(out_json)]) == 0
    with out_csv.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = list(csv.DictReader(f))
    assert VM_COMM.decode() in {r["vm_name"] for r in rows}
    assert CC1.decode() in {r["next_comm"] for r in rows}
    assert b"CPU 1/KVM\xff," in out_csv.read_bytes()  # the trace's very bytes
    data = json.loads(out_json.read_bytes().decode("utf-8"))  # valid UTF-8
    assert VM_COMM.decode() in {r["vm_name"] for r in data["intervals"]}
    assert "CPU 1/KVM\udcff" in {r["waker_comm"] for r in data["intervals"]}
    assert len(data["intervals"]) == len(rows)


def test_printable_escapes_what_acts_on_a_terminal() -> None:
    assert printable("CPU 0/KVM") == "CPU 0/KVM"
    assert printable("qemu-système") == "qemu-système"
    assert printable("a\x1b[41mb") == "a\\x1b[41mb"
    assert printable("tab\tnl\ncr\r") == "tab\\x09nl\\x0acr\\x0d"
    assert printable("\x9b31m") == "\\x9b31m"  # C1 CSI
    assert printable("evil\u202egnp.exe") == "evil\\u202egnp.exe"  # bidi override
    assert printable("bad\udcffbyte") == "bad\\xffbyte"  # a byte that was not UTF-8
    assert printable("tag\U000e0041") == "tag\\U000e0041"
    for text in ("\x1b[41m", "\x07", "\u2028", "\x00", "\x7f"):
        assert printable(text).isprintable()


@dataclasses.dataclass(frozen=True)
class _Late:
    name: str
    late: str = dataclasses.field(init=False, default="")


def test_printable_tree_reaches_nested_dataclasses() -> None:
    meta = TraceMeta(path="p\x1b", trace_dirs=["d\x1b"], hostname="h\x07", warnings=["w\x1b"])
    shown = printable_tree(meta)
    assert shown.path == "p\\x1b" and shown.trace_dirs == ["d\\x1b"]
    assert shown.hostname == "h\\x07" and shown.warnings == ["w\\x1b"]
    assert printable_tree({"k\x1b": ("a\x1b", ["b\x1b"])}) == {"k\\x1b": ("a\\x1b", ["b\\x1b"])}
    assert meta.path == "p\x1b"  # the original is untouched
    late = _Late("n\x1b")
    object.__setattr__(late, "late", "l\x1b")
    shown_late = printable_tree(late)
    assert (shown_late.name, shown_late.late) == ("n\\x1b", "l\\x1b")


# ------------------------------------------------------------------ the TUI


def _visible(app: W2AApp) -> str:
    """Every line every widget of the current screen draws, as text."""
    lines = []
    for widget in app.screen.walk_children(Widget):
        for y in range(widget.size.height):
            lines.append(widget.render_line(y).text)
    if isinstance(app.screen, WarningsScreen):
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.body)
        lines.append(console.export_text())
    return "\n".join(lines)


async def test_the_tui_draws_no_control_character(result: AnalysisResult) -> None:
    store = StateStore.from_result(result)
    seen: dict[str, str] = {}
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "web" in store.lanes[app.screen.query_one(Timeline).lane].vm_name
        await pilot.press("enter")  # the drill-down of the interval under the cursor
        await pilot.pause()
        seen["main"] = _visible(app)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("right")
        await pilot.pause()
        seen["summary"] = _visible(app)
        await pilot.press("escape", "exclamation_mark")
        await pilot.pause()
        assert isinstance(app.screen, WarningsScreen)
        seen["warnings"] = _visible(app)
    for where, text in seen.items():
        assert not any(c in text for c in "\x1b\x07\x9b"), where
    assert "\\x1b[41mweb" in seen["main"] and "kvm\\x1b[31mhost" in seen["main"]
    assert "\\x1b[41mweb" in seen["summary"]
    assert "trace\\x1b[7m" in seen["warnings"]

"""Issue 12.9's small fixes: options before the trace, the cursor on screen after `f`,
bookmarks kept across runs, the pid in the status line when VMs share a name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.cli import main as cli_main
from w2a_tui.pipeline import load_store
from w2a_tui.sim import generate, get_scenario, with_overrides
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.widgets.timeline import Timeline


@pytest.mark.parametrize("option", ["--no-cache", "--mono"])
def test_options_may_come_before_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    assert cli_main([option, str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "invalid choice" not in err


async def test_f_on_a_selection_keeps_the_cursor_on_screen(sample_store: StateStore) -> None:
    app = W2AApp(store=sample_store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        await pilot.press("w", "w", *["right"] * 5, "space", *["right"] * 10, "v", "f")
        await pilot.pause()
        t0, t1 = tl.window
        assert t0 <= tl.cursor < t1


async def _open(trace: Path, keys: tuple[str, ...]) -> list[tuple[int, int]]:
    app = W2AApp(str(trace), mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(600):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.05)
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        marks = app.screen.query_one(Timeline).marks()
        await pilot.press("q")
    return marks


async def test_bookmarks_are_kept_beside_the_cache(tmp_path: Path) -> None:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    set_marks = await _open(trace, ("w", *["right"] * 7, "down", "m", *["right"] * 9, "m"))
    assert len(set_marks) == 2
    assert await _open(trace, ()) == set_marks
    assert list(tmp_path.glob("*.bookmarks.json"))


async def test_the_status_line_names_the_pid_when_vms_share_a_name(tmp_path: Path) -> None:
    trace = tmp_path / "two"
    generate(trace, with_overrides(get_scenario("two-vms"), seconds=0.05, seed=2))
    store, _ = load_store(str(trace), use_cache=False)
    for vm in store.vms:
        vm.name = "qemu-system-x86"
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        status = str(app.screen.query_one("#status", Static).render())
        pid = store.lanes[0].vm_pid
        assert f"qemu-system-x86 [{pid}] vCPU 0" in status

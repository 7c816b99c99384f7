"""The loading screen comes only when a load takes a while (`W2AApp.LOADING_AFTER_S`):
a cached trace opens straight onto the main screen (issue 13, the first frame), a long
analysis still shows its progress, and an error shows even when it comes sooner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.pipeline import load_store
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.loading import LoadingScreen
from w2a_tui.tui.screens.main import MainScreen


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    return trace


async def _screens_until_main(app: W2AApp, pilot: Pilot[int]) -> list[str]:
    """The screens shown on the way to the main screen (a name for each change)."""
    seen: list[str] = []
    for _ in range(600):
        name = type(app.screen).__name__
        if not seen or seen[-1] != name:
            seen.append(name)
        if isinstance(app.screen, MainScreen):
            return seen
        await pilot.pause(0.01)
    raise AssertionError(f"no main screen; saw {seen}")


async def test_a_cached_trace_opens_without_the_loading_screen(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_store(sample)  # cached
    monkeypatch.setattr(W2AApp, "LOADING_AFTER_S", 30.0)  # however slow this machine is
    app = W2AApp(str(sample))
    async with app.run_test(size=(120, 36)) as pilot:
        seen = await _screens_until_main(app, pilot)
        assert "LoadingScreen" not in seen
        assert len(app.screen_stack) == 2  # the default screen, then the main one
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.from_cache


async def test_a_load_that_takes_longer_shows_the_loading_screen_first(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(W2AApp, "LOADING_AFTER_S", 0.01)
    app = W2AApp(str(sample))  # no cache: analysed
    async with app.run_test(size=(120, 36)) as pilot:
        seen = await _screens_until_main(app, pilot)
        assert seen[-2:] == ["LoadingScreen", "MainScreen"]
        assert len(app.screen_stack) == 2  # the loading screen was replaced, not kept


async def test_an_error_sooner_than_the_loading_screen_still_shows_on_it(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = sample / "metadata"
    metadata.write_text(metadata.read_text().replace("event {", "evXnt {", 1))
    monkeypatch.setattr(W2AApp, "LOADING_AFTER_S", 30.0)
    app = W2AApp(str(sample))
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(600):
            screen = app.screen
            if isinstance(screen, LoadingScreen) and screen.has_class("-failed"):
                break
            await pilot.pause(0.05)
        assert isinstance(screen, LoadingScreen) and screen.has_class("-failed")
        shown = str(screen.query_one("#loading-error").render())
        assert "not a readable CTF trace" in shown
        await pilot.press("q")
    assert app.return_code == 2


async def test_what_is_shown_before_the_loading_screen_is_mounted_is_kept() -> None:
    from textual.app import App
    from textual.widgets import Label

    screen = LoadingScreen("some/trace")
    screen.show_stage("indexing the vCPU states…")  # not mounted yet: applied on mount
    screen.show_error("the trace is gone.")

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    app = Host()
    async with app.run_test() as pilot:
        await pilot.pause()
        stages = str(screen.query_one("#loading-stages", Label).render())
        error = str(screen.query_one("#loading-error", Label).render())
    assert stages.endswith(" index ") and screen.has_class("-failed")
    assert error == "w2a-tui: the trace is gone."

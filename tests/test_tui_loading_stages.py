"""The loading screen names the stages of opening a trace: decode and analyse run together
(the analysis takes each batch as it is decoded), then index."""

from __future__ import annotations

from textual.widgets import Label

from w2a_tui.tui.screens.loading import STAGES, LoadingScreen, stage_line


def test_the_stage_line_highlights_the_running_stages() -> None:
    assert STAGES == ("decode", "analyse", "index")
    reading = stage_line(frozenset({"decode", "analyse"}))
    assert "[b reverse] decode [/]" in reading and "[b reverse] analyse [/]" in reading
    assert "[dim]index[/]" in reading
    assert stage_line(frozenset({"index"})).count("reverse") == 1


async def test_the_screen_moves_to_the_index_stage() -> None:
    from textual.app import App

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(LoadingScreen("some/trace"))

    app = Host()
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LoadingScreen)
        before = str(screen.query_one("#loading-stages", Label).render())
        screen.show_stage("indexing the vCPU states…")
        await pilot.pause()
        after = str(screen.query_one("#loading-stages", Label).render())
    assert before.startswith(" decode ") and after.endswith(" index ")

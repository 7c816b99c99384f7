"""`?`: every key of the main view, grouped, and the state legend with its glyphs."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from w2a_tui.tui.keys import KEYMAP
from w2a_tui.tui.palette import LOOKS


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for title, keys in KEYMAP:
        table.add_row(Text(title, style="bold underline"), "")
        for key in keys:
            table.add_row(key.shown, key.help)
    table.add_row("", "")
    table.add_row(Text("Mouse", style="bold underline"), "")
    table.add_row("click", "put the cursor (and pick the lane)")
    table.add_row("drag", "select a time range")
    table.add_row("wheel", "zoom around the pointer")
    return table


def legend_table(mono: bool) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_row(Text("States", style="bold underline"), "")
    for state, look in LOOKS.items():
        chip = Text(f" {look.glyph} ", style="" if mono else f"black on {look.colour}")
        table.add_row(chip, state.label)
    table.add_row("", "")
    table.add_row(Text("▌", style="green on red") if not mono else Text("▌"), "left/right half")
    table.add_row("", "of a cell: two")
    table.add_row("", "time samples")
    return table


class HelpScreen(ModalScreen[None]):
    """A modal cheat sheet; any of Esc, q, ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen .help-cols { layout: horizontal; height: auto; }
    HelpScreen #help-keys { width: 1fr; height: auto; }
    HelpScreen #help-legend { width: 24; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "close", priority=True)
    ]

    def __init__(self, mono: bool = False) -> None:
        super().__init__()
        self.mono = mono

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "w2a-tui keys (Esc closes)"
            with Horizontal(classes="help-cols"):
                yield Static(help_table(), id="help-keys")
                yield Static(legend_table(self.mono), id="help-legend")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)

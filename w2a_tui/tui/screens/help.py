"""`?`: every key of the main view, grouped, and the state legend with its glyphs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Static

from w2a_tui.model import State
from w2a_tui.tui.keys import KEYMAP
from w2a_tui.tui.view.looks import LOOKS


def key_groups(groups: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> Group:
    """Titled groups of (keys, what they do), one narrow key column per group."""
    parts: list[RenderableType] = []
    for i, (title, rows) in enumerate(groups):
        if i:
            parts.append(Text(""))
        parts.append(Text(title, style="bold underline"))
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, min_width=7)
        table.add_column()
        for keys, what in rows:
            table.add_row(keys, what)
        parts.append(table)
    return Group(*parts)


MOUSE = (
    ("click", "put the cursor, pick the lane"),
    ("drag", "select a time range"),
    ("wheel", "zoom around the pointer"),
)


def help_columns() -> tuple[Group, Group]:
    """The keymap's groups split in two columns of similar height, mouse last."""
    groups = [(title, [(k.shown, k.help) for k in keys]) for title, keys in KEYMAP]
    half = (len(groups) + 1) // 2
    return key_groups(groups[:half]), key_groups([*groups[half:], ("Mouse", MOUSE)])


def legend_table(mono: bool, per_row: int = 4) -> Group:
    """Each state's colour (or NO_COLOR glyph), `per_row` to a line, and how to read a
    two-colour cell and the ruler's marks."""
    table = Table.grid(padding=(0, 1))
    for _ in range(per_row):
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, min_width=13)
    cells: list[RenderableType] = []
    for look_state, look in LOOKS.items():
        chip = Text(f" {look.glyph} ") if mono else Text("   ", style=f"on {look.colour}")
        cells += [chip, Text(look_state.label)]
    while len(cells) % (2 * per_row):
        cells.append(Text(""))
    for i in range(0, len(cells), 2 * per_row):
        table.add_row(*cells[i : i + 2 * per_row])
    parts: list[RenderableType] = [Text("States", style="bold underline"), table]
    notes = Table.grid(padding=(0, 1))
    notes.add_column(no_wrap=True, min_width=3)
    notes.add_column()
    if not mono:
        guest, disk = LOOKS[State.GUEST].colour, LOOKS[State.WAIT_DISK].colour
        cell = Text.assemble((" ", f"on {guest}"), ("▌", f"{guest} on {disk}"), (" ", f"on {disk}"))
        notes.add_row(cell, "a cell's left and right halves: two time samples")
    notes.add_row(Text(" ▼ "), "the cursor on the ruler; ◆ a bookmark; ━ the selection")
    parts += [Text(""), notes]
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """A modal cheat sheet; any of Esc, q, ? closes it. Two key columns over the legend;
    one column on narrow terminals (↑/↓ scroll when it does not fit)."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen .help-cols { layout: horizontal; height: auto; }
    HelpScreen .help-keys { width: 1fr; height: auto; padding: 0 2 0 0; }
    HelpScreen.-narrow .help-cols { layout: vertical; }
    HelpScreen.-narrow .help-keys { width: 100%; }
    HelpScreen #help-legend { width: 100%; height: auto; margin: 1 0 0 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "close", priority=True)
    ]
    NARROW = 96  # below this many columns, one column of keys

    def __init__(self, mono: bool = False) -> None:
        super().__init__()
        self.mono = mono

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "w2a-tui keys (Esc closes, ↑/↓ scroll)"
            left, right = help_columns()
            with Horizontal(classes="help-cols"):
                yield Static(left, classes="help-keys")
                yield Static(right, classes="help-keys")
            yield Static(legend_table(self.mono), id="help-legend")

    def on_resize(self, event: Resize) -> None:
        narrow = event.size.width < self.NARROW
        self.set_class(narrow, "-narrow")
        per_row = 4 if event.size.width >= 80 else 2
        self.query_one("#help-legend", Static).update(legend_table(self.mono, per_row))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)

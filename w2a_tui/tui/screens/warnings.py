"""`!`: what the analysis warned about (lost events, weak identity, missing events),
with times from the trace start and what it means for the lanes on screen."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from w2a_tui.printable import printable
from w2a_tui.tui.view.timefmt import format_time

# The analysis writes loss windows in raw clock ns (as the export does); on screen,
# times read from the trace start like the ruler's.
_RAW_SPAN = re.compile(r"between (\d+) and (\d+) ns")

LOST_HINT = (
    "Where events were lost, a vCPU's state cannot be known: its lane shows `unknown` "
    "(the grey of the legend) from the loss to its next recorded event. Type /unknown "
    "then Enter to find those stretches, and n for the next one. Record with larger "
    "buffers (lttng enable-channel --subbuf-size) to lose fewer events."
)


def readable(warning: str, origin: int) -> str:
    """`between 1700…967 and 1700…558 ns` → `between 0.047215s and 0.458357s`."""

    def relative(match: re.Match[str]) -> str:
        a, b = (format_time(int(g), origin) for g in match.groups())
        return f"between {a} and {b}"

    return _RAW_SPAN.sub(relative, warning)


def warnings_text(warnings: Sequence[str], origin: int, lost_events: int) -> Table:
    """Numbered warnings (wrapped lines stay indented), then what lost events mean."""
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="bold", no_wrap=True)
    table.add_column()
    for i, warning in enumerate(warnings, 1):
        table.add_row(f"{i}.", Text(printable(readable(warning, origin))))
    if lost_events:
        table.add_row("", "")
        table.add_row("", Text.assemble(("What it means: ", "bold"), LOST_HINT))
    return table


class WarningsScreen(ModalScreen[None]):
    """A modal list of the analysis' warnings; Esc, q or ! closes it."""

    DEFAULT_CSS = """
    WarningsScreen { align: center middle; }
    WarningsScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    WarningsScreen Static { width: 100%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,exclamation_mark", "close", "close", priority=True)
    ]

    def __init__(self, warnings: Sequence[str], origin: int, lost_events: int) -> None:
        super().__init__()
        self.warnings = list(warnings)
        self.origin = origin
        self.lost_events = lost_events
        self.body = warnings_text(self.warnings, origin, lost_events)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            n = len(self.warnings)
            scroll.border_title = f"{n} warning{'s' if n != 1 else ''} (Esc closes)"
            yield Static(self.body)

    def action_close(self) -> None:
        self.dismiss(None)

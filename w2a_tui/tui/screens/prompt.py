"""A one-line question at the bottom of the screen (`g` go to, `/` find), like a pager's."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class Prompt(ModalScreen[str | None]):
    """Returns the typed text on Enter, None on Esc."""

    DEFAULT_CSS = """
    Prompt { align: center bottom; background: $background 0%; }
    Prompt > Vertical {
        height: auto; width: 100%; background: $panel; padding: 0 1;
        border-top: tall $accent;
    }
    Prompt Input, Prompt Input:focus { border: none; height: 1; padding: 0 1; background: $boost; }
    Prompt Label { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, hint: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{self.title_text}  [dim]{self.hint}[/]")
            yield Input(value=self.value, id="prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

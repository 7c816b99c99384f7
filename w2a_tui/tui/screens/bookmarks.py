"""`b`: the bookmarks in time order, with what each lane was doing there; Enter jumps,
d deletes. Bookmarks are also drawn as `◆` on the ruler."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList

from w2a_tui.printable import printable
from w2a_tui.store import StateStore
from w2a_tui.tui.view.timefmt import format_duration, format_time

# (time, lane) of each bookmark, in time order.
Marks = list[tuple[int, int]]


def bookmark_line(store: StateStore, number: int, t: int, lane: int, previous: int | None) -> Text:
    """`1  0.011905s  +11.9 ms  web01 vCPU 1: wait_disk`."""
    text = Text()
    text.append(f"{number:>2}  ", style="bold")
    text.append(format_time(t, store.start_ns))
    gap = f"+{format_duration(t - previous)}" if previous is not None else ""
    text.append(f"  {gap:>12}", style="dim")
    if 0 <= lane < len(store.lanes):
        info = store.lanes[lane]
        iv = store.interval_at(lane, t)
        state = iv.state.label if iv is not None else "-"
        text.append(f"  {printable(info.vm_name)} vCPU {info.vcpu}: ")
        text.append(state, style="bold")
    return text


class BookmarksScreen(ModalScreen[tuple[int, int] | None]):
    """Returns the chosen (time, lane), None on Esc. `delete` removes a bookmark from the
    timeline (the list updates in place)."""

    DEFAULT_CSS = """
    BookmarksScreen { align: center middle; }
    BookmarksScreen > Vertical {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    BookmarksScreen OptionList { height: auto; max-height: 20; border: none; }
    BookmarksScreen Label { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,b", "close", "close", priority=True),
        Binding("d,delete", "delete", "delete"),
    ]

    def __init__(self, store: StateStore, marks: Marks, delete: Callable[[int], None]) -> None:
        super().__init__()
        self.store = store
        self.marks = list(marks)
        self.delete = delete

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Bookmarks (Enter jumps, d deletes, Esc closes)"
            yield OptionList(*self._lines(), id="bookmark-list")
            yield Label("", id="bookmark-empty")

    def on_mount(self) -> None:
        self._show_empty()

    def _lines(self) -> list[Text]:
        out, previous = [], None
        for number, (t, lane) in enumerate(self.marks, 1):
            out.append(bookmark_line(self.store, number, t, lane, previous))
            previous = t
        return out

    def _show_empty(self) -> None:
        empty = "no bookmark: press m in the timeline to set one" if not self.marks else ""
        self.query_one("#bookmark-empty", Label).update(empty)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.marks[event.option_index])

    def action_delete(self) -> None:
        options = self.query_one(OptionList)
        index = options.highlighted
        if index is None or not 0 <= index < len(self.marks):
            return
        t, _ = self.marks.pop(index)
        self.delete(t)
        options.clear_options()
        options.add_options(self._lines())
        if self.marks:
            options.highlighted = min(index, len(self.marks) - 1)
        self._show_empty()

    def action_close(self) -> None:
        self.dismiss(None)

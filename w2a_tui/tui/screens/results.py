"""`L`: the matches of the last `/` search as a list in time order (the first
`RESULTS_SHOWN`), each with its VM, vCPU, state, duration and cause; Enter jumps there.
After `F` on a pCPU lane: where that thread ran (pCPU, time, duration)."""

from __future__ import annotations

from typing import ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList

from w2a_tui.analysis.pcpu import PCPU_LANE_VM
from w2a_tui.store import Interval, StateStore
from w2a_tui.tui.screens.summary import cause_text
from w2a_tui.tui.view.pcpu import occupant_text
from w2a_tui.tui.view.search import Matches
from w2a_tui.tui.view.timefmt import format_duration, format_time

RESULTS_SHOWN: Final = 500


def result_line(store: StateStore, iv: Interval, labels: dict[int, str]) -> Text:
    """`0.412343s  db01 vCPU 2  wait_disk  9.321 ms  0x25, woken by IO iothread0 (task)`."""
    info = store.lanes[iv.lane]
    text = Text()
    text.append(format_time(iv.start, store.start_ns))
    if info.vm_pid == PCPU_LANE_VM:  # a thread's runs on the host CPUs (`F`)
        text.append(f"  pCPU {info.vcpu:<3}  ")
        text.append(occupant_text(iv, labels), style="bold")
        text.append(f"  {format_duration(iv.duration):>10}")
        return text
    text.append(f"  {labels.get(info.vm_pid, info.vm_name)} vCPU {info.vcpu}  ")
    text.append(iv.state.label, style="bold")
    text.append(f"  {format_duration(iv.duration):>10}")
    cause = cause_text(iv)
    if cause:
        text.append(f"  {cause}", style="dim")
    return text


class ResultsScreen(ModalScreen[Interval | None]):
    DEFAULT_CSS = """
    ResultsScreen { align: center middle; }
    ResultsScreen > Vertical {
        width: 110; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ResultsScreen OptionList { height: auto; max-height: 30; border: none; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,L", "close", "close", priority=True),
    ]

    def __init__(self, store: StateStore, matches: Matches, labels: dict[int, str]) -> None:
        super().__init__()
        self.store = store
        self.matches = matches
        self.found = matches.in_time_order(RESULTS_SHOWN)
        self.labels = labels

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            total = self.matches.total
            more = f", the first {len(self.found):,}" if total > len(self.found) else ""
            box.border_title = (
                f"/{self.matches.query.text}: {total:,} matches{more} (Enter jumps, Esc closes)"
            )
            yield OptionList(
                *(result_line(self.store, iv, self.labels) for iv in self.found), id="results"
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.found[event.option_index])

    def action_close(self) -> None:
        self.dismiss(None)

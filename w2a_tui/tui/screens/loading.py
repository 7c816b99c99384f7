"""The screen shown while a trace is read and analysed: progress, rate, ETA, or the error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Label, ProgressBar

from w2a_tui.printable import printable
from w2a_tui.tui.view.timefmt import format_duration


@dataclass(frozen=True, slots=True)
class LoadStatus:
    """A throttled snapshot of the reader's progress."""

    events: int
    fraction: float  # 0..1, or < 0 when unknown
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.fraction <= 0.01 or self.fraction >= 1:
            return None
        return self.elapsed_s * (1 - self.fraction) / self.fraction

    def describe(self) -> str:
        eta = self.eta_s
        eta_text = f", about {format_duration(eta * 1e9, 1)} left" if eta is not None else ""
        return f"{self.events:,} events read, {self.rate / 1000:,.0f} k events/s{eta_text}"


STAGES = ("decode", "analyse", "index")


def stage_line(active: frozenset[str]) -> str:
    """The stages in order, the running ones highlighted (decoding and the analysis run
    together: the analysis takes each batch as it is decoded)."""
    return " → ".join(f"[b reverse] {s} [/]" if s in active else f"[dim]{s}[/]" for s in STAGES)


class LoadingScreen(Screen[None]):
    """Progress while the worker reads; a one-sentence error (and `q` to quit) if it fails."""

    DEFAULT_CSS = """
    LoadingScreen { align: center middle; }
    LoadingScreen > Vertical { width: 90; max-width: 100%; height: auto; padding: 1 2;
        border: round $accent; }
    LoadingScreen > Vertical > Label { width: 100%; }
    LoadingScreen #loading-error { color: $error; text-style: bold; display: none; }
    LoadingScreen.-failed #loading-error { display: block; }
    LoadingScreen.-failed ProgressBar { display: none; }
    LoadingScreen ProgressBar { margin: 1 0; width: 100%; }
    LoadingScreen ProgressBar Bar { width: 1fr; }
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        # What was shown before the screen was mounted (the app pushes it late, see
        # `W2AApp.LOADING_AFTER_S`), applied once it is.
        self._mounted = False
        self._pending: list[Callable[[], None]] = []

    def on_mount(self) -> None:
        self._mounted = True
        for call in self._pending:
            call()
        self._pending.clear()

    def _once_mounted(self, call: Callable[[], None]) -> None:
        if self._mounted:
            call()
        else:
            self._pending.append(call)

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text.assemble("Reading ", (printable(self.path), "bold"))
            yield Label(title, id="loading-title")
            yield Label(stage_line(frozenset({"decode", "analyse"})), id="loading-stages")
            yield ProgressBar(total=100, show_eta=False, id="loading-bar")
            yield Label("starting…", id="loading-status")
            yield Label("", id="loading-error")
            yield Label("[dim]q or Ctrl+C cancels[/]", id="loading-hint")

    def show_progress(self, status: LoadStatus) -> None:
        self._once_mounted(partial(self._show_progress, status))

    def _show_progress(self, status: LoadStatus) -> None:
        bar = self.query_one(ProgressBar)
        if status.fraction >= 0:
            bar.update(total=100, progress=100 * status.fraction)
        self.query_one("#loading-status", Label).update(status.describe())

    def show_stage(self, text: str, stage: str = "index") -> None:
        self._once_mounted(partial(self._show_stage, text, stage))

    def _show_stage(self, text: str, stage: str) -> None:
        self.query_one("#loading-stages", Label).update(stage_line(frozenset({stage})))
        self.query_one("#loading-status", Label).update(text)

    def show_error(self, message: str) -> None:
        self._once_mounted(partial(self._show_error, message))

    def _show_error(self, message: str) -> None:
        self.add_class("-failed")
        title = Text.assemble("Could not open ", (printable(self.path), "bold"))
        self.query_one("#loading-title", Label).update(title)
        self.query_one("#loading-status", Label).update("")
        self.query_one("#loading-error", Label).update(Text(f"w2a-tui: {printable(message)}"))
        self.query_one("#loading-hint", Label).update(
            "[dim]press q to quit (the message stays in the terminal)[/]"
        )

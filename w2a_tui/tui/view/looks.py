"""How each vCPU state looks: a colour that survives 16-colour terminals, and a glyph
distinct enough to read with NO_COLOR (never colour alone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rich.style import Style

from w2a_tui.model import N_STATES, State

NO_DATA: Final = 255  # ColumnSummary.dominant for "no interval here"


@dataclass(frozen=True, slots=True)
class StateLook:
    colour: str  # hex, one of the 16 VGA colours
    glyph: str  # what NO_COLOR mode draws
    short: str  # legend text


# The 16 VGA colours, exactly: in a 16-colour terminal each state downgrades to its own
# ANSI colour (no two collide), and truecolor terminals show the same distinct hues.
# Running states green, scheduler trouble red, waits cool / yellow for disk.
LOOKS: Final[dict[State, StateLook]] = {
    State.UNKNOWN: StateLook("#555555", "·", "unknown"),
    State.GUEST: StateLook("#00aa00", "█", "guest"),
    State.HYPERVISOR: StateLook("#55ff55", "▓", "hyp"),
    State.PREEMPTED: StateLook("#aa0000", "▒", "preempt"),
    State.READY: StateLook("#ff5555", "░", "ready"),
    State.BLOCKED: StateLook("#aaaaaa", "#", "blocked"),
    State.WAIT_TIMER: StateLook("#5555ff", "t", "timer"),
    State.WAIT_TASK: StateLook("#aa00aa", "k", "task"),
    State.WAIT_DISK: StateLook("#ffff55", "d", "disk"),
    State.WAIT_NET: StateLook("#00aaaa", "n", "net"),
    State.WAIT_UNKNOWN: StateLook("#ff55ff", "?", "wait?"),
    State.RUNNING: StateLook("#ffffff", "▆", "running"),
}
# Colours light enough to need black text on top.
LIGHT: Final = frozenset(
    {"#55ff55", "#ff5555", "#aaaaaa", "#ffff55", "#ff55ff", "#00aaaa", "#ffffff"}
)

assert len(LOOKS) == N_STATES


def state_style(state: int) -> Style:
    """Solid colour for one state (as background, for label chips and bars)."""
    return Style(color=LOOKS[State(state)].colour)


def glyph(state: int) -> str:
    return " " if state == NO_DATA else LOOKS[State(state)].glyph


def colour(state: int) -> str | None:
    return None if state == NO_DATA else LOOKS[State(state)].colour

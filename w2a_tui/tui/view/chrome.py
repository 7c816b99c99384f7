"""The one-line texts around the timeline: header, legend, status bar. Pure functions.

Each fits the terminal width by dropping its least useful parts first (a 70-column
terminal keeps the trace name, the warnings marker and the cursor's state), never by
cutting words in half at the right edge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from rich.text import Text

from w2a_tui.model import State, TraceMeta, VmInfo
from w2a_tui.printable import printable
from w2a_tui.store import Interval, LaneInfo
from w2a_tui.tui.view.looks import LOOKS, StateLook
from w2a_tui.tui.view.timefmt import WALL_CLOCK_FROM, format_duration, format_time, wall_clock

# Timestamps this large are ns since 1970 (LTTng folds the realtime offset in): worth
# showing as a wall-clock date; smaller ones are a monotonic clock with no date.
EPOCH_PLAUSIBLE_NS = 10**17
WARNING_STYLE = "bold black on yellow"

# A piece of a line: (priority, text, style); the lowest priority is dropped first.
Piece = tuple[int, str, str]


def fit_pieces(pieces: Sequence[Piece], width: int) -> Text:
    """The pieces in their order, leaving out the least important ones until the line
    fits `width` (the highest-priority piece is kept even if it alone is too wide)."""
    kept = list(pieces)
    while len(kept) > 1 and sum(len(t) for _, t, _ in kept) > width:
        kept.remove(min(kept, key=lambda p: p[0]))
    text = Text()
    for _, part, style in kept:
        text.append(part, style=style)
    return text


def header_text(
    meta: TraceMeta,
    vms: Sequence[VmInfo],
    n_lanes: int,
    lo: int,
    hi: int,
    *,
    from_cache: bool = False,
    warnings: int = 0,
    note: str = "",
    width: int = 200,
    lane_filter: str = "",
) -> Text:
    """Trace name, host, length, VM and vCPU counts; `(cached)` when the analysis was
    reopened from the on-disk cache (so a stale result can be suspected: `--no-cache`);
    a `⚠ N warnings (!)` marker when the analysis warned (lost events...); the lane
    filter when one is on, and how to clear it."""
    name = printable(Path(meta.path).name or meta.path)
    pieces: list[Piece] = [(9, " w2a-tui ", "bold reverse"), (8, f" {name}", "bold")]
    if lane_filter:
        pieces.append((8, "  ", ""))
        pieces.append((8, f" filter: {lane_filter} · x clears ", "bold reverse"))
    if warnings:
        plural = "s" if warnings != 1 else ""
        pieces.append((7, "  ", ""))
        pieces.append((7, f" ⚠ {warnings} warning{plural}: press ! ", WARNING_STYLE))
    if note:  # what a partial event set cannot tell apart
        pieces.append((4, f"  {note}", "bold"))
    if meta.hostname:
        pieces.append((3, f"  host {printable(meta.hostname)}", ""))
    pieces.append((5, f"  {len(vms)} VM{'s' if len(vms) != 1 else ''}, {n_lanes} vCPUs", ""))
    pieces.append((6, f"  {format_duration(hi - lo)}", ""))
    if lo >= EPOCH_PLAUSIBLE_NS:
        wall = datetime.fromtimestamp(lo // 1_000_000_000, tz=UTC)
        pieces.append((1, f" from {wall:%Y-%m-%d %H:%M:%S} UTC", ""))
    if from_cache:
        pieces.append((2, "  (cached)", "dim"))
    return fit_pieces(pieces, width)


def _legend_line(mono: bool, layout: tuple[int, str, str], looks: Sequence[StateLook]) -> Text:
    chip_cells, space, gap = layout
    text = Text()
    for look in looks:
        if mono:
            text.append(look.glyph, style="bold")
        else:
            text.append(" " * chip_cells, style=f"on {look.colour}")
        text.append(f"{space}{look.short}{gap}")
    text.rstrip()
    return text


def legend_text(mono: bool, width: int = 200, *, running: bool = False) -> Text:
    """Every state with its colour chip (or its glyph with NO_COLOR), spaced out as much
    as `width` allows, on one line down to 80 columns, else on two balanced lines.
    `running` only for traces that have it (no kvm_entry/kvm_exit)."""
    # (chip cells, space after the chip, gap between items), roomiest first.
    layouts = (
        ((1, " ", "  "), (1, "", " ")) if mono else ((2, " ", "  "), (2, " ", " "), (1, "", " "))
    )
    looks = [look for state, look in LOOKS.items() if running or state is not State.RUNNING]
    for layout in layouts:
        text = _legend_line(mono, layout, looks)
        if text.cell_len <= width:
            return text
    half = (len(looks) + 1) // 2
    for layout in layouts:
        lines = [_legend_line(mono, layout, part) for part in (looks[:half], looks[half:])]
        if max(line.cell_len for line in lines) <= width:
            break
    return Text("\n").join(lines)


class CursorWindow(Protocol):
    """What the status line shows of the timeline (a `Viewport` or a `TimelineState`)."""

    @property
    def cursor(self) -> int: ...
    @property
    def selection(self) -> tuple[int, int] | None: ...
    @property
    def span(self) -> int: ...
    @property
    def ns_per_col(self) -> float: ...


def status_text(
    view: CursorWindow,
    lane: LaneInfo | None,
    iv: Interval | None,
    origin: int,
    *,
    find: str = "",
    width: int = 200,
    lane_text: str | None = None,
    state_text: str | None = None,
    wall: bool = False,
) -> Text:
    """Cursor time, selection, lane, the state under the cursor and its length, the find
    position (`/disk 3/120`), cell size and window; the last ones go first when narrow.
    `lane_text` / `state_text` name the lane and what it does when the default (VM name,
    vCPU, state) does not fit: a pCPU lane, VMs that share a name."""
    # The cursor at the ruler's precision: to the ns when a cell is a few ns wide.
    if wall and origin >= WALL_CLOCK_FROM:
        when = wall_clock(view.cursor)
    else:
        when = format_time(view.cursor, origin, step_ns=min(view.ns_per_col, 1000.0))
    pieces: list[Piece] = [(9, f" ▼ {when}", "bold")]
    sel = view.selection
    if sel is not None:
        pieces.append((6, f"  sel {format_duration(sel[1] - sel[0])}", ""))
    if lane_text is not None:
        pieces.append((7, f"  {lane_text}", ""))
    elif lane is not None:
        pieces.append((7, f"  {printable(lane.vm_name)} vCPU {lane.vcpu}", ""))
    if iv is not None:
        pieces.append((8, f"  {state_text or iv.state.label}", "bold"))
        pieces.append((7, f" {format_duration(iv.duration)}", ""))
    if find:
        pieces.append((5, f"  │ {find}", ""))
    pieces.append((3, f"  │ {format_duration(view.ns_per_col)}/cell", ""))
    pieces.append((2, f", window {format_duration(view.span)}", ""))
    return fit_pieces(pieces, width)

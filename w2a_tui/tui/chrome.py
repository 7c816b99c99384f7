"""The one-line texts around the timeline: header, legend, status bar. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text

from w2a_tui.model import TraceMeta, VmInfo
from w2a_tui.store import Interval, LaneInfo
from w2a_tui.tui.palette import LOOKS
from w2a_tui.tui.timefmt import format_duration, format_time
from w2a_tui.tui.viewport import Viewport

# Timestamps this large are ns since 1970 (LTTng folds the realtime offset in): worth
# showing as a wall-clock date; smaller ones are a monotonic clock with no date.
EPOCH_PLAUSIBLE_NS = 10**17


def header_text(
    meta: TraceMeta,
    vms: Sequence[VmInfo],
    n_lanes: int,
    lo: int,
    hi: int,
    *,
    from_cache: bool = False,
) -> Text:
    """Trace name, host, length, VM and vCPU counts; `(cached)` when the analysis was
    reopened from the on-disk cache (so a stale result can be suspected: `--no-cache`)."""
    name = Path(meta.path).name or meta.path
    text = Text()
    text.append(" w2a-tui ", style="bold reverse")
    text.append(f" {name}", style="bold")
    if meta.hostname:
        text.append(f"  host {meta.hostname}")
    text.append(f"  {len(vms)} VM{'s' if len(vms) != 1 else ''}, {n_lanes} vCPUs")
    text.append(f"  {format_duration(hi - lo)}")
    if lo >= EPOCH_PLAUSIBLE_NS:
        wall = datetime.fromtimestamp(lo // 1_000_000_000, tz=UTC)
        text.append(f" from {wall:%Y-%m-%d %H:%M:%S} UTC")
    if from_cache:
        text.append("  (cached)", style="dim")
    return text


def legend_text(mono: bool, width: int = 200) -> Text:
    """Every state with its colour chip (or its glyph with NO_COLOR), spaced out as much
    as `width` allows and on one line down to 80 columns."""
    # (chip cells, space after the chip, gap between items), roomiest first.
    layouts = (
        ((1, " ", "  "), (1, "", " ")) if mono else ((2, " ", "  "), (2, " ", " "), (1, "", " "))
    )
    for chip_cells, space, gap in layouts:
        text = Text()
        for look in LOOKS.values():
            if mono:
                text.append(look.glyph, style="bold")
            else:
                text.append(" " * chip_cells, style=f"on {look.colour}")
            text.append(f"{space}{look.short}{gap}")
        text.rstrip()
        if text.cell_len <= width:
            break
    return text


def status_text(view: Viewport, lane: LaneInfo | None, iv: Interval | None, origin: int) -> Text:
    text = Text()
    text.append(f" ▼ {format_time(view.cursor, origin)}", style="bold")
    sel = view.selection
    if sel is not None:
        text.append(f"  sel {format_duration(sel[1] - sel[0])}")
    if lane is not None:
        text.append(f"  {lane.vm_name} vCPU {lane.vcpu}")
    if iv is not None:
        text.append(f"  {iv.state.label}", style="bold")
        text.append(f" {format_duration(iv.duration)}")
    text.append(f"  │ {format_duration(view.ns_per_col)}/cell, window {format_duration(view.span)}")
    return text

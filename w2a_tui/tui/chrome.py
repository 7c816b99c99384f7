"""The one-line texts around the timeline: header, legend, status bar. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text

from w2a_tui.model import TraceMeta, VmInfo
from w2a_tui.store import Interval, LaneInfo
from w2a_tui.tui.palette import LOOKS
from w2a_tui.tui.timefmt import format_duration, format_time
from w2a_tui.tui.viewport import Viewport


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
    text.append(f"  {format_duration(hi - lo)} from {format_time(lo, lo)} to {format_time(hi, lo)}")
    text.append(f"  {len(vms)} VM{'s' if len(vms) != 1 else ''}, {n_lanes} vCPUs")
    if from_cache:
        text.append("  (cached)", style="dim")
    return text


def legend_text(mono: bool) -> Text:
    """Every state with its colour chip (or its glyph with NO_COLOR)."""
    text = Text()
    for look in LOOKS.values():
        if mono:
            text.append(look.glyph, style="bold")
        else:
            text.append("  ", style=f"on {look.colour}")
        text.append(f" {look.short} ")
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

"""Pure rendering of the timeline's lines (lanes, labels, ruler) into Textual `Strip`s.

No widget state here: each function takes arrays and numbers and returns a `Strip`, so the
look of every line is unit-tested without an app (memray style), and the widget only
decides which rows and columns are visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from w2a_tui.tui.palette import LIGHT, NO_DATA, colour, glyph
from w2a_tui.tui.timefmt import format_time, ticks

HALF_BLOCK = "▌"  # fg = left half sample, bg = right half sample
UPPER_HALF = "▀"  # a tall lane's second line: half height, so lanes stay apart
CURSOR_GLYPH = "┃"


@lru_cache(maxsize=512)
def cell_look(left: int, right: int, mono: bool) -> tuple[str, Style]:
    """Text and style of one lane cell from its two half-cell dominant states."""
    if mono:
        return glyph(left if left != NO_DATA else right), Style()
    lc, rc = colour(left), colour(right)
    if left == right:
        return " ", Style(bgcolor=lc)
    if lc is None:
        return HALF_BLOCK, Style(color="default", bgcolor=rc)
    return HALF_BLOCK, Style(color=lc, bgcolor=rc)


@lru_cache(maxsize=64)
def upper_look(state: int) -> tuple[str, Style]:
    if state == NO_DATA:
        return " ", Style()
    return UPPER_HALF, Style(color=colour(state))


@lru_cache(maxsize=64)
def cursor_look(state: int, mono: bool) -> tuple[str, Style]:
    if mono:
        return CURSOR_GLYPH, Style(reverse=True, bold=True)
    bg = colour(state)
    fg = "#000000" if bg in LIGHT else "#ffffff"
    return CURSOR_GLYPH, Style(color=fg, bgcolor=bg, bold=True)


def lane_strip(
    samples: npt.NDArray[np.uint8],
    cols: int,
    *,
    mono: bool = False,
    cursor_col: int | None = None,
) -> Strip:
    """One vCPU lane over `cols` cells.

    `samples` holds 2 dominant states per cell in colour mode (left/right half, drawn as `▌`
    with fg/bg colours) and 1 per cell in mono mode (drawn as the state's glyph); 255 means
    no data. Runs of identical cells become one segment, so a frame is a few numpy ops plus
    one segment per visible state change.
    """
    per_cell = 1 if mono else 2
    if len(samples) != cols * per_cell:
        raise ValueError(f"expected {cols * per_cell} samples for {cols} cells, got {len(samples)}")
    s = samples.astype(np.int32, copy=False)
    if per_cell == 2:
        left, right = s[0::2], s[1::2]
        codes = left * 256 + right
    else:
        left = right = s
        codes = s
    if cols == 0:
        return Strip.blank(0, Style())
    bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), cols]
    lefts = left.tolist()
    rights = right.tolist()
    segments: list[Segment] = []
    for a, b in zip(starts, ends, strict=True):
        if cursor_col is not None and a <= cursor_col < b:
            if a < cursor_col:
                text, style = cell_look(lefts[a], rights[a], mono)
                segments.append(Segment(text * (cursor_col - a), style))
            text, style = cursor_look(lefts[cursor_col], mono)
            segments.append(Segment(text, style))
            if cursor_col + 1 < b:
                text, style = cell_look(lefts[a], rights[a], mono)
                segments.append(Segment(text * (b - cursor_col - 1), style))
            continue
        text, style = cell_look(lefts[a], rights[a], mono)
        segments.append(Segment(text * (b - a), style))
    return Strip(segments, cols)


def lane_foot_strip(
    samples: npt.NDArray[np.uint8], cols: int, *, cursor_col: int | None = None
) -> Strip:
    """The second line of a tall lane: one sample per cell drawn as an upper half block,
    so a lane is one and a half lines high and a gap separates it from the next."""
    if len(samples) != cols:
        raise ValueError(f"expected {cols} samples for {cols} cells, got {len(samples)}")
    if cols == 0:
        return Strip.blank(0, Style())
    states = samples.tolist()
    bounds = np.flatnonzero(samples[1:] != samples[:-1]) + 1
    edges = [0, *bounds.tolist(), cols]
    segments: list[Segment] = []
    for a, b in pairwise(edges):
        text, style = upper_look(states[a])
        if cursor_col is not None and a <= cursor_col < b:
            if a < cursor_col:
                segments.append(Segment(text * (cursor_col - a), style))
            segments.append(Segment(CURSOR_GLYPH, Style(color=colour(states[a]), bold=True)))
            if cursor_col + 1 < b:
                segments.append(Segment(text * (b - cursor_col - 1), style))
            continue
        segments.append(Segment(text * (b - a), style))
    return Strip(segments, cols)


def label_strip(text: str, width: int, style: Style | None = None) -> Strip:
    """A fixed-width label cell: truncated with `…`, padded with spaces."""
    if width <= 0:
        return Strip.blank(0, Style())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return Strip([Segment(text.ljust(width), style or Style())], width)


def join(strips: Iterable[Strip]) -> Strip:
    parts = list(strips)
    return Strip.join(parts)


def ruler_strips(
    t0: int,
    t1: int,
    cols: int,
    origin: int,
    *,
    cursor_col: int | None = None,
    selection_cols: tuple[int, int] | None = None,
    bookmark_cols: Sequence[int] = (),
    style: Style | None = None,
    mark_style: Style | None = None,
) -> tuple[Strip, Strip]:
    """Two lines: tick labels (seconds from the trace start, decimals adapted to the step),
    then the tick marks with the selection band, bookmarks `◆` and the cursor `▼`."""
    base = style or Style()
    marks = mark_style or Style(bold=True)
    if cols <= 0:
        return Strip.blank(0, Style()), Strip.blank(0, Style())
    span = max(t1 - t0, 1)
    step, tick_times = ticks(t0, t1, max(1, cols // 12), origin)
    label_chars = [" "] * cols
    tick_chars = ["─"] * cols
    for t in tick_times:
        col = int((t - t0) * cols // span)
        if not 0 <= col < cols:
            continue
        tick_chars[col] = "┴"
        text = format_time(t, origin, step)
        free = all(c == " " for c in label_chars[max(0, col - 1) : col + len(text)])
        if col + len(text) <= cols and free:
            label_chars[col : col + len(text)] = list(text)
    sel_style = None
    if selection_cols is not None:
        a, b = selection_cols
        a, b = max(a, 0), min(b, cols - 1)
        for col in range(a, b + 1):
            tick_chars[col] = "━"
        sel_style = marks
    for col in bookmark_cols:
        if 0 <= col < cols:
            tick_chars[col] = "◆"
    if cursor_col is not None and 0 <= cursor_col < cols:
        tick_chars[cursor_col] = "▼"
    label_line = Strip([Segment("".join(label_chars), base)], cols)
    segments: list[Segment] = []
    special = {"━", "◆", "▼"}
    run: list[str] = []
    run_special = False
    for ch in tick_chars:
        is_special = ch in special
        if run and is_special != run_special:
            segments.append(Segment("".join(run), (sel_style or marks) if run_special else base))
            run = []
        run.append(ch)
        run_special = is_special
    if run:
        segments.append(Segment("".join(run), (sel_style or marks) if run_special else base))
    return label_line, Strip(segments, cols)

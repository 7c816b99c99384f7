"""Pure rendering of the timeline's lines (lanes, labels, ruler) into Textual `Strip`s.

No widget state here: each function takes arrays and numbers and returns a `Strip`, so the
look of every line is unit-tested without an app (memray style), and the widget only
decides which rows and columns are visible.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from w2a_tui.tui.view.looks import LIGHT, LOOKS, NO_DATA, colour, glyph
from w2a_tui.tui.view.timefmt import format_time, ticks

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


@dataclass(frozen=True, slots=True)
class LaneRuns:
    """One lane line as runs of identical cells, built once per time window; the cursor
    is laid over it per frame (`strip`) by splitting a single run, so moving the cursor
    costs a list copy, not a redraw."""

    starts: list[int]  # first cell of each run
    segments: list[Segment]  # one per run, its text one repeated character
    states: list[int]  # per cell: the state the cursor takes its colour from
    cols: int
    mono: bool
    foot: bool  # a tall lane's second line

    def strip(self, cursor_col: int | None = None) -> Strip:
        if cursor_col is None or not 0 <= cursor_col < self.cols:
            return Strip(self.segments, self.cols)
        i = bisect_right(self.starts, cursor_col) - 1
        a = self.starts[i]
        b = self.starts[i + 1] if i + 1 < len(self.starts) else self.cols
        run = self.segments[i]
        ch, style = run.text[:1], run.style
        state = self.states[cursor_col]
        if self.foot:
            cursor = Segment(CURSOR_GLYPH, Style(color=colour(state), bold=True))
        else:
            cursor = Segment(*cursor_look(state, self.mono))
        middle = [cursor]
        if a < cursor_col:
            middle.insert(0, Segment(ch * (cursor_col - a), style))
        if cursor_col + 1 < b:
            middle.append(Segment(ch * (b - cursor_col - 1), style))
        return Strip([*self.segments[:i], *middle, *self.segments[i + 1 :]], self.cols)


@lru_cache(maxsize=2)
def _cell_looks(mono: bool) -> dict[int, tuple[str, Style]]:
    """`cell_look` of every (left, right) pair, keyed by left * 256 + right."""
    states = [*range(len(LOOKS)), NO_DATA]
    return {a * 256 + b: cell_look(a, b, mono) for a in states for b in states}


def _runs(codes: npt.NDArray[np.int32], cols: int) -> tuple[list[int], list[int]]:
    bounds = (np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist()
    return [0, *bounds], [*bounds, cols]


def lane_runs(samples: npt.NDArray[np.uint8], cols: int, *, mono: bool = False) -> LaneRuns:
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
    left, right = (s[0::2], s[1::2]) if per_cell == 2 else (s, s)
    if not cols:
        return LaneRuns([], [], [], 0, mono, foot=False)
    codes = left * 256 + right
    bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], bounds))
    lengths = np.diff(np.concatenate((starts, [cols]))).tolist()
    looks = _cell_looks(mono)
    # The hot loop of a new window (one pass per lane, ~100+ runs each): table lookups, and
    # Segment built with tuple.__new__ (its namedtuple __new__ adds a Python call per run).
    new = tuple.__new__
    segments: list[Segment] = [
        new(Segment, (looks[c][0] * n, looks[c][1], None))
        for c, n in zip(codes[starts].tolist(), lengths, strict=True)
    ]
    return LaneRuns(starts.tolist(), segments, left.tolist(), cols, mono, foot=False)


def foot_runs(samples: npt.NDArray[np.uint8], cols: int) -> LaneRuns:
    """The second line of a tall lane: one sample per cell drawn as an upper half block,
    so a lane is one and a half lines high and a gap separates it from the next."""
    if len(samples) != cols:
        raise ValueError(f"expected {cols} samples for {cols} cells, got {len(samples)}")
    states = samples.tolist()
    starts, ends = _runs(samples.astype(np.int32), cols) if cols else ([], [])
    segments = []
    for a, b in zip(starts, ends, strict=True):
        text, style = upper_look(states[a])
        segments.append(Segment(text * (b - a), style))
    return LaneRuns(starts, segments, states, cols, mono=False, foot=True)


def lane_strip(
    samples: npt.NDArray[np.uint8],
    cols: int,
    *,
    mono: bool = False,
    cursor_col: int | None = None,
) -> Strip:
    """`lane_runs(...)` drawn with the cursor at `cursor_col`."""
    return lane_runs(samples, cols, mono=mono).strip(cursor_col)


def lane_foot_strip(
    samples: npt.NDArray[np.uint8], cols: int, *, cursor_col: int | None = None
) -> Strip:
    """`foot_runs(...)` drawn with the cursor at `cursor_col`."""
    return foot_runs(samples, cols).strip(cursor_col)


def foot_samples(
    time: npt.NDArray[np.int64], dominant: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """One state per cell from a two-samples-per-cell summary (`time` is [2*cols, states]):
    the state with the most time over both halves, else the left half's (no time: a cell
    narrower than a ns, or no data)."""
    both = time[0::2] + time[1::2]
    out: npt.NDArray[np.uint8] = np.argmax(both, axis=1).astype(np.uint8)
    empty = both.sum(axis=1) == 0
    out[empty] = dominant[0::2][empty]
    return out


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
    lost_cols: Sequence[tuple[int, int]] = (),
) -> tuple[Strip, Strip]:
    """Two lines: tick labels (seconds from the trace start, decimals adapted to the step),
    then the tick marks with the selection band, bookmarks `◆`, where events were lost `!`
    (column ranges, inclusive) and the cursor `▼`."""
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
    for a, b in lost_cols:
        for col in range(max(a, 0), min(b, cols - 1) + 1):
            tick_chars[col] = "!"
    for col in bookmark_cols:
        if 0 <= col < cols:
            tick_chars[col] = "◆"
    if cursor_col is not None and 0 <= cursor_col < cols:
        tick_chars[cursor_col] = "▼"
    label_line = Strip([Segment("".join(label_chars), base)], cols)
    segments: list[Segment] = []
    special = {"━", "◆", "▼", "!"}
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


MATCH_GLYPH = "•"
MAX_MARKS = 64  # past this many marked cells on a line, mark none (all would be noise)


def mark_cells(strip: Strip, cols: Sequence[int], offset: int) -> Strip:
    """The lane line `strip` with the cells `cols` (counted from `offset`, the label
    width) drawn as a bold dot over their colour: where the search's matches start."""
    width = strip.cell_length
    cells = sorted({offset + c for c in cols if 0 <= offset + c < width})
    if not cells or len(cells) > MAX_MARKS:
        return strip
    cuts: list[int] = []
    for c in cells:
        cuts.extend((c, c + 1))
    parts = list(strip.divide([*cuts, width]))
    out: list[Segment] = []
    marked = set(cells)
    position = 0
    for part in parts:
        if position in marked and part.cell_length == 1:
            seg = next(iter(part), None)
            style = seg.style if seg is not None and seg.style is not None else Style()
            bg = style.bgcolor or style.color
            fg = "#000000" if bg is not None and bg.name in LIGHT else "#ffffff"
            out.append(Segment(MATCH_GLYPH, Style(color=fg, bgcolor=bg, bold=True)))
        else:
            out.extend(part)
        position += part.cell_length
    return Strip(out, width)

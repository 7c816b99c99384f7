"""The visible time window, the cursor and the selection: pure arithmetic, no widgets, so
every zoom/pan rule is unit-tested without running the app."""

from __future__ import annotations

from dataclasses import dataclass

ZOOM_STEP = 2.0  # w/s/+/-: halve or double the window
PAN_FRACTION = 0.25  # a/d: a quarter of the window, like Trace Compass
MIN_NS_PER_COL = 1.0  # zoom in no further than 1 ns per cell


@dataclass(slots=True)
class Viewport:
    """`[t0, t1)` is shown over `cols` cells; `cursor` stays inside the trace `[lo, hi)`."""

    lo: int
    hi: int
    t0: int
    t1: int
    cursor: int
    cols: int = 100
    anchor: int | None = None  # selection start (None: no selection)
    sel_end: int | None = None
    exact_span: float = 0.0  # the unrounded window width, so zoom in then out is exact

    @classmethod
    def fit(cls, lo: int, hi: int, cols: int = 100) -> Viewport:
        hi = max(hi, lo + 1)
        return cls(lo=lo, hi=hi, t0=lo, t1=hi, cursor=lo, cols=max(1, cols))

    # --- geometry -------------------------------------------------------------------------
    @property
    def span(self) -> int:
        return self.t1 - self.t0

    @property
    def ns_per_col(self) -> float:
        return self.span / self.cols

    def col_of(self, t: int) -> int:
        """The cell showing time `t` (may be outside 0..cols-1)."""
        return int((t - self.t0) // self.ns_per_col) if self.span else 0

    def time_of(self, col: int) -> int:
        """The start time of cell `col`."""
        return self.t0 + int(col * self.ns_per_col)

    def set_cols(self, cols: int) -> None:
        """Keep the time window when the widget is resized; only the cell size changes."""
        self.cols = max(1, cols)
        self._clamp_window(self.t0 - self.lo, self.t1 - self.t0)

    # --- window ---------------------------------------------------------------------------
    def _clamp_window(self, offset: float, span: float) -> None:
        """Show `span` ns starting `offset` ns after the trace start, kept inside the trace.

        Float maths happens on offsets from `lo` only: absolute timestamps (~1.7e18 ns since
        the epoch) are beyond float64's exact integers and would drift by hundreds of ns."""
        total = self.hi - self.lo
        span = max(min(span, total), min(total, MIN_NS_PER_COL * self.cols))
        offset = min(max(offset, 0.0), total - span)
        start = round(offset)
        self.exact_span = span
        self.t0 = self.lo + start
        self.t1 = self.lo + min(total, start + round(span))

    def zoom(self, factor: float, around: int | None = None) -> None:
        """Scale the window by `factor` (<1 zooms in) keeping `around` (default: the cursor)
        at the same place on screen."""
        pivot = self.cursor if around is None else around
        if not self.t0 <= pivot <= self.t1:
            pivot = (self.t0 + self.t1) // 2
        frac = (pivot - self.t0) / self.span if self.span else 0.5
        exact = self.exact_span if round(self.exact_span) == self.span else float(self.span)
        span = exact * factor
        self._clamp_window(pivot - self.lo - frac * span, span)

    def pan(self, fraction: float) -> None:
        """Move the window by `fraction` of its width; the cursor follows if it falls out."""
        self._clamp_window(self.t0 - self.lo + fraction * self.span, self.span)
        if not self.t0 <= self.cursor < self.t1:
            self.cursor = min(max(self.cursor, self.t0), self.t1 - 1)

    def show_all(self) -> None:
        self._clamp_window(0.0, self.hi - self.lo)

    def show_range(self, a: int, b: int, margin: float = 0.1) -> None:
        """Fit `[a, b)` with `margin` of the span on each side."""
        a, b = min(a, b), max(a, b)
        span = max(b - a, 1)
        self._clamp_window(a - self.lo - margin * span, span * (1 + 2 * margin))

    def ensure_visible(self, t: int) -> None:
        """Scroll (never zoom) so that `t` is on screen."""
        if t < self.t0:
            self._clamp_window(t - self.lo - self.span * 0.1, self.span)
        elif t >= self.t1:
            self._clamp_window(t - self.lo - self.span * 0.9, self.span)

    # --- cursor and selection ---------------------------------------------------------------
    def move_cursor(self, t: int) -> None:
        self.cursor = min(max(t, self.lo), self.hi - 1)
        self.ensure_visible(self.cursor)

    def step_cursor(self, cells: int) -> None:
        """Move by whole cells, landing on a cell start, never stuck at sub-ns cell sizes."""
        step = max(1, round(self.ns_per_col))
        self.move_cursor(self.cursor + cells * step)

    @property
    def selection(self) -> tuple[int, int] | None:
        if self.anchor is None or self.sel_end is None:
            return None
        return (min(self.anchor, self.sel_end), max(self.anchor, self.sel_end))

    def start_or_extend_selection(self) -> None:
        """Space/v: the first press drops the anchor at the cursor; later ones extend to it."""
        if self.anchor is None:
            self.anchor = self.cursor
            self.sel_end = self.cursor
        else:
            self.sel_end = self.cursor

    def extend_selection_to_cursor(self) -> None:
        if self.anchor is None:
            self.anchor = self.cursor
        self.sel_end = self.cursor

    def clear_selection(self) -> None:
        self.anchor = None
        self.sel_end = None

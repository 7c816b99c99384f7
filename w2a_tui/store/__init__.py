"""The state store (per-frame queries over every vCPU lane) and its on-disk cache."""

from __future__ import annotations

from w2a_tui.store.store import NO_DATA, ColumnSummary, Interval, LaneInfo, StateStore

__all__ = ["NO_DATA", "ColumnSummary", "Interval", "LaneInfo", "StateStore"]

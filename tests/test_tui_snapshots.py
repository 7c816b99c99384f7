"""SVG snapshots of the main views on the sample trace, grouped by feature and driven by
keys (Posting style). Update with `pytest --snapshot-update tests/test_tui_snapshots.py`
after checking the HTML diff report."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp

SnapCompare = Callable[..., bool]


@pytest.fixture
def app(sample_store: StateStore) -> W2AApp:
    return W2AApp(store=sample_store, mono=False)


class TestMainView:
    def test_whole_trace(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, terminal_size=(120, 36))

    def test_80x24(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, terminal_size=(80, 24))

    def test_zoomed_with_cursor_selection_and_bookmark(
        self, snap_compare: SnapCompare, app: W2AApp
    ) -> None:
        keys = ["w", "w", "m", "space", *["right"] * 12, "v", "down"]
        assert snap_compare(app, press=keys, terminal_size=(120, 36))

    def test_collapsed_vm(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["tab"], terminal_size=(120, 36))

    def test_too_small(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, terminal_size=(50, 12))


class TestNoColor:
    def test_glyph_lanes_and_legend(
        self,
        snap_compare: SnapCompare,
        monkeypatch: pytest.MonkeyPatch,
        sample_store: StateStore,
    ) -> None:
        monkeypatch.setenv("NO_COLOR", "1")
        app = W2AApp(store=sample_store)
        assert app.mono
        assert snap_compare(app, press=["w"], terminal_size=(100, 30))


class TestDrillDown:
    def test_first_wait_explained(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        keys = ["right_square_bracket", "enter"]
        assert snap_compare(app, press=keys, terminal_size=(120, 36))

    def test_longest_wait_from_the_summary(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["t", "enter"], terminal_size=(120, 36))


class TestSummaryAndHelp:
    def test_summary_all_vms(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["t"], terminal_size=(120, 40))

    def test_summary_first_vm(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["t", "right"], terminal_size=(120, 40))

    def test_summary_disk_waits_of_the_second_vm_at_80x24(
        self, snap_compare: SnapCompare, app: W2AApp
    ) -> None:
        assert snap_compare(app, press=["t", "right", "right", "3"], terminal_size=(80, 24))

    def test_help(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["question_mark"], terminal_size=(120, 40))

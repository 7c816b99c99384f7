"""SVG snapshots of the triage features of issue 12, grouped by feature and driven by keys.
Update with `pytest --snapshot-update tests/test_tui_snapshots_triage.py` after checking
the HTML diff report."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp

SnapCompare = Callable[..., bool]


@pytest.fixture
def app(sample_store: StateStore) -> W2AApp:
    return W2AApp(store=sample_store, mono=False)


class TestPcpuView:
    def test_whole_trace(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["p"], terminal_size=(120, 36))

    def test_zoomed_with_the_drill_down(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        keys = ["p", *["w"] * 6, "down", *["right"] * 30, "enter"]
        assert snap_compare(app, press=keys, terminal_size=(120, 36))

    def test_80x24(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(app, press=["p", "w", "w"], terminal_size=(80, 24))


class TestCommandPalette:
    def test_ctrl_p_filtered_by_name(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        keys = ["ctrl+p", *"wait", "wait:300"]
        assert snap_compare(app, press=keys, terminal_size=(100, 30))


class TestSearch:
    def test_results_list_of_combined_terms(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        # The match-count toast lasts 3 s: wait it out (a loaded machine may or may not).
        keys = ["slash", *"disk >5ms", "enter", "wait:3500", "L"]
        assert snap_compare(app, press=keys, terminal_size=(120, 36))


class TestFilters:
    def test_one_vm(self, snap_compare: SnapCompare, app: W2AApp) -> None:
        assert snap_compare(
            app, press=["down", "down", "down", "down", "o"], terminal_size=(100, 30)
        )

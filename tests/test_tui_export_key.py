"""`e` in the TUI (issue 14.1): the selection, else the visible window, written as a
Perfetto trace in the current folder under a new name, and the toast says where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2a_tui.export.perfetto import export_range_beside
from w2a_tui.store import StateStore
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.widgets.timeline import Timeline


def _complete_events(path: Path) -> list[dict[str, object]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    events = data["traceEvents"] if isinstance(data, dict) else data
    return [e for e in events if e.get("ph") == "X"]


async def test_e_exports_the_selection_and_says_where(
    sample_store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = W2AApp(store=sample_store, mono=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("w", "w", "space", *["right"] * 20, "v")
        await pilot.pause()
        selection = app.screen.query_one(Timeline).selection
        assert selection is not None and selection[1] > selection[0]
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        toasts = [str(n.message) for n in app._notifications]
    written = sorted(tmp_path.glob("w2a-sample-*.json"))
    assert len(written) == 1
    assert any(f"to {written[0]}" in t and "ui.perfetto.dev" in t for t in toasts), toasts
    slices = _complete_events(written[0])
    assert slices
    lo, hi = selection
    for e in slices:
        args = e["args"]
        assert isinstance(args, dict)
        if "start_ns" in args:  # a vCPU interval, clipped to the selection
            assert lo <= int(args["start_ns"]) < int(args["end_ns"]) <= hi


def test_a_second_export_of_the_same_range_never_overwrites(
    sample_store: StateStore, tmp_path: Path
) -> None:
    lo = sample_store.start_ns
    hi = lo + 50_000_000
    first, one = export_range_beside(sample_store, tmp_path, lo, hi)
    second, two = export_range_beside(sample_store, tmp_path, lo, hi)
    assert first != second and first.read_bytes() == second.read_bytes()
    assert one.intervals == two.intervals == len(
        [e for e in _complete_events(first) if "start_ns" in e["args"]]  # type: ignore[operator]
    )

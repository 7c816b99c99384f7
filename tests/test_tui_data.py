"""The hand-built analysis result of the TUI unit tests (`tests.support.handmade`) is
what its comments say."""

from __future__ import annotations

from tests.support.handmade import MS, T0, small_store
from w2a_tui.model import State


def test_small_store_matches_its_description() -> None:
    store = small_store()
    assert [lane.n_intervals for lane in store.lanes] == [7, 2, 3]
    iv = store.interval_at(0, T0 + 20 * MS)
    assert iv is not None and iv.state is State.WAIT_DISK and iv.duration == 20 * MS

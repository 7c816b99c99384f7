"""How TUI tests get their store: the bundled sample trace, analysed once per session
(the pipeline's cache makes later sessions instant)."""

from __future__ import annotations

from functools import cache

from paths import SAMPLE_TRACE

from w2a_tui.store import StateStore


@cache
def sample_store() -> StateStore:
    import os

    if os.environ.get("W2A_TUI_TEST_STORE") == "small":  # while the sample is being written
        from test_tui_data import small_store

        return small_store()
    from w2a_tui.pipeline import load_result

    return StateStore.from_result(load_result(str(SAMPLE_TRACE)))

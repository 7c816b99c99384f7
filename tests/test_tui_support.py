"""How TUI tests get their store: the bundled sample trace, analysed once per session
(the pipeline's cache makes later sessions instant)."""

from __future__ import annotations

from functools import cache

from paths import SAMPLE_TRACE

from w2a_tui.store import StateStore


@cache
def sample_store() -> StateStore:
    from w2a_tui.pipeline import load_store

    store, _ = load_store(str(SAMPLE_TRACE))
    return store

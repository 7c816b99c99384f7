"""Fixtures every test module may ask for, and the line that says which real traces this
run tests (the bundled ones, plus a larger corpus when one is found)."""

from __future__ import annotations

import pytest

from tests.support.paths import (
    CORPUS_VAR,
    REAL_TRACES,
    REPO_ROOT,
    SAMPLE_TRACE,
    corpus,
    real_manifest,
)
from tests.support.sim import SimTraces
from w2a_tui.store import StateStore


@pytest.fixture(scope="session")
def sample_store() -> StateStore:
    """The bundled sample trace, analysed once per session (the pipeline's cache makes
    later sessions instant). Shared: tests must not change it."""
    from w2a_tui.pipeline import load_store

    store, _ = load_store(str(SAMPLE_TRACE))
    return store


@pytest.fixture(scope="session")
def sim_traces(tmp_path_factory: pytest.TempPathFactory) -> SimTraces:
    """The simulator's small per-scenario traces, each generated once per session."""
    return SimTraces(tmp_path_factory.mktemp("sim"))


def corpus_line() -> str:
    bundled = len(real_manifest())
    where = REAL_TRACES.relative_to(REPO_ROOT)
    found = corpus()
    if found is None:
        return (
            f"real traces: {bundled} bundled in {where}; no larger corpus "
            f"(set {CORPUS_VAR} to test one)"
        )
    return (
        f"real traces: {bundled} bundled in {where} + {len(found.extra_names())} more from the "
        f"corpus {found.label} ({len(found.manifest)} traces)"
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """One line before the tests, also under -q (the usual header is hidden then)."""
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller says it
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(corpus_line())

"""Shared pytest setup: make `tests.paths` importable as `paths` from every test module, and
say which corpus of real traces this run tests besides the bundled ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths import CORPUS_VAR, REAL_TRACES, REPO_ROOT, corpus, real_manifest


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

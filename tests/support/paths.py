"""Where the test data lives: the sample, the real traces bundled in `tests/data/`, and an
optional larger corpus of real traces.

The bundled traces (`tests/data/real/`, with their golden `manifest.json`) cover every reader
quirk we know of, so a fresh clone tests the reader on real data with nothing beside it.
A larger corpus in the same layout (one folder per trace plus a `manifest.json`) adds its
traces to every test that runs over "all real traces": it is taken from `$W2A_TRACE_CORPUS`,
else from `../shared/traces/real` beside the repository when that exists. Without one,
those extra tests are skipped with one reason that names the variable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "tests" / "data"
REAL_TRACES = DATA_DIR / "real"
"""The bundled real LTTng traces, one folder per trace, and their golden manifest."""
REAL_FTRACE = DATA_DIR / "real-ftrace"
"""The bundled real ftrace (trace-cmd) recordings of a KVM host, one folder each."""
SAMPLE_TRACE = REPO_ROOT / "traces" / "sample"

CORPUS_VAR = "W2A_TRACE_CORPUS"
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "traces" / "real"
NO_CORPUS = (
    f"no trace corpus: set {CORPUS_VAR} to a folder of real traces with a manifest.json "
    "to run this test"
)


def _load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a trace folder needs its golden manifest")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def real_manifest() -> dict[str, Any]:
    """Golden statistics of the bundled real traces (babeltrace2 2.0.4)."""
    return _load_manifest(REAL_TRACES)


@dataclass(frozen=True)
class Corpus:
    """A folder of real traces beside the bundled ones, and how it was found."""

    root: Path
    label: str
    manifest: dict[str, Any]

    def extra_names(self) -> list[str]:
        """Its traces that are not bundled (the bundled copy is tested already)."""
        return sorted(set(self.manifest) - set(real_manifest()))


@cache
def corpus() -> Corpus | None:
    """The optional corpus: `$W2A_TRACE_CORPUS`, else `../shared/traces/real`, else None.

    A variable that names a folder without a manifest is a mistake, not a skip."""
    named = os.environ.get(CORPUS_VAR, "")
    if named:
        root = Path(named).expanduser()
        if not (root / "manifest.json").is_file():
            raise pytest.UsageError(
                f"{CORPUS_VAR}={named} has no manifest.json: point it at a folder of real "
                "traces laid out like tests/data/real/"
            )
        return Corpus(root, f"{CORPUS_VAR}={named}", _load_manifest(root))
    if (DEFAULT_CORPUS / "manifest.json").is_file():
        return Corpus(DEFAULT_CORPUS, "../shared/traces/real", _load_manifest(DEFAULT_CORPUS))
    return None


def manifest_entry(name: str) -> dict[str, Any]:
    """Golden statistics of one real trace, bundled or from the corpus."""
    bundled = real_manifest()
    if name in bundled:
        entry: dict[str, Any] = bundled[name]
        return entry
    found = corpus()
    if found is None or name not in found.manifest:
        pytest.skip(NO_CORPUS)
    extra: dict[str, Any] = found.manifest[name]
    return extra


def real_trace(name: str) -> Path:
    """The folder of one real trace (its README beside the CTF directory), bundled first,
    else from the corpus; a test that needs a trace only the corpus has skips without it."""
    if name in real_manifest():
        return REAL_TRACES / name
    found = corpus()
    if found is None or name not in found.manifest:
        pytest.skip(NO_CORPUS)
    return found.root / name


def ctf_dir(name: str) -> Path:
    """The CTF directory itself (the one holding `metadata`) of one real trace."""
    parts = Path(manifest_entry(name)["trace_dir"]).parts
    return real_trace(name) / Path(*parts[parts.index(name) + 1 :])


def real_trace_names() -> list[Any]:
    """Parameters for tests over every real trace: the bundled ones, then the corpus's
    others, or one skipped placeholder naming the variable when there is no corpus."""
    names: list[Any] = sorted(real_manifest())
    found = corpus()
    if found is None:
        return [*names, pytest.param("corpus", marks=pytest.mark.skip(reason=NO_CORPUS))]
    return [*names, *found.extra_names()]

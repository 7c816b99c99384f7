"""Where the test data lives: the repo's own traces and the shared real traces beside it.

CI clones the repo next to a copy of `shared/`, exactly as in the workspace, so the real
traces are always at `<repo>/../shared/traces`. A missing folder fails loudly: never skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
REAL_TRACES = SHARED_DIR / "traces" / "real"
REAL_FTRACE = SHARED_DIR / "traces" / "real-ftrace"
SAMPLE_TRACE = REPO_ROOT / "traces" / "sample"


def real_manifest() -> dict[str, Any]:
    """Golden statistics of the real traces (babeltrace2 2.0.4)."""
    path = REAL_TRACES / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: shared/ must sit beside the repo")
    data: dict[str, Any] = json.loads(path.read_text())
    return data

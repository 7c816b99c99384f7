#!/usr/bin/env bash
# The whole test suite, plus lint and types: fails if any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check w2a_tui tests $(ls -d scripts benchmarks 2>/dev/null)
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 -q "$@"

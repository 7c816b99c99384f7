# The two commands of the README: `make run` and `make test`.
# Both set the machine up first (idempotent): Debian packages, then a venv that sees
# Debian's python3-bt2 (babeltrace2 bindings are not on PyPI).
VENV := .venv
SAMPLE := traces/sample

.PHONY: run test setup lint screenshots bench

setup:
	@bash scripts/setup.sh

run: setup
	@$(VENV)/bin/w2a-tui $(SAMPLE)

test: setup
	@bash scripts/test.sh

lint: setup
	@$(VENV)/bin/ruff check w2a_tui tests $$(ls -d scripts benchmarks 2>/dev/null)
	@$(VENV)/bin/mypy

screenshots: setup
	@$(VENV)/bin/python scripts/screenshots.py

bench: setup
	@$(VENV)/bin/python benchmarks/run.py

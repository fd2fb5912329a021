PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the seeded demo on :8000 with a worker; starts embedded PostgreSQL/Redis when the URLs are unset.
run: $(STAMP)
	$(BIN)/tenantgraph dev

## The whole suite on real PostgreSQL and Redis (embedded ones when the URLs are unset).
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean-data:
	rm -rf .data

## Load scenarios against a Starlette + asyncpg baseline; writes bench/results/ (see README).
bench: $(STAMP)
	$(BIN)/python -m bench.run

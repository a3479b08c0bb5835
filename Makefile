# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test lint bench
install: $(VENV)/.installed

# caseflow on the embedded SQLite default (./caseflow.db): deploys the example procedure,
# puts cases in flight and shows them; then drive it with `.venv/bin/caseflow --help`.
run: install
	$(BIN)/caseflow demo

lint: install
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports

# Lint, types, architecture contract, then the suite on memory, SQLite and PostgreSQL
# (PostgreSQL cases skip when no server answers, unless CASEFLOW_REQUIRE_POSTGRES=1).
test: lint
	$(BIN)/pytest -n 2 -q

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.engine

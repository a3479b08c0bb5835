# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The web app (web/): npm ci when the lockfile changed, npm run build when its sources did.
# The pages land in src/caseflow/web/static (not in git; shipped in the wheel by setup.py).
WEB_BUILT := src/caseflow/web/static/index.html
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_BUILT): web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

.PHONY: install run test lint bench
install: $(VENV)/.installed $(WEB_BUILT)

# caseflow on the embedded SQLite default (./caseflow.db), served at http://127.0.0.1:8080 with
# the demo data set (loaded on the first start only); log in as an.nguyen, supervisor or admin.
run: install
	$(BIN)/caseflow serve --demo

lint: install
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports

# Lint, types, architecture contract, then the suite on memory, SQLite and PostgreSQL
# (PostgreSQL cases skip when no server answers, unless CASEFLOW_REQUIRE_POSTGRES=1).
test: lint
	$(BIN)/pytest -n 2 --dist loadgroup -q  # loadgroup: the browser tests share one server

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.engine

# kel-flow: every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_LOGGING_LEVEL ?= WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: install demo test lint typecheck unit clean prefect-ui serve up down status bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

NODE_STAMP := node_modules/.installed

# npm packages the tests use (package.json): axe-core for the browser tests.
$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/kel demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy models tasks flows notifications demo cli api

# The whole suite on SQLite and PostgreSQL (`db_url` is parametrised), on two xdist
# workers; `.ci/run` sets KEL_REQUIRE_POSTGRES=1 so that a missing PostgreSQL fails.
TEST_WORKERS ?= 2

test: lint typecheck $(NODE_STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) node_modules .prefect .prefect-serve kel.db out *.egg-info .pytest_cache .mypy_cache .ruff_cache

serve: $(STAMP)
	$(BIN)/kel serve

# Production on this machine (README "Running in production"): PostgreSQL, Prefect server,
# two workers, the API with two processes, supervised; files in $KEL_DATA_DIR (default
# ~/.local/share/kel-flow). Options: `.venv/bin/kel up --help`.
up: $(STAMP)
	$(BIN)/kel up

down: $(STAMP)
	$(BIN)/kel down

status: $(STAMP)
	$(BIN)/kel status

# Figures against the targets of issue 9 (table, out/bench.json); not part of `make test`.
# Needs the local PostgreSQL; takes about 15 minutes. Options: `.venv/bin/python -m benchmarks -h`.
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

prefect-ui: $(STAMP)
	@echo "Prefect-UI mit den Läufen der Demo: http://127.0.0.1:4200/runs"
	$(BIN)/prefect server start --host 127.0.0.1

# asynctasq: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help demo test test-deep check lint typecheck pytest services bench bench-quick clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed ## install asynctasq in .venv and run the quickstart on SQLite
	cd examples/quickstart && ../../$(BIN)/python main.py

test: $(VENV)/.dev-installed services check pytest ## install dev tools, start services, lint, type-check, run every test

test-deep: $(VENV)/.dev-installed services ## the property tests and the lifecycle model test with 20x the examples (HYPOTHESIS_PROFILE=deep), and the long chaos runs marked deep
	HYPOTHESIS_PROFILE=deep $(BIN)/pytest tests/unit tests/hostile tests/drivers/test_lifecycle_model.py
	$(BIN)/pytest -m deep -p no:cacheprovider

check: $(VENV)/.dev-installed lint typecheck ## ruff and mypy only

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

# Two phases: most tests on PYTEST_WORKERS processes (they wait on brokers more than on
# the CPU; a broker's tests that must not overlap share an xdist group), then the `serial` ones alone (chaos: kill -9, leases against the clock).
PYTEST_WORKERS ?= 3
pytest:
	@# bytecode compiled once: where PYTHONDONTWRITEBYTECODE is set (as in this workspace's shell), every
	@# worker process the tests start would compile the package again
	$(BIN)/python -m compileall -q asynctasq tests benchmarks examples
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not serial and not deep" -p no:cacheprovider --durations=15
	$(BIN)/pytest -m "serial and not deep" -p no:cacheprovider --durations=15

services: ## start Redis, PostgreSQL, MariaDB, RabbitMQ and the MongoDB test server when not running; install chromium
	@bash scripts/ensure-services.sh

bench: $(VENV)/.dev-installed services ## run the benchmark suite (see docs/benchmarks.md)
	$(BIN)/python -m benchmarks

bench-quick: $(VENV)/.dev-installed services ## the benchmark suite in quick mode (a smoke run)
	$(BIN)/python -m benchmarks --quick

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

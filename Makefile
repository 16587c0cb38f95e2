# asynctasq: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help demo test check lint typecheck pytest services bench bench-quick clean

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

check: $(VENV)/.dev-installed lint typecheck ## ruff and mypy only

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

services: ## start Redis, PostgreSQL and MariaDB when they are not running
	@bash scripts/ensure-services.sh

bench: $(VENV)/.dev-installed services ## run the benchmark suite (see docs/benchmarks.md)
	$(BIN)/python -m benchmarks

bench-quick: $(VENV)/.dev-installed services ## the benchmark suite in quick mode (a smoke run)
	$(BIN)/python -m benchmarks --quick

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

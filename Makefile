# The two commands that matter are `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install migrate clean

# Fresh clone -> virtual environment, system packages, migrations, demo data, and the web
# server with the supplier simulator in the foreground. Ctrl-C stops everything.
# Prometheus multiprocess files start empty on every run: stale files from dead processes
# would otherwise be summed into /metrics.
METRICS_DIR := $(abspath var/prometheus)

run: migrate
	$(BIN)/python manage.py seed_demo
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	@echo "Monolithos: http://127.0.0.1:8000/ (admin / admin)  Supplier API: http://127.0.0.1:8090/"
	PATH="$(abspath $(BIN)):$$PATH" PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) \
		exec $(BIN)/honcho -f Procfile start

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

migrate: install
	$(BIN)/python manage.py migrate --database default --no-input
	$(BIN)/python manage.py migrate --database logistics --no-input

install: $(STAMP)

$(STAMP): pyproject.toml
	./scripts/install-system-packages.sh
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

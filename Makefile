# The README names `make run` and `make test`; CI calls `make test` unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=8001` when 8000 is taken.
PORT ?= 8000

.PHONY: install run test lint typecheck check clean

install: $(STAMP)

# Reinstall only when what we install from changes.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# One command: `carnet serve --demo` starts `carnet demo` (which migrates the database first when
# it needs it) in a process of its own and runs the system checks meanwhile on the other core (so
# the demo skips them); once the demo is loaded it serves, with `carnet worker` beside the server,
# and stops the worker with it.
run: install
	$(BIN)/carnet serve --demo --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/pytest --numprocesses auto --dist loadgroup

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

check: test lint typecheck

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

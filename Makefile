# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run up test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo: fullcycle with a catalog, the sample shop deployed and bought from, weeks of history
# and the bad-release scenario (docs/demo.md). `make up` runs the plain server.
run: $(STAMP)
	$(BIN)/fullcycle demo

up: $(STAMP)
	$(BIN)/fullcycle up

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The suite runs in one process per core (at most 4): each has its own embedded ClickHouse.
# Tests marked xdist_group share a process (the demo's two tests share one running demo).
test: lint
	$(BIN)/pytest -n auto --maxprocesses=4 --dist loadgroup --durations=40

clean:
	rm -rf $(VENV) .fullcycle .fullcycle-demo .pytest_cache .mypy_cache .ruff_cache

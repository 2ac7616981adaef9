# The two commands the README opens with: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install run test lint openapi bench bench-events bench-replicas bench-import bench-gapless

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e clients/python
	touch $@

run: install
	$(BIN)/custid serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The committed API document; a test fails until it is regenerated after an API change.
openapi: install
	$(BIN)/custid openapi --output openapi.json

# Load benchmark with its own PostgreSQL, Redis and service processes; see bench/README.md.
# Options: make bench BENCH_ARGS="--workers 2 --duration 10 --json out.json"
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Webhook deliveries per second, and the issue rate with one subscription against none.
bench-events: install
	$(BIN)/python -m bench.events $(BENCH_ARGS)

# Numbers/s with 1, 2 and 3 replicas behind haproxy, and each replica's CPU.
bench-replicas: install
	$(BIN)/python -m bench.replicas $(BENCH_ARGS)

# `custid import` of a generated million-line file into PostgreSQL: rows/s and peak memory.
bench-import: install
	$(BIN)/python -m bench.imports $(BENCH_ARGS)

# What strict order costs: a gapless scheme's issue and confirm rates against a plain one's.
bench-gapless: install
	$(BIN)/python -m bench.gapless $(BENCH_ARGS)

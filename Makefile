# The two commands the README opens with: `make run` and `make test`.
#
# Every install takes the exact versions (and hashes) in uv.lock: a new upstream
# release changes nothing here until `make upgrade` refreshes the lock in a commit.
# uv itself is pinned too, in a small venv of its own (.tools), so the project's
# venv holds only what the lock names.
VENV ?= .venv
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PIP_QUIET := --quiet --disable-pip-version-check
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# Installed packages get their bytecode written once, here: where PYTHONDONTWRITEBYTECODE
# is set (as in most container images) Python would otherwise compile every module
# again at every start, which made `custid serve` take 6.5 s instead of 2 to get ready.
export UV_COMPILE_BYTECODE := 1

.PHONY: install install-service upgrade run test lint openapi bench bench-engines bench-events bench-replicas bench-import bench-gapless bench-security bench-trail contract

# The venv is made without pip (seeding it costs a fresh clone seconds), and uv is put in
# with the system's pip; a Python without pip of its own gets one in the venv instead.
$(UV):
	$(PYTHON) -m venv --without-pip $(TOOLS)
	$(PYTHON) -m pip --python $(TOOLS)/bin/python install $(PIP_QUIET) uv==$(UV_VERSION) \
		|| { $(TOOLS)/bin/python -m ensurepip --upgrade >/dev/null \
		&& $(TOOLS)/bin/python -m pip install $(PIP_QUIET) uv==$(UV_VERSION); }

# The service, the client and the test tools. `--locked` fails when pyproject.toml
# asks for something uv.lock does not hold, instead of resolving anew.
install: $(UV)
	$(UV) sync --locked --quiet

# The service alone (what `make run` needs); test tools already installed stay.
install-service: $(UV)
	$(UV) sync --locked --quiet --no-default-groups --inexact

# A deliberate upgrade: newest releases within pyproject.toml's ranges, then install.
upgrade: $(UV)
	$(UV) lock --upgrade
	$(UV) sync --locked

run: install-service
	$(BIN)/custid serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Everything but the fault tests in two worker processes (pytest-xdist); then the fault
# tests alone, one after another: each loads the machine and times its own recovery.
test: lint
	$(BIN)/pytest -n 2 -m "not faults"
	$(BIN)/pytest -m faults

# The committed API document; a test fails until it is regenerated after an API change.
openapi: install
	$(BIN)/custid openapi --output openapi.json

# Load benchmark with its own PostgreSQL, Redis and service processes; see bench/README.md.
# Options: make bench BENCH_ARGS="--workers 2 --duration 10 --json out.json"
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The HTTP floor and keyed single issue under uvicorn and under granian, same app, same run.
bench-engines: install
	$(BIN)/python -m bench.engines $(BENCH_ARGS)

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

# The issue rate over HTTPS and under a flood of made-up tokens, against plain HTTP.
bench-security: install
	$(BIN)/python -m bench.security $(BENCH_ARGS)

# The trail at a million numbers: `custid check --audit` and `custid export`, time and memory.
bench-trail: install
	$(BIN)/python -m bench.trail $(BENCH_ARGS)

# schemathesis's own campaign, every check and phase, on both backends; see bench/contract.py.
contract: install
	$(BIN)/python -m bench.contract $(BENCH_ARGS)

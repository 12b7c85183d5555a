# fleetstream: `make test` and `make demo` set up everything on a fresh machine (Debian, root):
# Debian packages, the Python venv, the Kafka broker jars (via mvn) and the local stack.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# Debian packages: JDK + Maven (Kafka broker from Maven Central), PostgreSQL server, the
# line-protocol TSDB, libvirt headers (libvirt-python builds from source), Chromium (dashboard test),
# the node exporter (node agent benchmark baseline).
APT_PACKAGES := default-jre-headless maven postgresql victoria-metrics libvirt-dev pkg-config gcc \
	python3-venv python3-dev chromium prometheus-node-exporter

.PHONY: test demo lint unit integration stack-up stack-down system-deps venv bench clean \
	mutation

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/fleetstream: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/fleetstream

stack-up: system-deps venv
	$(BIN)/fleetstream stack up

stack-down:
	@if [ -x $(BIN)/fleetstream ]; then $(BIN)/fleetstream stack down; fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q

# The stack comes down whatever happened (a failed start, failed tests, Ctrl-C); the exit status
# is that of the first step that failed.
test: system-deps venv
	$(MAKE) lint
	trap '$(BIN)/fleetstream stack down' EXIT; \
	$(BIN)/fleetstream stack up && $(BIN)/pytest -q -p no:cacheprovider --durations=15

# The demo starts the stack itself, and stops it on Ctrl-C if it was not already running.
demo: system-deps venv
	$(BIN)/python -m fleetstream.demo

# Mutation testing of the pure core ([tool.mutmut] in pyproject.toml, docs/testing.md): not part of
# `make test` (about 20-30 minutes on 2 cores). MUTANTS narrows it, e.g.
# `make mutation MUTANTS='streams.domain.worker.*'`; the score per module is printed at the end.
MUTANTS ?=
MUTATION_JOBS ?= 2

mutation: venv
	rm -rf mutants
	env -u PYTHONPATH $(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS)
	env -u PYTHONPATH $(BIN)/mutmut results --all true | $(BIN)/python tests/mutation_score.py

# bench/faust_floor.py is not listed: bench/backup_pipeline.py runs it as its Faust baseline.
BENCHES := stack_startup backup_pipeline outbox_throughput node_agent vm_agent

bench: stack-up
	for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

clean: stack-down
	rm -rf .stack $(VENV) artifacts

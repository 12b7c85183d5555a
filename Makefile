# fleetstream: `make test` and `make demo` set up everything on a fresh machine (Debian, root):
# Debian packages, the Python venv, the Kafka broker jars (via mvn) and the local stack.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# Debian packages: JDK + Maven (Kafka broker from Maven Central), PostgreSQL server, the
# line-protocol TSDB, libvirt headers (libvirt-python builds from source), Chromium (dashboard test),
# the node exporter (node agent benchmark baseline), Prometheus and Alertmanager (the stack's
# monitoring; promtool and amtool check the shipped rules and configs), InfluxDB 1.x (strict
# line-protocol checks), openssl (certificates of the SASL_SSL listener), docker-compose (renders
# docker-compose.yml in its test; no Docker engine is needed or started).
APT_PACKAGES := default-jre-headless maven postgresql victoria-metrics libvirt-dev pkg-config gcc \
	python3-venv python3-dev chromium prometheus-node-exporter prometheus prometheus-alertmanager \
	influxdb openssl docker-compose

.PHONY: test demo lint rules schemas unit integration contract stack-up stack-down system-deps \
	venv bench bench-faust bench-peer clean mutation faults

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

lint: venv rules
	$(BIN)/ruff check .
	$(BIN)/mypy

# The alerting rules, their unit tests (every rule firing and not firing) and the configs that
# load them, as Prometheus and Alertmanager themselves read them.
rules: system-deps
	promtool check rules deploy/prometheus/fleetstream.rules.yml
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/fleetstream.rules.test.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

# Regenerate the committed contracts for other languages and deployments: the JSON Schemas of
# every event and seed body (schemas/json/) and .env.example. Run after changing schemas/ or
# common/settings.py; tests/unit/deploy fail until the committed files match.
schemas: venv
	$(BIN)/fleetstream schemas export schemas/json
	$(BIN)/fleetstream schemas env-example > .env.example.new && mv .env.example.new .env.example

unit: venv
	$(BIN)/pytest tests/unit -q

# The stack comes down whatever happened (a failed start, failed tests, Ctrl-C); the exit status
# is that of the first step that failed. The tests run TEST_PROCESSES at a time (pytest-xdist;
# worksteal: the long fault tests do not hold up the rest): every test has its own topics,
# database, ports and private servers, and the shared stack is never stopped.
TEST_PROCESSES ?= 2

test: system-deps venv
	$(MAKE) lint
	trap '$(BIN)/fleetstream stack down' EXIT; \
	$(BIN)/fleetstream stack up && $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_PROCESSES) \
		--dist worksteal --durations=15

# The API contract alone: schemathesis fuzzes a live worker from its GET /openapi.json (every
# operation, valid and invalid requests; no 5xx, every answer as documented). `make test` runs it
# too, with the other integration tests.
CONTRACT_TEST := tests/integration/web/test_openapi_contract.py

contract: stack-up
	$(BIN)/pytest -q -p no:cacheprovider -s $(CONTRACT_TEST)

# The demo starts the stack itself, and stops it on Ctrl-C if it was not already running.
demo: system-deps venv
	$(BIN)/python -m fleetstream.demo

# Mutation testing of the pure core ([tool.mutmut] in pyproject.toml, docs/testing.md): not part of
# `make test`. MUTANTS narrows it, e.g. `make mutation MUTANTS='streams.domain.worker.*'`; the
# score per module is printed at the end (exit 1 below the goal). The property tests run with
# the `mutation` Hypothesis profile (tests/conftest.py): fewer examples, once per mutant.
# It has a venv of its own: mutmut 3.8 (the first that works with pytest 9) needs click>=8.4.2,
# which faust-streaming forbids, and the pure core needs nothing but pydantic and orjson.
MUTATION_VENV := .venv-mutation
MUTATION_PACKAGES := "mutmut==3.8.1" "pytest>=8" "pytest-asyncio>=0.23" "pytest-timeout>=2.3" \
	"hypothesis>=6.100" "pydantic>=2.6" "orjson>=3.10"
MUTANTS ?=
MUTATION_JOBS ?= 2

$(MUTATION_VENV)/bin/mutmut: Makefile
	test -x $(MUTATION_VENV)/bin/python || $(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install -q $(MUTATION_PACKAGES)
	touch $@

mutation: $(MUTATION_VENV)/bin/mutmut
	rm -rf mutants
	env -u PYTHONPATH FLEETSTREAM_HYPOTHESIS_PROFILE=mutation \
		$(MUTATION_VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) $(foreach m,$(MUTANTS),'$(m)')
	env -u PYTHONPATH $(MUTATION_VENV)/bin/mutmut results --all true \
		| $(MUTATION_VENV)/bin/python tests/mutation_score.py

# The fault suite's long variants (tests/faults, docs/reliability.md): kill -9 of a worker under
# 100,000 backup events, 60 s PostgreSQL and TSDB outages, a 6-minute broker outage, a worker
# cut off by a 60 s network partition (as root: it makes network namespaces). `make test`
# runs the short variants. -s shows each test's FIGURES line (the numbers of the reliability table).
faults: stack-up
	FLEETSTREAM_FAULTS_LONG=1 $(BIN)/pytest -q -s -p no:cacheprovider --timeout 1800 tests/faults

# bench/faust_floor.py is not listed: bench/backup_pipeline.py runs it as its Faust baseline.
BENCHES := stack_startup runtime backup_pipeline outbox_throughput node_agent vm_agent

bench: stack-up
	for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

# What each Faust tuning choice (streams/faust_tuning.py) is worth, next to the raw ceiling.
bench-faust: stack-up
	$(BIN)/python bench/faust_tuning.py

# The peer (Quix Streams 3.x) runs from its own virtualenv: it pins its own Kafka client and state
# store, which must not mix with the project's.
PEER_VENV := .venv-peer

$(PEER_VENV)/.installed: bench/peer-requirements.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q --upgrade pip
	$(PEER_VENV)/bin/pip install -q -r bench/peer-requirements.txt
	touch $@

bench-peer: stack-up $(PEER_VENV)/.installed
	$(BIN)/python bench/peer.py --peer-python $(PEER_VENV)/bin/python

clean: stack-down
	rm -rf .stack $(VENV) $(PEER_VENV) artifacts

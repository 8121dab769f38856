# motcua — `make run` starts the whole system with embedded defaults; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: run test lint bench simulate chaos migrate topics kafka-up kafka-down kafka-fetch lock clean help deploy-check \
        system-run system-test

help:
	@echo "make run | test | lint | bench | simulate | chaos | migrate | kafka-up | kafka-down | lock | clean | deploy-check"

## Debian's packages (Python's venv, Java, Maven; Chromium for the tests), installed when missing: as root or with
## sudo, else deploy/system-packages.sh says the one command that does.
system-run:
	@PYTHON=$(PYTHON) deploy/system-packages.sh run

system-test:
	@PYTHON=$(PYTHON) deploy/system-packages.sh test

$(BIN)/.installed: requirements.lock | system-run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

venv: $(BIN)/.installed

kafka-fetch: system-run
	deploy/kafka/kafka.sh fetch

## Whole system on this machine: Kafka (KRaft) on 9092, SQLite files in var/, services on 8101-8105, gateway on 8000.
run: $(BIN)/.installed
	deploy/run.sh

## The whole suite. Starts its own broker on 39092/39093; also runs on PostgreSQL when TEST_DATABASE_URL is set.
test: system-test $(BIN)/.installed kafka-fetch
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy services sim

## A simulated quarter through the gateway (var/sim), reports compared with its ground truth. SIZE, MIX, PERIOD,
## SEED, SIM_ARGS (e.g. --postgres URL); defaults: the seed-sized quarter (python -m sim --help).
SIZE ?= 21462
MIX ?= seed
PERIOD ?= 2021-05-16:2021-08-15
SEED ?= 1
simulate: $(BIN)/.installed kafka-fetch
	PYTHONPATH=$(CURDIR):$(CURDIR)/payment-svc $(BIN)/python -m sim --size $(SIZE) --mix $(MIX) --period $(PERIOD) \
	    --seed $(SEED) $(SIM_ARGS)

## A quarter on PostgreSQL (a cluster of its own on port 5499) while the broker, each service and the database are
## stopped and restarted; the reports must still equal the ground truth. Needs root. CHAOS_SIZE dossiers.
CHAOS_SIZE ?= 3000
chaos: $(BIN)/.installed kafka-fetch
	PYTHONPATH=$(CURDIR):$(CURDIR)/payment-svc $(BIN)/python -m sim.chaos --size $(CHAOS_SIZE) $(SIM_ARGS)

## Benchmarks; figures go to bench/RESULTS.md by hand with the machine and date.
bench: $(BIN)/.installed kafka-fetch
	$(BIN)/python -m bench.relay

## Dockerfiles (hadolint), deploy/compose.yaml (Compose spec) and deploy/k8s (Kubernetes schemas, Strimzi topics
## against services/topics.py, settings), then kustomize and docker compose where those clients are installed.
deploy-check: $(BIN)/.installed
	$(BIN)/python -m pytest tests/deploy -q
	@if command -v kubectl >/dev/null; then kubectl kustomize deploy/k8s >/dev/null && echo "kubectl kustomize deploy/k8s: ok"; \
	else echo "kubectl not installed: kustomize build not checked"; fi
	@if docker compose version >/dev/null 2>&1; then docker compose -f deploy/compose.yaml config -q && echo "docker compose config: ok"; \
	else echo "docker compose plugin not installed: compose.yaml checked against the Compose spec only"; fi

migrate: $(BIN)/.installed
	deploy/migrate.sh

topics: $(BIN)/.installed
	$(BIN)/python -m services.topics

kafka-up:
	deploy/kafka/kafka.sh start var/kafka 9092 9093

kafka-down:
	deploy/kafka/kafka.sh stop var/kafka

## Maintainers: re-resolve Python and Kafka pins after editing requirements.in or deploy/kafka/pom.xml.
lock:
	$(BIN)/pip install --quiet uv && $(BIN)/uv pip compile requirements.in -o requirements.lock --generate-hashes --python-version 3.11
	deploy/kafka/kafka.sh lock

clean:
	rm -rf var

# Scheme 06 health data pipeline - developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | md5sum | cut -c1-12)

# Everything lives under the repository's working folder, never in the user's home.
export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME := $(CURDIR)/.work/airflow
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db
export S06_DATA_ROOT ?= $(CURDIR)/.work/data
# The development environment runs against the sample facility systems: their registry is generated
# (sample_data/facilities.yaml). config/facilities.yaml is the hand-edited production registry.
export S06_FACILITIES_FILE ?= $(CURDIR)/sample_data/facilities.yaml
# Dev/test-only pseudonymization key (a dummy, like the dev connections of mozilla/telemetry-airflow).
# Production sets AIRFLOW_CONN_S06_PSEUDONYM_KEY or S06_PSEUDONYM_KEY from its secrets backend.
export AIRFLOW_CONN_S06_PSEUDONYM_KEY ?= $(shell cat $(CURDIR)/config/dev_connections/s06_pseudonym_key.json)

START ?= 2026-11-21
NIGHTS ?= 3
# Slots of the Airflow pool s06_facility_sources (concurrent calls into facility systems): make up, demo.
export S06_POOL_SLOTS ?= 8

.PHONY: help install demo test lint typecheck fix airflow-init sample bench bench-national bench-scale clean run-night up down status trigger \
	test-celery screenshots system-deps fuzz chaos
help:  ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .   # the `s06` command
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## Create .venv, install the pinned requirements and the `s06` command (only when they changed)

airflow-init: install  ## Initialise Airflow's embedded SQLite metadata DB under .work/airflow
	@mkdir -p $(AIRFLOW_HOME)
	@$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)

sample: install  ## Generate the synthetic sample data into $$S06_DATA_ROOT
	$(BIN)/python -m sample_data.generator --out $(S06_DATA_ROOT) --start $(START) --nights $(NIGHTS)

demo: airflow-init  ## MAIN JOB: sample data, then the nightly DAGs for $$NIGHTS nights, then a summary
	$(BIN)/s06 demo --start $(START) --nights $(NIGHTS)

run-night: airflow-init  ## One dataset, one night (exit code as the backfill's): make run-night DATASET=birth_certificates DATE=2026-11-21
	$(BIN)/s06 demo --dataset $(DATASET) --start $(DATE) --nights 1 --no-generate --strict

# Test workers (pytest-xdist): one per core, at most 4 (each starts its own PostgreSQL server).
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: airflow-init system-deps  ## TEST COMMAND: lint, type-check, then the whole suite (starts its own PostgreSQL, Redis, Airflow)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

system-deps:  ## Debian packages the tests use (redis-server for the Celery test), installed when missing
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null)

test-celery: airflow-init system-deps  ## The CeleryExecutor test on every dataset (PostgreSQL + Redis + 2 workers)
	S06_CELERY_DATASETS=all $(BIN)/python -m pytest tests/service/test_celery.py -q

up: airflow-init  ## Run it as a service: scheduler, dag-processor, triggerer, api-server (URL + login printed), loopback only
	$(BIN)/python -m ops.service up

down:  ## Stop exactly what `make up` started (pid files under .work/service)
	@$(BIN)/python -m ops.service down

status:  ## Which processes started by `make up` are running
	@$(BIN)/python -m ops.service status

trigger: install  ## Process a night on the running service: make trigger NIGHT=2026-11-21 [DATASET=...]
	$(BIN)/python -m ops.trigger --night $(NIGHT) $(if $(DATASET),--dataset $(DATASET)) --wait

screenshots: install  ## Headless Chromium pictures of the running service's UI into docs/screenshots/
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	$(BIN)/python -m ops.screenshots --out docs/screenshots

fuzz: install  ## Long fuzz run of every reader and of whole batches (FUZZ_EXAMPLES=3000 per reader test)
	HYPOTHESIS_PROFILE=long S06_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-3000} $(BIN)/python -m pytest tests/fuzz -q

lint: install  ## ruff
	$(BIN)/ruff check .

typecheck: install  ## mypy on the product packages (disallow_untyped_defs; tests excluded)
	$(BIN)/mypy

fix: install  ## ruff --fix and format
	$(BIN)/ruff check --fix . ; $(BIN)/ruff format .

bench: install  ## Benchmark every dataset through every stage, then the PostgreSQL staging load (ROWS=..., default 1,000,000)
	$(BIN)/python -m bench.bench_pipeline --dataset all --rows $${ROWS:-1000000}
	$(BIN)/python -m bench.bench_pg_load --rows $${ROWS:-1000000}

bench-national: install  ## The national night (13,000 facilities, four datasets) against the hand-written floor, same run; then docs/benchmarks.md
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.bench_national --pairs 3
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.report

bench-scale: install  ## Process start and small batches, a night into a 2,000,000-row store, the XML readers; then docs/benchmarks.md
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.bench_start
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.bench_history
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.bench_xml_readers
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.report

chaos: install  ## SIGKILL the backfill at random kill points, re-run, compare with a clean run, SQLite + PostgreSQL: make chaos N=30 (make test: 1 kill per dialect)
	$(BIN)/python -m tools.chaos --runs $(or $(N),10) --nights $(NIGHTS) $(if $(DIALECT),--dialect $(DIALECT)) $(if $(SEED),--seed $(SEED))

clean:  ## Remove the working folder (data zones, Airflow home); keeps .venv
	rm -rf .work

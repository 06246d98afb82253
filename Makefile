# Scheme 06 health data pipeline - developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | md5sum | cut -c1-12)

# Everything lives under the repository's working folder, never in the user's home.
export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME := $(CURDIR)/.work/airflow
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db
export S06_DATA_ROOT ?= $(CURDIR)/.work/data
# Dev/test-only pseudonymization key (a dummy, like the dev connections of mozilla/telemetry-airflow).
# Production sets AIRFLOW_CONN_S06_PSEUDONYM_KEY or S06_PSEUDONYM_KEY from its secrets backend.
export AIRFLOW_CONN_S06_PSEUDONYM_KEY ?= $(shell cat $(CURDIR)/config/dev_connections/s06_pseudonym_key.json)

START ?= 2026-11-21
NIGHTS ?= 3

.PHONY: help install demo test lint fix airflow-init sample bench clean run-night chaos
help:  ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## Create .venv and install the pinned requirements (only when they changed)

airflow-init: install  ## Initialise Airflow's embedded SQLite metadata DB under .work/airflow
	@mkdir -p $(AIRFLOW_HOME)
	@$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)

sample: install  ## Generate the synthetic sample data into $$S06_DATA_ROOT
	$(BIN)/python -m sample_data.generator --out $(S06_DATA_ROOT) --start $(START) --nights $(NIGHTS)

demo: airflow-init  ## MAIN JOB: sample data, then the nightly DAGs for $$NIGHTS nights, then a summary
	$(BIN)/python -m pipeline.demo --start $(START) --nights $(NIGHTS)

run-night: airflow-init  ## One dataset, one night (exit code as the backfill's): make run-night DATASET=birth_certificates DATE=2026-11-21
	$(BIN)/python -m pipeline.demo --dataset $(DATASET) --start $(DATE) --nights 1 --no-generate --strict

test: airflow-init  ## TEST COMMAND: lint, then the whole suite (starts its own PostgreSQL)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install  ## ruff
	$(BIN)/ruff check .

fix: install  ## ruff --fix and format
	$(BIN)/ruff check --fix . ; $(BIN)/ruff format .

bench: install  ## Benchmark every dataset through every stage, then the PostgreSQL staging load (ROWS=..., default 1,000,000)
	$(BIN)/python -m bench.bench_pipeline --dataset all --rows $${ROWS:-1000000}
	$(BIN)/python -m bench.bench_pg_load --rows $${ROWS:-1000000}

chaos: install  ## SIGKILL the backfill at random kill points, re-run, compare with a clean run, SQLite + PostgreSQL: make chaos N=30
	$(BIN)/python -m tools.chaos --runs $(or $(N),10) --nights $(NIGHTS) $(if $(DIALECT),--dialect $(DIALECT)) $(if $(SEED),--seed $(SEED))

clean:  ## Remove the working folder (data zones, Airflow home); keeps .venv
	rm -rf .work

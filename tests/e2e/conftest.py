"""One run of every dataset DAG over the generated sample nights, shared by the e2e modules.

The sample facility systems (REST API server on a loopback port, SQLite facility database) run
for the whole module, as they do in ``make demo``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from config.settings import load_settings

START = dt.date(2026, 11, 21)
NIGHTS = [START + dt.timedelta(days=i) for i in range(3)]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _ensure_airflow_db() -> None:
    """``make test`` migrates the metadata DB; a bare ``pytest`` run gets it here."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)


def run_night(dataset: str, night: dt.date):
    """``dag.test()`` of one dataset for one night (the run at D+1 00:00 local processes night D)."""
    from pipeline.dag_factory import build_dag

    after = dt.datetime(night.year, night.month, night.day, tzinfo=TZ) + dt.timedelta(days=1)
    return build_dag(dataset).test(logical_date=after)


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """What a DAG run ended with, captured at once (a later run of the same logical date replaces
    the run's rows in Airflow's metadata DB)."""

    state: str
    tasks: dict[tuple[str, int], str]


def outcome(run) -> RunOutcome:
    return RunOutcome(str(run.state), {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()})


def select(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


@pytest.fixture(scope="package")
def sample_systems():
    """Generated sample data + the sample facility systems, for the tests of this package.

    Package scope: the facility systems stop and their ``AIRFLOW_CONN_S06_FAC_*`` variables are
    removed when the last end-to-end test has run, so no later test depends on them by accident.
    """
    from config.registry import load_registry
    from sample_data.generator import generate
    from sample_data.sources import sample_sources

    settings = load_settings()
    _ensure_airflow_db()
    generate(settings.data_root, START, len(NIGHTS))
    with sample_sources(settings.data_root, load_registry(settings.facilities_file)) as server:
        yield settings, server


@pytest.fixture(scope="package")
def all_datasets_run(sample_systems):
    from config.contracts import available_datasets
    from loaders import staging

    settings, _server = sample_systems
    runs = {}
    # Shards of three facilities: the ground-truth tests see batches judged and loaded together;
    # the re-run tests later use other shards (the default, one facility per task at this size,
    # and one shard per dataset for the forced re-run), so an identical outcome also shows that a
    # batch does not depend on the shard it was in.
    previous = os.environ.get("S06_FACILITIES_PER_TASK")
    os.environ["S06_FACILITIES_PER_TASK"] = "3"
    try:
        for night in NIGHTS:
            for ds in available_datasets():
                runs[(ds, night)] = outcome(run_night(ds, night))
    finally:
        if previous is None:
            os.environ.pop("S06_FACILITIES_PER_TASK", None)
        else:
            os.environ["S06_FACILITIES_PER_TASK"] = previous
    return settings, staging.make_engine(settings.staging_url), runs

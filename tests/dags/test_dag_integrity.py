"""DAG integrity (STYLE P12): imports cleanly and fast, no DB or connection use at parse time,
policy (owner, retries, tags, schedule, catchup), and a snapshot of the task graph."""

import time
from pathlib import Path

import pytest

from config.contracts import available_datasets
from pipeline.dag_factory import ALLOWED_TAGS

DAG_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p.name for p in DAG_DIR.glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAG_DIR))


@pytest.mark.parametrize("filename", DAG_FILES)
def test_no_import_errors(dagbag, filename):
    errors = {Path(k).name: v for k, v in dagbag.import_errors.items()}
    assert filename not in errors, errors.get(filename)


def test_one_dag_per_dataset(dagbag):
    assert sorted(dagbag.dag_ids) == available_datasets()


def test_parse_is_fast_and_touches_no_database_or_connection(monkeypatch):
    import importlib.util

    import sqlalchemy as sa

    queries = []
    monkeypatch.setattr(sa.engine.Engine, "connect", lambda *a, **k: queries.append("connect"))
    from airflow.sdk import BaseHook, Connection

    def _no_lookup(*a, **k):
        raise AssertionError("connection looked up at parse time")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(_no_lookup))
    monkeypatch.setattr(Connection, "get", classmethod(_no_lookup))
    for path in DAG_DIR.glob("*.py"):
        spec = importlib.util.spec_from_file_location(f"dagcheck_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        start = time.perf_counter()
        spec.loader.exec_module(module)
        assert time.perf_counter() - start < 2.0, f"{path.name} parses slowly"
    assert queries == []


def test_parse_does_not_import_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "bad=[m for m in ('great_expectations','pandas','pyarrow','psycopg') if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(DAG_DIR / "scheme06_datasets.py")],
                         capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1:] in ([""], []), out.stdout


@pytest.mark.parametrize("dataset", available_datasets())
def test_policy(dagbag, dataset):
    dag = dagbag.dags[dataset]
    assert dag.doc_md and dataset in dag.doc_md
    assert set(dag.tags) <= ALLOWED_TAGS and dataset in dag.tags
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "CronDataIntervalTimetable" in type(dag.timetable).__name__
    for t in dag.tasks:
        assert t.owner == "scheme06-data-engineering"
    process = dag.get_task("process_facilities")
    assert process.retries >= 1 and process.retry_policy is not None


@pytest.mark.parametrize("dataset", available_datasets())
def test_graph_snapshot(dagbag, dataset):
    dag = dagbag.dags[dataset]
    edges = sorted((t.task_id, d) for t in dag.tasks for d in sorted(t.downstream_task_ids))
    assert edges == [
        ("plan_shards", "process_facilities"),
        ("process_facilities", "publish_curated"),
        ("publish_curated", "reconcile"),
    ]
    assert dag.get_task("publish_curated").trigger_rule == "all_done"
    assert dag.get_task("reconcile").trigger_rule == "all_done"

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


def test_one_dag_per_dataset_and_the_quality_report(dagbag):
    assert sorted(dagbag.dag_ids) == sorted([*available_datasets(), "quality_report"])


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


@pytest.mark.parametrize("filename", DAG_FILES)
def test_parse_does_not_import_heavy_libraries(filename):
    import subprocess
    import sys

    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "bad=[m for m in ('great_expectations','pandas','pyarrow','psycopg','matplotlib','openpyxl') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(DAG_DIR / filename)],
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


def test_quality_report_policy_schedule_and_graph(dagbag):
    """Scheduled on every dataset's staging Asset, with a daily time fallback; wiring snapshot."""
    dag = dagbag.dags["quality_report"]
    assert dag.doc_md and "Fallback" in dag.doc_md
    assert set(dag.tags) <= ALLOWED_TAGS
    assert dag.catchup is False and dag.max_active_runs == 1
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # every dataset, not any one of them
    assert {a.uri for a in condition.objects} == {f"s06://staging/{ds}" for ds in available_datasets()}
    for t in dag.tasks:
        assert t.owner == "scheme06-data-engineering" and t.retries >= 1
    edges = sorted((t.task_id, d) for t in dag.tasks for d in sorted(t.downstream_task_ids))
    assert edges == [
        ("refresh_quality_mart", "build_gx_data_docs"),
        ("refresh_quality_mart", "write_facility_feedback"),
        ("refresh_quality_mart", "write_quality_report"),
    ]


@pytest.mark.parametrize("dataset", available_datasets())
def test_service_policy(dagbag, dataset):
    """Params name the night, facility tasks are labelled, alerts/deadline/timeout/assets are wired."""
    from pipeline.dag_factory import MAP_INDEX_TEMPLATE, SOURCE_POOL

    dag = dagbag.dags[dataset]
    assert {"night", "facilities"} <= set(dag.params.keys())
    assert dag.params["night"] is None and dag.params["facilities"] is None
    process = dag.get_task("process_facilities")
    assert process.map_index_template == MAP_INDEX_TEMPLATE and process.pool == SOURCE_POOL
    assert dag.dagrun_timeout is not None and dag.on_failure_callback
    assert dag.deadline and dag.deadline[0].callback.path == "pipeline.notify.RunSummaryNotifier"
    import datetime as dt

    assert dag.deadline[0].interval == dt.timedelta(days=1, hours=6)
    uris = {o.uri for o in dag.get_task("publish_curated").outlets}
    assert uris == {f"s06://staging/{dataset}", f"s06://curated/{dataset}"}


def test_run_params_and_trigger_payload():
    import datetime as dt

    from pipeline.runparams import facilities_param, interval_for, night_param, trigger_payload

    assert night_param({"night": "2026-11-23"}) == dt.date(2026, 11, 23)
    assert night_param({"night": ""}) is None and night_param(None) is None
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        night_param({"night": "23/11/2026"})
    assert facilities_param({"facilities": "31011, 79034"}) == ["31011", "79034"]
    assert facilities_param({"facilities": []}) is None
    start, end = interval_for(dt.date(2026, 11, 23), None, None)
    assert start.isoformat() == "2026-11-22T17:00:00+00:00" and end - start == dt.timedelta(days=1)
    body = trigger_payload(dt.date(2026, 11, 23), ["31011"])
    assert body["dag_run_id"].startswith("night_2026-11-23_31011__manual__")
    assert body["logical_date"] == body["data_interval_start"] == "2026-11-22T17:00:00+00:00"
    assert body["conf"] == {"night": "2026-11-23", "facilities": ["31011"]}


def test_deadline_time_is_configurable(monkeypatch):
    import datetime as dt

    from pipeline.dag_factory import deadline_interval

    monkeypatch.setenv("S06_NIGHT_DEADLINE", "05:30")
    assert deadline_interval() == dt.timedelta(days=1, hours=5, minutes=30)
    monkeypatch.setenv("S06_NIGHT_DEADLINE", "25:00")
    with pytest.raises(ValueError, match="HH:MM"):
        deadline_interval()

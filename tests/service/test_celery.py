"""The same DAGs under the CeleryExecutor: PostgreSQL 15 as Airflow's metadata DB (the suite's
server), Redis as broker (Debian's ``redis-server`` on a free loopback port), two Celery workers on
loopback. One sample night, triggered through the REST API, must give the same ledger and the same
staging rows as ``dag.test()`` of that night into a separate data root.

The normal test command runs ``driver_health_checks`` (file drops + the REST facility);
``make test-celery`` (``S06_CELERY_DATASETS=all``) runs every dataset (``ops.service.DATASETS``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ops.service import DATASETS, ServiceConfig, down, free_port, up
from ops.trigger import trigger, wait

pytestmark = pytest.mark.integration

NIGHT = dt.date(2026, 11, 21)
SELECTED = list(DATASETS) if os.environ.get("S06_CELERY_DATASETS") == "all" else ["driver_health_checks"]
# input_fingerprint names the data root's reference files: two stores in two roots differ there by design.
IGNORED = {"started_at", "finished_at", "timings", "attempts", "loaded_at", "source_facts", "input_fingerprint"}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.fail("redis-server is not installed (make test installs it: make system-deps)")
    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def celery_service(tmp_path_factory, pg_server, redis_url):
    root = tmp_path_factory.mktemp("celery")
    db = pg_server.create_database("airflow_celery").replace("+psycopg", "+psycopg2")
    cfg = ServiceConfig(work=root / "work", airflow_home=root / "airflow", data_root=root / "data",
                        api_port=free_port(), log_port=free_port(), trigger_log_port=free_port(),
                        sample_api_port=free_port(), sink_port=free_port(), schedule="none",
                        executor="CeleryExecutor", sql_alchemy_conn=db, broker_url=redis_url,
                        celery_workers=2, celery_concurrency=2, parallelism=8)
    svc = up(cfg, pool_slots=4)
    try:
        yield svc
    finally:
        down(cfg)


def _rows(engine, table: sa.Table) -> list[tuple]:
    cols = [c for c in table.columns if c.name not in IGNORED]
    with engine.connect() as conn:
        return sorted(tuple(str(v) for v in r) for r in conn.execute(sa.select(*cols)))


def test_celery_night_equals_dag_test(celery_service, tmp_path, monkeypatch):
    from config.registry import load_registry
    from config.settings import load_settings
    from loaders import staging
    from loaders.schema import batch_ledger, dataset_tables
    from pipeline.dag_factory import build_dag
    from pipeline.runparams import night_interval
    from sample_data.sources import sample_sources

    svc = celery_service
    api = svc.api
    runs = {ds: trigger(api, ds, NIGHT)["dag_run_id"] for ds in SELECTED}
    states = wait(api, list(runs.items()), 600, interval=1.0)  # (default: every 3 s)
    assert all(s in ("success", "failed") for s in states.values()), states
    # both workers took tasks (hostnames of the finished task instances)
    hosts = set()
    for ds, run_id in runs.items():
        tis = api.get(f"/api/v2/dags/{ds}/dagRuns/{run_id}/taskInstances", params={"limit": 100})["task_instances"]
        hosts |= {ti["hostname"] for ti in tis}
        assert all(ti["state"] in ("success", "failed") for ti in tis), [(t["task_id"], t["state"]) for t in tis]
    workers = api.get("/api/v2/monitor/health")
    assert workers["scheduler"]["status"] == "healthy"

    # the reference: dag.test() of the same night, same generated data, into a separate data root
    ref_root = tmp_path / "ref"
    shutil.copytree(svc.cfg.data_root / "drop", ref_root / "drop")
    for extra in ("reference", "api", "facility_db", "ground_truth"):
        if (svc.cfg.data_root / extra).exists():
            shutil.copytree(svc.cfg.data_root / extra, ref_root / extra)
    monkeypatch.setenv("S06_DATA_ROOT", str(ref_root))
    monkeypatch.delenv("S06_STAGING_URL", raising=False)
    settings = load_settings()
    start, _end = night_interval(NIGHT)
    with sample_sources(ref_root, load_registry(settings.facilities_file)):
        for ds in SELECTED:
            build_dag(ds).test(logical_date=start + dt.timedelta(days=1))
    ref = staging.make_engine(settings.staging_url)
    got = staging.make_engine(f"sqlite:///{svc.cfg.data_root / 'staging.db'}")
    try:
        ledger_ref, ledger_got = _rows(ref, batch_ledger), _rows(got, batch_ledger)
        assert ledger_got == ledger_ref
        assert ledger_got, "nothing was processed"
        for ds in SELECTED:
            current, versions = dataset_tables(ds)
            assert _rows(got, current) == _rows(ref, current), ds
            assert _rows(got, versions) == _rows(ref, versions), ds
    finally:
        ref.dispose()
        got.dispose()
    assert hosts <= {"127.0.0.1"}, hosts

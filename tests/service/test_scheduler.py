"""Under the real Airflow scheduler: the service ``make up`` starts (LocalExecutor on SQLite,
api-server, dag-processor, triggerer, loopback log server, sample facility API, alert sink) on free
loopback ports, one sample night triggered through the REST API v2, and the same ledger as the
``dag.test()`` end-to-end runs (the generator's ground truth for that night). Then: a missing
connection and a missing pool fail fast, naming them, and alerts go out (failure and deadline).

Bounded waits everywhere; the service is stopped (pid files) at the end whatever happens.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from config.registry import load_registry
from config.settings import REPO_ROOT
from ops.service import DATASETS, ServiceConfig, down, free_port, up
from ops.trigger import trigger, wait

pytestmark = pytest.mark.integration

NIGHT = dt.date(2026, 11, 21)
RUN_TIMEOUT = 480
#: Seconds between two looks at a run's state or the alerts file (ops.trigger.wait polls every 3 s by default).
POLL = 1.0


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("service")
    cfg = ServiceConfig(work=root / "work", airflow_home=root / "airflow", data_root=root / "data",
                        api_port=free_port(), log_port=free_port(), trigger_log_port=free_port(),
                        sample_api_port=free_port(), sink_port=free_port(), schedule="none",
                        sample_start="2026-11-21", sample_nights=3, parallelism=4)
    svc = up(cfg, pool_slots=4)
    try:
        yield svc
    finally:
        down(cfg)


@pytest.fixture(scope="module")
def night_runs(service):
    runs = {ds: trigger(service.api, ds, NIGHT)["dag_run_id"] for ds in DATASETS}
    states = wait(service.api, list(runs.items()), RUN_TIMEOUT, interval=POLL)
    return runs, {ds: states[(ds, run_id)] for ds, run_id in runs.items()}


def _alerts(cfg: ServiceConfig) -> list[dict]:
    if not cfg.alerts_file.exists():
        return []
    return [json.loads(line) for line in cfg.alerts_file.read_text(encoding="utf-8").splitlines() if line.strip()]


def _wait_alert(cfg: ServiceConfig, match, timeout: float = 150.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = [a for a in _alerts(cfg) if match(a)]
        if hits:
            return hits[-1]
        time.sleep(POLL)
    raise AssertionError(f"no matching alert within {timeout:.0f} s; got {[a.get('event') for a in _alerts(cfg)]}")


def _task_instances(api, dag_id: str, run_id: str) -> list[dict]:
    return api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})["task_instances"]


def _log_lines(cfg: ServiceConfig, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
    folder = cfg.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    path = sorted(folder.glob("attempt=*.log"))[-1]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_runs_succeed_with_night_named_run_ids(night_runs):
    runs, states = night_runs
    for _ds, run_id in runs.items():
        assert run_id.startswith(f"night_{NIGHT.isoformat()}__manual__"), run_id
    assert set(states.values()) <= {"success", "failed"}, states  # finished within the bound


def test_ledger_matches_ground_truth_of_the_night(service, night_runs):
    from loaders.schema import batch_ledger

    engine = sa.create_engine(f"sqlite:///{service.cfg.data_root / 'staging.db'}")
    with engine.connect() as conn:
        ledger = [dict(r._mapping) for r in conn.execute(sa.select(batch_ledger))]
    engine.dispose()
    for ds in DATASETS:
        with (service.cfg.data_root / "ground_truth" / f"{ds}.csv").open(encoding="utf-8") as fh:
            truth = [r for r in csv.DictReader(fh) if r["night"] == NIGHT.isoformat()]
        expected: dict[str, Counter] = defaultdict(Counter)
        for row in truth:
            expected[row["facility_code"]][row["expected_action"]] += 1
        rows = {r["facility_code"]: r for r in ledger if r["dataset"] == ds}
        assert set(expected) <= set(rows), (ds, sorted(rows))
        for code, row in rows.items():
            exp = expected.get(code, Counter())
            assert row["batch_id"] == f"{ds}/{code}/{NIGHT.isoformat()}"
            assert row["received"] == sum(exp.values()) - exp["reject_file"], (ds, code, row["reason"])
            assert row["quarantined"] == exp["quarantine"], (ds, code)
            assert row["superseded"] == exp["supersede"], (ds, code)
            if row["status"] != "held":
                assert (row["loaded"], row["flagged"]) == (exp["load"] + exp["flag"], exp["flag"]), (ds, code)


def test_mapped_tasks_are_labelled_and_summarised(service, night_runs):
    runs, _states = night_runs
    api = service.api
    registered = {f.code for f in load_registry(REPO_ROOT / "sample_data" / "facilities.yaml")}
    for ds, run_id in runs.items():
        mapped = [ti for ti in _task_instances(api, ds, run_id) if ti["task_id"] == "process_facilities"]
        assert mapped
        for ti in mapped:
            label = ti["rendered_map_index"]
            assert label in registered, label  # a facility (or source system) code, not 0..N
            xcom = api.get(f"/api/v2/dags/{ds}/dagRuns/{run_id}/taskInstances/process_facilities/xcomEntries/summary",
                           params={"map_index": ti["map_index"], "deserialize": True})
            summary = xcom["value"]
            if isinstance(summary, str):
                summary = json.loads(summary.replace("'", '"').replace("None", "null"))
            assert summary[0]["facility_code"] == label and "quarantined_by_rule" in summary[0]
            lines = _log_lines(service.cfg, ds, run_id, "process_facilities", ti["map_index"])
            events = [str(line.get("event", "")) for line in lines]
            assert not any("Skipping registering" in e for e in events), "Great Expectations INFO noise in the log"
            ours = [e for e in events if e.startswith(f"facility {label} ")]
            assert ours, events[-8:]
            # the summary is the last line the task writes before Airflow's own bookkeeping
            after = events[events.index(ours[-1]) + 1:]
            assert all(e.startswith(("Done. Returned", "::", "Pushing xcom", "Task failed", "Task instance"))
                       for e in after), after


def test_assets_carry_the_night(service, night_runs):
    _runs, _states = night_runs
    events = service.api.get("/api/v2/assets/events", params={"limit": 100})["asset_events"]
    by_uri = defaultdict(list)
    for e in events:
        by_uri[e["uri"]].append(e)
    for ds in DATASETS:
        for zone in ("staging", "curated"):
            hits = by_uri.get(f"s06://{zone}/{ds}")
            assert hits, (zone, ds, sorted(by_uri))
            assert hits[-1]["extra"]["night"] == NIGHT.isoformat()
            assert "months" in hits[-1]["extra"]
        assert by_uri[f"s06://staging/{ds}"][-1]["extra"]["rows"]["loaded"] >= 0


def test_deadline_already_past_sends_the_alert(service, night_runs):
    runs, _states = night_runs
    # the night's deadline (06:00 local the morning after 2026-11-21) passed long ago: the
    # scheduler marks it missed at once and the triggerer runs the notifier
    alert = _wait_alert(service.cfg, lambda a: a["event"] == "deadline" and a["run_id"] in runs.values())
    assert alert["night"] == NIGHT.isoformat() and alert["dataset"] in DATASETS
    assert "/runs/" in alert["url"] and alert["url"].startswith(service.cfg.api_url)


def test_service_listens_on_loopback_only(service):
    from ops.service import status

    for name, alive in status(service.cfg).items():
        assert alive, name
        pid = json.loads((service.cfg.pid_dir / f"{name}.pid").read_text())["pid"]
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for proc in procs:
            try:
                conns = proc.net_connections(kind="inet")
            except psutil.NoSuchProcess:
                # a task's short-lived child (a supervisor's runner) ended between listing and
                # asking: it listened on nothing that outlives it. The long-lived listeners stay.
                continue
            for conn in conns:
                if conn.status == psutil.CONN_LISTEN:
                    assert conn.laddr.ip in ("127.0.0.1", "::1"), (name, conn.laddr)
    listening = {c.laddr.port for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
                 and c.laddr.ip in ("127.0.0.1",)}
    assert service.cfg.log_port in listening and service.cfg.api_port in listening


def test_missing_connection_fails_fast_naming_it(service, night_runs):
    api = service.api
    night = dt.date(2026, 11, 22)
    spec = api.get("/api/v2/connections/s06_fac_75440")
    api.request("DELETE", "/api/v2/connections/s06_fac_75440").raise_for_status()
    try:
        started = time.monotonic()
        run_id = trigger(api, "driver_health_checks", night, ["75440", "24009"])["dag_run_id"]
        state = wait(api, [("driver_health_checks", run_id)], 180, interval=POLL)[("driver_health_checks", run_id)]
        assert state == "failed"
        assert time.monotonic() - started < 180
        tis = {(t["task_id"], t["rendered_map_index"]): t for t in _task_instances(api, "driver_health_checks", run_id)}
        failed = tis[("process_facilities", "75440")]
        assert failed["state"] == "failed" and failed["try_number"] == 1  # no retries for a config error
        assert tis[("process_facilities", "24009")]["state"] == "success"  # the other facility loaded
        plan = " ".join(str(x.get("event")) for x in _log_lines(service.cfg, "driver_health_checks", run_id, "plan_shards"))
        assert "s06_fac_75440" in plan
        alert = _wait_alert(service.cfg, lambda a: a["event"] == "failure" and a["run_id"] == run_id)
        assert "75440" in alert["text"] and "s06_fac_75440" in alert["text"]
        assert alert["url"].endswith(run_id.replace("+", "%2B"))
    finally:
        body = {k: spec.get(k) for k in ("connection_id", "conn_type", "host", "login", "schema", "port", "extra")}
        api.request("POST", "/api/v2/connections", json={**body, "password": "secret"}).raise_for_status()


def test_missing_pool_fails_fast_naming_it(service, night_runs):
    api = service.api
    pool = api.get("/api/v2/pools/s06_facility_sources")
    api.request("DELETE", "/api/v2/pools/s06_facility_sources").raise_for_status()
    try:
        run_id = trigger(api, "death_notices", dt.date(2026, 11, 22), ["01013"])["dag_run_id"]
        state = wait(api, [("death_notices", run_id)], 120, interval=POLL)[("death_notices", run_id)]
        assert state == "failed"
        tis = {t["task_id"]: t for t in _task_instances(api, "death_notices", run_id)}
        assert tis["plan_shards"]["state"] == "failed"
        lines = _log_lines(service.cfg, "death_notices", run_id, "plan_shards")
        text = json.dumps(lines)
        assert "PreflightError" in text and "s06_facility_sources" in text and "does not exist" in text
        assert tis["reconcile"]["state"] == "failed"  # the run is failed, not "success" with nothing done
    finally:
        api.request("POST", "/api/v2/pools", json={"name": pool["name"], "slots": pool["slots"],
                                                   "include_deferred": False}).raise_for_status()


def test_down_stops_exactly_what_up_started(service):
    recorded = {p.stem: json.loads(p.read_text())["pid"] for p in service.cfg.pid_dir.glob("*.pid")}
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "log-server", "sample-api",
            "alert-sink"} <= set(recorded)
    down(service.cfg)
    assert not list(service.cfg.pid_dir.glob("*.pid"))
    for name, pid in recorded.items():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, name
    assert Path(service.cfg.passwords_file).exists()

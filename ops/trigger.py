"""Trigger explicit nights on the running service through the REST API (v2), optionally wait.

    python -m ops.trigger --night 2026-11-21                         # every dataset
    python -m ops.trigger --night 2026-11-23 --dataset birth_certificates --facility 31011 --wait

Each run gets a run id that names the night (``night_2026-11-21__manual__<UTC time>``), the
night's local midnight as logical date, the night as data interval and ``{"night": ...}`` (plus
``facilities``) as conf — see :func:`pipeline.runparams.trigger_payload`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from ops.service import DATASETS, Api, ServiceConfig, api_for, transient
from pipeline.runparams import trigger_payload

FINISHED = {"success", "failed"}


def trigger(api: Api, dataset: str, night: dt.date, facilities: list[str] | None = None) -> dict[str, Any]:
    """Trigger ``dataset`` for ``night``. The first run of a night takes the night's midnight as logical
    date (so its deadline is the night's); Airflow keeps logical dates unique per DAG, so a re-run of
    the night takes the trigger time instead (same night param and data interval; its deadline then
    counts from the re-run)."""
    payload = trigger_payload(night, facilities)
    resp = api.request("POST", f"/api/v2/dags/{dataset}/dagRuns", json=payload)
    if resp.status_code == 409:
        payload["logical_date"] = dt.datetime.now(dt.UTC).isoformat()
        resp = api.request("POST", f"/api/v2/dags/{dataset}/dagRuns", json=payload)
    if resp.status_code >= 400:
        raise RuntimeError(f"trigger {dataset} {night}: HTTP {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def wait(api: Api, runs: list[tuple[str, str]], timeout: float, interval: float = 3.0) -> dict[tuple[str, str], str]:
    """Poll until every ``(dag_id, run_id)`` finished or ``timeout`` passed; returns the last states.

    A poll the API server does not answer in time (connection refused or reset, read timeout, a
    5xx answer) is not the run's failure: a busy server, or one restarting, answers a later poll.
    Such a poll keeps the state seen before and the next poll asks again. If the deadline passes
    and a run was never seen at all, the last such error is raised. A 4xx answer (unknown run,
    expired login) is raised at once. (``api.get`` has already asked again a few times.)
    """
    states: dict[tuple[str, str], str] = {}
    deadline = time.monotonic() + timeout
    while True:
        missed: Exception | None = None
        for dag_id, run_id in runs:
            if states.get((dag_id, run_id)) in FINISHED:
                continue
            try:
                states[(dag_id, run_id)] = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            except Exception as exc:
                if not transient(exc):
                    raise
                missed = exc
        if len(states) == len(runs) and all(s in FINISHED for s in states.values()):
            return states
        if time.monotonic() > deadline:
            if missed is not None and len(states) < len(runs):
                raise missed
            return states
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--night", type=dt.date.fromisoformat, required=True, help="local date YYYY-MM-DD")
    p.add_argument("--dataset", action="append", choices=DATASETS, help="default: every dataset")
    p.add_argument("--facility", action="append", help="restrict to these facility codes")
    p.add_argument("--wait", action="store_true", help="wait until the runs finish")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args(argv)
    cfg = ServiceConfig()
    api = api_for(cfg)
    runs = []
    for ds in args.dataset or DATASETS:
        run = trigger(api, ds, args.night, args.facility)
        runs.append((ds, run["dag_run_id"]))
        print(f"{ds}: {run['dag_run_id']}  {cfg.api_url}/dags/{ds}/runs/{run['dag_run_id']}")
    if args.wait:
        for (ds, run_id), state in wait(api, runs, args.timeout).items():
            print(f"{ds} {run_id}: {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure what the preload saves per task: the same night under ``make up``'s service, with and
without ``S06_PRELOAD``, one task at a time (``parallelism`` 1), task durations from the REST API.

    python -m ops.measure_preload [--dataset death_notices] [--night 2026-11-21]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import time

from ops.service import REPO, ServiceConfig, down, free_port, up
from ops.trigger import trigger, wait


def measure(preload: bool, dataset: str, night: dt.date) -> dict[str, list[float]]:
    root = REPO / ".work" / f"measure-preload-{int(preload)}"
    shutil.rmtree(root, ignore_errors=True)
    cfg = ServiceConfig(work=root / "service", airflow_home=root / "airflow", data_root=root / "data",
                        api_port=free_port(), log_port=free_port(), trigger_log_port=free_port(),
                        sample_api_port=free_port(), sink_port=free_port(), schedule="none", parallelism=1,
                        preload=preload)
    svc = up(cfg)
    try:
        time.sleep(5)
        run_id = trigger(svc.api, dataset, night)["dag_run_id"]
        wait(svc.api, [(dataset, run_id)], 900)
        tis = svc.api.get(f"/api/v2/dags/{dataset}/dagRuns/{run_id}/taskInstances")["task_instances"]
        out: dict[str, list[float]] = {}
        for ti in tis:
            out.setdefault(ti["task_id"], []).append(round(float(ti["duration"] or 0), 2))
        return out
    finally:
        down(cfg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="death_notices")
    p.add_argument("--night", type=dt.date.fromisoformat, default=dt.date(2026, 11, 21))
    args = p.parse_args(argv)
    result = {}
    for preload in (False, True):
        durations = measure(preload, args.dataset, args.night)
        result["with preload" if preload else "without preload"] = {
            k: {"durations_s": v, "median_s": statistics.median(v)} for k, v in sorted(durations.items())}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

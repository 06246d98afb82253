"""Screenshots of the Airflow UI for the docs (``make screenshots``), with headless Chromium.

Starts its own throw-away service (``ops.service``, free loopback ports, folders under
``.work/screenshots/``, the simple auth manager in all-admins mode so the browser needs no login),
processes sample night 2026-11-23 of ``birth_certificates`` (a held facility makes the run fail),
then takes: the DAG list, the failed run's grid with facility-labelled tasks, and the held
facility's task log showing the reason. The service is stopped afterwards.

    python -m ops.screenshots --out docs/screenshots
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from ops.service import REPO, ServiceConfig, down, free_port, up
from ops.trigger import trigger, wait

NIGHT = dt.date(2026, 11, 23)
DATASET = "birth_certificates"


def shoot(url: str, path: Path, budget_ms: int = 25000, size: str = "1600,1000") -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise RuntimeError("chromium is not installed (make screenshots installs Debian's package)")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={size}", f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", url],
                   check=True, capture_output=True, timeout=180)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = p.parse_args(argv)
    root = REPO / ".work" / "screenshots"
    shutil.rmtree(root, ignore_errors=True)
    cfg = ServiceConfig(work=root / "service", airflow_home=root / "airflow", data_root=root / "data",
                        api_port=free_port(), log_port=free_port(), trigger_log_port=free_port(),
                        sample_api_port=free_port(), sink_port=free_port(), schedule="none",
                        extra_env={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"})
    svc = up(cfg)
    try:
        api = svc.api
        runs = {ds: trigger(api, ds, NIGHT)["dag_run_id"] for ds in (DATASET, "driver_health_checks")}
        wait(api, list(runs.items()), 900)
        run_id = runs[DATASET]
        tis = api.get(f"/api/v2/dags/{DATASET}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        held = next(t for t in tis["task_instances"] if t["task_id"] == "process_facilities" and t["state"] == "failed")
        base = cfg.api_url
        rid = quote(run_id, safe="")
        shoot(f"{base}/dags", args.out / "dag_list.png")
        shoot(f"{base}/dags/{DATASET}/runs/{rid}", args.out / "failed_run_grid.png")
        shoot(f"{base}/dags/{DATASET}/runs/{rid}/tasks/process_facilities/mapped/{held['map_index']}",
              args.out / "held_task_log.png", size="1600,1200")
        for name in ("dag_list", "failed_run_grid", "held_task_log"):
            print(args.out / f"{name}.png")
    finally:
        down(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

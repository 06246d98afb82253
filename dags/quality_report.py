"""
# `quality_report` - the nightly Scheme 06 data-quality report

Runs after the night's loads and publishes what operators, managers and facilities read the next
morning. **Wiring only**: every task calls `pipeline.report` / `pipeline.feedback` /
`expectations.runner`.

* **Schedule**: on the staging Assets `s06://staging/<dataset>` of every dataset (each nightly
  DAG's load emits its Asset event): the report runs once every dataset has loaded. **Fallback**:
  `AssetOrTimeSchedule` also runs it every day at 06:00 Asia/Ho_Chi_Minh, so a night on which one
  dataset DAG failed (and emitted no event), or a deployment whose dataset DAGs do not emit the
  Assets yet, still gets its report.
* **Night**: the local day before the run (a run after the 00:00 nightly batches reports the night
  that just ended); trigger with conf `{"night": "YYYY-MM-DD"}` to (re)build another night.
* **Tasks**: `refresh_quality_mart` (idempotent: deletes and rewrites the night's rows in
  `quality_facility_night` / `quality_rule_night`, and fills nights of the window the mart lacks);
  then `write_quality_report` (self-contained HTML + CSV/Parquet tables under
  `$S06_DATA_ROOT/reports/quality/<night>/`), `write_facility_feedback` (restricted CSV + XLSX per
  facility under `$S06_DATA_ROOT/feedback/<facility>/<night>/`) and `build_gx_data_docs` (Great
  Expectations Data Docs of the night's validation statistics).
* **Safe to clear?** Yes: every task rewrites its own outputs for the night.
* **Privacy**: the report, the mart, the Data Docs and XCom carry aggregates only; the feedback
  folders carry each facility's own record codes and are restricted (see `docs/quality.md`).
* **Expected runtime**: seconds for the sample; minutes for a national night (one query per
  1,000 batches for findings and event dates).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from config.contracts import available_datasets
from pipeline.dag_factory import OWNER, TIMEZONE, staging_asset

#: The Assets the dataset DAGs' load emits (one per dataset).
STAGING_ASSET_URIS = [f"s06://staging/{ds}" for ds in available_datasets()]
#: The fallback time (local) when not every dataset emitted its Asset.
FALLBACK_CRON = "0 6 * * *"


def _build() -> Any:
    from airflow.sdk import DAG, AssetAll, AssetOrTimeSchedule, CronTriggerTimetable, Param, task

    with DAG(
        dag_id="quality_report",
        description="Nightly Scheme 06 data-quality report, facility feedback and GX Data Docs",
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(FALLBACK_CRON, timezone=TIMEZONE),
            # The very Asset objects the dataset DAGs emit (same name and URI, one definition).
            assets=AssetAll(*[staging_asset(ds) for ds in available_datasets()]),
        ),
        start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=7))),
        catchup=False,
        max_active_runs=1,
        doc_md=__doc__,
        tags=["scheme06", "quality"],
        default_args={"owner": OWNER, "retries": 1, "retry_delay": dt.timedelta(minutes=5)},
        params={"night": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: the night before the run")},
    ) as dag:

        @task(task_id="refresh_quality_mart")
        def refresh(params: Any = None, dag_run: Any = None) -> dict[str, Any]:
            from pipeline.report import night_for_run, refresh_task

            return refresh_task(night_for_run(getattr(dag_run, "run_after", None), (params or {}).get("night")))

        @task(task_id="write_quality_report")
        def report(refreshed: dict[str, Any]) -> dict[str, Any]:
            from pipeline.report import report_task

            return report_task(dt.date.fromisoformat(refreshed["night"]))

        @task(task_id="write_facility_feedback")
        def feedback(refreshed: dict[str, Any]) -> dict[str, Any]:
            from pipeline.report import feedback_task

            return feedback_task(dt.date.fromisoformat(refreshed["night"]))

        @task(task_id="build_gx_data_docs")
        def data_docs(refreshed: dict[str, Any]) -> dict[str, Any]:
            from pipeline.report import data_docs_task

            return data_docs_task(dt.date.fromisoformat(refreshed["night"]))

        refreshed: Any = refresh()  # an XComArg at parse time, the task's dict at run time
        report(refreshed)
        feedback(refreshed)
        data_docs(refreshed)
    return dag


quality_report = _build()

"""Build one nightly DAG per dataset from its contract (no per-dataset DAG code).

Shape: ``plan_shards`` -> ``process_facilities`` (mapped, one task per shard of facilities)
-> ``publish_curated`` -> ``reconcile``. Publishing and reconciliation run whatever happened to
individual facilities (``all_done``), reading outcomes from the ledger, so one facility's failure
never blocks the others' data. Parse-time work: reading the contract YAML only.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from config.contracts import available_datasets, load_contract

OWNER = "scheme06-data-engineering"
#: Closed set of tags (enforced by tests/dags): these plus the dataset ids of the registry.
ALLOWED_TAGS = frozenset({"scheme06", "nightly", *available_datasets()})
START_DATE = dt.datetime(2025, 1, 1)
TIMEZONE = "Asia/Ho_Chi_Minh"
#: Airflow pool bounding concurrent calls into facility systems (APIs, databases, drop mounts)
#: across all dataset DAGs. Create it once per deployment:
#: ``airflow pools set s06_facility_sources 16 "Scheme 06 calls into facility systems"``.
SOURCE_POOL = "s06_facility_sources"


def _doc(dataset: str, title: str) -> str:
    return f"""
# `{dataset}` - {title}

Nightly Scheme 06 batch for **{title}**: extract each facility's deliveries for the night, validate
them with Great Expectations, normalize to the canonical model, load the staging store read by the
national population database, and publish pseudonymized curated Parquet for analysts.

* **Interval**: one local day (Asia/Ho_Chi_Minh). File-drop facilities: the drop folder
  `<drop>/<facility>/{dataset}/<YYYY-MM-DD>/` of that day; REST API facilities: records updated in
  the interval; SQL facilities: rows whose cursor column falls in the interval. Calls into
  facility systems share the `{SOURCE_POOL}` pool.
* **Tasks**: `plan_shards` lists the facilities from the registry (`S06_FACILITIES_FILE`);
  `process_facilities` runs one mapped task per shard (a failed facility fails only its task);
  `publish_curated` rebuilds the month partitions touched; `reconcile` checks
  `received = loaded + quarantined + superseded + held` for every batch and fails the run,
  naming the facilities, if any batch was held back or failed.
* **Triage**: read the failed task's last log line, then `batch_ledger` (status, reason) and
  `quarantine` (rule, reason, file, row) in the staging store. A held batch means a format problem
  at the facility (quarantine share over `S06_QUARANTINE_THRESHOLD`), not a pipeline bug.
* **Safe to clear?** Yes: every task is idempotent (batches are keyed by dataset/facility/night,
  staging upserts only newer versions, partitions are replaced atomically).
* **Expected runtime**: seconds per facility for sample volumes; about 30 s per million rows.
* **Contract**: `config/datasets/{dataset}.yaml` (columns, types, personal-data class, mappings, rules).
"""


def build_dag(dataset: str) -> Any:
    """Create the DAG for ``dataset``.

    Returns:
        The ``airflow.sdk.DAG``.
    """
    from airflow.sdk import (
        DAG,
        CronDataIntervalTimetable,
        ExceptionRetryPolicy,
        RetryAction,
        RetryRule,
        TriggerRule,
        task,
    )

    contract = load_contract(dataset)
    shard_size = int(os.environ.get("S06_FACILITIES_PER_TASK", "0") or 0)  # 0: the default size
    retry_policy = ExceptionRetryPolicy(
        rules=[RetryRule(exception="config.errors.TransportError", action=RetryAction.RETRY,
                         reason="facility data unreachable; retrying with backoff")],
        default=RetryAction.FAIL,
    )
    with DAG(
        dag_id=dataset,
        description=f"Nightly Scheme 06 pipeline: {contract.title}",
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
        start_date=START_DATE.replace(tzinfo=dt.timezone(dt.timedelta(hours=7))),
        catchup=False,
        max_active_runs=1,
        doc_md=_doc(dataset, contract.title),
        tags=sorted({"scheme06", "nightly", dataset}),
        default_args={"owner": OWNER, "retries": 0},
    ) as dag:

        @task(task_id="plan_shards")
        def plan() -> list[list[str]]:
            from pipeline.tasks import plan_shards

            return plan_shards(dataset, shard_size)

        @task(
            task_id="process_facilities",
            retries=3,
            retry_delay=dt.timedelta(minutes=2),
            retry_exponential_backoff=2.0,
            max_retry_delay=dt.timedelta(minutes=30),
            retry_policy=retry_policy,
            pool=SOURCE_POOL,
        )
        def process(facilities: list[str], data_interval_start: Any = None, data_interval_end: Any = None) -> list[dict[str, Any]]:
            from pipeline.tasks import process_shard

            return process_shard(dataset, facilities, data_interval_start, data_interval_end)

        @task(task_id="publish_curated", trigger_rule=TriggerRule.ALL_DONE)
        def publish(data_interval_start: Any = None) -> dict[str, Any]:
            from pipeline.tasks import publish_curated

            return publish_curated(dataset, data_interval_start)

        @task(task_id="reconcile", trigger_rule=TriggerRule.ALL_DONE)
        def reconcile(data_interval_start: Any = None) -> dict[str, Any]:
            from pipeline.tasks import reconcile_interval

            return reconcile_interval(dataset, data_interval_start)

        processed = process.expand(facilities=plan())
        published = publish()
        processed >> published >> reconcile()
    return dag

"""Build one nightly DAG per dataset from its contract (no per-dataset DAG code).

Shape: ``plan_shards`` -> ``process_facilities`` (mapped, one task per shard of facilities)
-> ``publish_curated`` -> ``reconcile``. Publishing and reconciliation run whatever happened to
individual facilities (``all_done``), reading outcomes from the ledger, so one facility's failure
never blocks the others' data. Parse-time work: reading the contract YAML only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from config.contracts import available_datasets, load_contract

OWNER = "scheme06-data-engineering"
#: Closed set of tags (enforced by tests/dags): these plus the dataset ids of the registry
#: ("quality": the quality_report DAG).
ALLOWED_TAGS = frozenset({"scheme06", "nightly", "quality", *available_datasets()})
START_DATE = dt.datetime(2025, 1, 1)
TIMEZONE = "Asia/Ho_Chi_Minh"
#: Airflow pool bounding concurrent calls into facility systems (APIs, databases, drop mounts)
#: across all dataset DAGs. ``make up`` creates it (``S06_POOL_SLOTS`` slots); elsewhere:
#: ``airflow pools set s06_facility_sources 8 "Scheme 06 calls into facility systems"``.
SOURCE_POOL = "s06_facility_sources"
#: Default size of that pool (``S06_POOL_SLOTS``); ``make up`` and the demo create it with this.
DEFAULT_POOL_SLOTS = 8
#: Default ``S06_NIGHT_DEADLINE``: the night must be complete by 06:00 local the morning after.
DEFAULT_DEADLINE = "06:00"
#: Mapped facility tasks are labelled by their facility code(s) in the UI, not 0..N.
MAP_INDEX_TEMPLATE = "{{ task.op_kwargs['facilities'] | join(' ') }}"
#: What a facility task's ``summary`` XCom carries per batch (counts, codes, reason: no record values).
SUMMARY_KEYS = ("facility_code", "status", "received", "loaded", "quarantined", "superseded", "held", "flagged",
                "reason", "quarantined_by_rule")

log = logging.getLogger(__name__)


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
* **Params**: `night` (YYYY-MM-DD, local) and `facilities` (codes) name the run explicitly; a run
  id `night_<date>__manual__<time>` names the night (`python -m ops.trigger`). Mapped facility
  tasks are labelled by facility code; a facility task's last log line and its `summary` XCom give
  status, counts, top rules and reason.
* **Alerts**: a run summary on failure and when the night is not complete by `S06_NIGHT_DEADLINE`
  (default 06:00 local the morning after), through the connections in `S06_ALERT_CONN_IDS`.
* **Assets**: `s06://staging/{dataset}` and `s06://curated/{dataset}` (extra: night, months, rows).
* **Operations**: `docs/operations.md`.
"""


def pool_slots() -> int:
    """Slots of the facility-sources pool: ``S06_POOL_SLOTS`` (default 8), used by ``make up`` and the demo."""
    value = int(os.environ.get("S06_POOL_SLOTS", str(DEFAULT_POOL_SLOTS)))
    if value < 1:
        raise ValueError("S06_POOL_SLOTS must be at least 1")
    return value


def staging_asset(dataset: str) -> Any:
    """The Asset updated when a night's facility batches of ``dataset`` have been loaded into staging."""
    from airflow.sdk import Asset

    return Asset(name=f"s06_staging_{dataset}", uri=f"s06://staging/{dataset}", group="scheme06")


def curated_asset(dataset: str) -> Any:
    """The Asset updated when ``dataset``'s curated Parquet months have been republished."""
    from airflow.sdk import Asset

    return Asset(name=f"s06_curated_{dataset}", uri=f"s06://curated/{dataset}", group="scheme06")


def deadline_interval() -> dt.timedelta:
    """From the run's logical date (the night's local midnight) to ``S06_NIGHT_DEADLINE`` (local
    ``HH:MM`` on the morning after the night, default 06:00)."""
    raw = os.environ.get("S06_NIGHT_DEADLINE", DEFAULT_DEADLINE)
    try:
        hours, minutes = (int(x) for x in raw.split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError
    except ValueError:
        raise ValueError(f"S06_NIGHT_DEADLINE must be a local time HH:MM, got {raw!r}") from None
    return dt.timedelta(days=1, hours=hours, minutes=minutes)


def dagrun_timeout() -> dt.timedelta:
    """``S06_DAGRUN_TIMEOUT_HOURS`` (default 10): a run still going after this is failed (and alerted)."""
    return dt.timedelta(hours=float(os.environ.get("S06_DAGRUN_TIMEOUT_HOURS", "10")))


def _interval(params: Any, start: Any, end: Any) -> tuple[dt.datetime, dt.datetime]:
    from pipeline.runparams import interval_for, night_param

    interval = interval_for(night_param(params), start, end)
    if interval is None:
        raise ValueError("the run has no data interval: give the night param (YYYY-MM-DD)")
    return interval


def _report(ti: Any, summaries: list[dict[str, Any]]) -> None:
    """XCom ``summary`` + one log line per facility batch (what the runner returned or the ledger holds)."""
    from pipeline.logs import summary_line

    slim = [{k: s.get(k) for k in SUMMARY_KEYS if k in s} for s in summaries]
    if ti is not None:
        try:
            ti.xcom_push(key="summary", value=slim)
        except Exception as exc:  # never hide the task's own outcome behind an XCom problem
            log.warning("could not push the summary XCom: %s", type(exc).__name__)
    for s in slim:
        log.info("%s", summary_line(s))


def build_dag(dataset: str) -> Any:
    """Create the DAG for ``dataset``.

    Returns:
        The ``airflow.sdk.DAG``.
    """
    from airflow.sdk import (  # type: ignore[attr-defined]  # deadline API: re-exported at run time, not in the stubs
        DAG,
        AsyncCallback,
        CronDataIntervalTimetable,
        DeadlineAlert,
        DeadlineReference,
        ExceptionRetryPolicy,
        Param,
        RetryAction,
        RetryRule,
        TriggerRule,
        task,
    )

    from pipeline.notify import RunSummaryNotifier

    contract = load_contract(dataset)
    shard_size = int(os.environ.get("S06_FACILITIES_PER_TASK", "0") or 0)  # 0: the default size
    retry_policy = ExceptionRetryPolicy(
        rules=[RetryRule(exception="config.errors.TransportError", action=RetryAction.RETRY,
                         reason="facility data unreachable; retrying with backoff")],
        default=RetryAction.FAIL,
    )
    staging_out, curated_out = staging_asset(dataset), curated_asset(dataset)
    deadline = deadline_interval()
    with DAG(
        dag_id=dataset,
        description=f"Nightly Scheme 06 pipeline: {contract.title}",
        schedule=_schedule(CronDataIntervalTimetable),
        start_date=START_DATE.replace(tzinfo=dt.timezone(dt.timedelta(hours=7))),
        catchup=False,
        max_active_runs=1,
        doc_md=_doc(dataset, contract.title),
        tags=sorted({"scheme06", "nightly", dataset}),
        default_args={"owner": OWNER, "retries": 0},
        dagrun_timeout=dagrun_timeout(),
        on_failure_callback=RunSummaryNotifier(event="failure"),
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
            interval=deadline,
            callback=AsyncCallback(RunSummaryNotifier, kwargs={"event": "deadline"}),
            name=f"night complete by {deadline - dt.timedelta(days=1)} local time the morning after",
        ),
        params={
            "night": Param(None, type=["null", "string"], format="date", title="Night (local date)",
                           description="The night to process (YYYY-MM-DD, Asia/Ho_Chi_Minh). Empty: the "
                                       "run's data interval, i.e. the night before the run's logical date "
                                       "for a manual run."),
            "facilities": Param(None, type=["null", "array"], items={"type": "string"},
                                title="Facilities (optional)",
                                description="Facility codes to process, one per line. Empty: every "
                                            "facility registered for this dataset."),
        },
    ) as dag:

        @task(task_id="plan_shards")
        def plan(params: Any = None, data_interval_start: Any = None, data_interval_end: Any = None) -> list[list[str]]:
            from config.registry import facilities_for, load_registry
            from config.settings import load_settings
            from pipeline.logs import quiet_third_party
            from pipeline.preflight import PreflightError, check_pool, missing_connections
            from pipeline.runparams import facilities_param
            from pipeline.tasks import plan_shards

            quiet_third_party()
            start, _end = _interval(params, data_interval_start, data_interval_end)
            shards = plan_shards(dataset, shard_size)
            wanted = facilities_param(params)
            if wanted:
                known = [c for s in shards for c in s]
                unknown = sorted(set(wanted) - set(known))
                if unknown:
                    raise PreflightError(f"facility code(s) not registered for {dataset}: {', '.join(unknown)}")
                codes = [c for c in known if c in set(wanted)]
                size = max(len(s) for s in shards)
                shards = [codes[i : i + size] for i in range(0, len(codes), size)]
            check_pool(SOURCE_POOL)
            planned = {c for s in shards for c in s}
            registry = [f for f in facilities_for(dataset, load_registry(load_settings().facilities_file))
                        if f.code in planned]
            for code, conn_id in missing_connections(registry):
                log.error("pre-flight: facility %s needs the Airflow connection '%s', which is not defined: its "
                          "batch will fail (define AIRFLOW_CONN_%s or add it in Admin -> Connections)",
                          code, conn_id, conn_id.upper())
            log.info("night %s: %d facility(ies) in %d shard(s)", start.astimezone(_tz()).date(), len(planned),
                     len(shards))
            return shards

        @task(
            task_id="process_facilities",
            retries=3,
            retry_delay=dt.timedelta(minutes=2),
            retry_exponential_backoff=2.0,
            max_retry_delay=dt.timedelta(minutes=30),
            retry_policy=retry_policy,
            pool=SOURCE_POOL,
            map_index_template=MAP_INDEX_TEMPLATE,
        )
        def process(facilities: list[str], params: Any = None, data_interval_start: Any = None,
                    data_interval_end: Any = None, ti: Any = None) -> list[dict[str, Any]]:
            from pipeline.errors import BatchFailed, BatchHeldBack, TransportError
            from pipeline.logs import quiet_third_party, top_rules
            from pipeline.outcomes import batch_summaries
            from pipeline.tasks import process_shard

            quiet_third_party()
            start, end = _interval(params, data_interval_start, data_interval_end)
            try:
                summaries = process_shard(dataset, facilities, start, end)
            except (TransportError, BatchHeldBack, BatchFailed) as exc:
                try:
                    recorded = batch_summaries(dataset, start, facilities)
                except Exception as read_exc:
                    log.warning("ledger not readable for the summary: %s", type(read_exc).__name__)
                    raise exc from None
                _report(ti, recorded)
                rules = "; ".join(f"{s['facility_code']} {top_rules(s['quarantined_by_rule'])}"
                                  for s in recorded if s["quarantined_by_rule"] and s["status"] != "loaded")
                raise type(exc)(f"{exc}" + (f" | top rules: {rules}" if rules else "")) from None
            _report(ti, summaries)
            return summaries

        @task(task_id="publish_curated", trigger_rule=TriggerRule.ALL_DONE, outlets=[staging_out, curated_out])
        def publish(params: Any = None, data_interval_start: Any = None, data_interval_end: Any = None,
                    outlet_events: Any = None) -> dict[str, Any]:
            from pipeline.logs import quiet_third_party
            from pipeline.outcomes import batch_summaries
            from pipeline.tasks import publish_curated

            quiet_third_party()
            start, _end = _interval(params, data_interval_start, data_interval_end)
            result = publish_curated(dataset, start)
            if outlet_events is not None:
                night = start.astimezone(_tz()).date().isoformat()
                batches = batch_summaries(dataset, start)
                loaded = [b for b in batches if b["status"] in ("loaded", "partial")]
                months = sorted({m for b in loaded for m in _months(b.get("partitions"))})
                outlet_events[staging_out].extra = {
                    "night": night, "batches": len(batches), "batches_loaded": len(loaded),
                    "months": months,
                    "rows": {k: sum(int(b.get(k) or 0) for b in loaded) for k in ("loaded", "inserted", "updated")},
                }
                curated_extra = {"night": night, "months": list(result.get("partitions") or []),
                                 "files": len(result.get("files") or [])}
                for key in ("rows", "rows_written", "row_counts"):
                    if key in result:
                        curated_extra[key] = result[key]
                outlet_events[curated_out].extra = curated_extra
            return result

        @task(task_id="reconcile", trigger_rule=TriggerRule.ALL_DONE)
        def reconcile(params: Any = None, data_interval_start: Any = None, data_interval_end: Any = None,
                      ti: Any = None) -> dict[str, Any]:
            from pipeline.errors import ReconciliationError
            from pipeline.logs import quiet_third_party
            from pipeline.outcomes import batch_summaries
            from pipeline.tasks import reconcile_interval

            quiet_third_party()
            start, _end = _interval(params, data_interval_start, data_interval_end)
            # The run is judged here (its leaf task): a plan that failed, or a planned facility without
            # a ledger row (its task never ran), fails the run as surely as a held batch.
            planned = ti.xcom_pull(task_ids="plan_shards") if ti is not None else None
            if ti is not None and planned is None:
                raise ReconciliationError("plan_shards did not finish: no facility was processed (see its log)")
            codes = sorted({c for shard in planned or [] for c in shard})
            recorded = {b["facility_code"] for b in batch_summaries(dataset, start, codes)}
            missing = [c for c in codes if c not in recorded]
            try:
                result = reconcile_interval(dataset, start)
            except ReconciliationError as exc:
                if missing:
                    raise ReconciliationError(f"{exc} | no ledger row for: {', '.join(missing)}") from None
                raise
            if missing:
                raise ReconciliationError(f"no ledger row for facility(ies) {', '.join(missing)}: their task did not "
                                          "run to the end (see process_facilities)")
            return result

        processed = process.expand(facilities=plan())
        published = publish()
        processed >> published >> reconcile()
    _test_without_deadline(dag)
    return dag


def _test_without_deadline(dag: Any) -> None:
    """``dag.test()`` runs the DAG without its deadline alert.

    Airflow 3.3.2's ``dag.test()`` crashes when a run of a DAG with a ``DeadlineAlert`` succeeds
    (``DagRun.update_state`` passes the in-process serialized alert, not its id, to
    ``DeadlineAlertModel.get_by_id``). Deadlines need the scheduler and triggerer anyway; under them
    (``make up``, deployments) the alert is in force.
    """
    original = dag.test

    def test(*args: Any, **kwargs: Any) -> Any:
        saved = dag.deadline
        dag.deadline = None
        try:
            return original(*args, **kwargs)
        finally:
            dag.deadline = saved

    test.__doc__ = original.__doc__
    dag.test = test


def _schedule(timetable: Any) -> Any:
    """``S06_NIGHTLY_SCHEDULE`` (cron, default ``0 0 * * *`` local); ``none`` = manual runs only (tests)."""
    cron = os.environ.get("S06_NIGHTLY_SCHEDULE", "0 0 * * *").strip()
    if cron.lower() in ("none", "off", ""):
        return None
    return timetable(cron, timezone=TIMEZONE)


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(os.environ.get("S06_TIMEZONE", TIMEZONE))


def _months(partitions: Any) -> list[str]:
    if not partitions:
        return []
    if isinstance(partitions, str):
        import json

        try:
            partitions = json.loads(partitions)
        except ValueError:
            return []
    return [str(p) for p in partitions]

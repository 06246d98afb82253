"""The callables behind each DAG task. Plain Python: the DAG only wires them.

Every function takes the dataset and the data interval explicitly (never "now"), returns small
personal-data-free values (counts, codes, paths) and reads what earlier tasks produced from the
staging ledger rather than from XCom, so a failed facility task never blocks publishing others.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from config.contracts import load_contract
from config.registry import facilities_for, load_registry
from config.settings import Settings, load_settings
from loaders import staging
from pipeline.errors import BatchFailed, BatchHeldBack, ReconciliationError, TransportError, withhold_data

log = logging.getLogger(__name__)

#: Upper bound on mapped facility tasks per run (well under Airflow's default max_map_length 1024).
MAX_SHARDS = 500
#: Mapped facility tasks per dataset and night unless ``S06_FACILITIES_PER_TASK`` fixes the shard
#: size: a sample registry of a dozen facilities gets one task per facility (readable in the UI), a
#: national one (13,000 codes) about this many shards of several hundred facilities. A shard pays
#: fixed costs once (task start, imports, one validation call, one transaction) while its
#: facilities still succeed or fail one by one. Sizing: docs/deployment.md (bench_national).
DEFAULT_SHARDS = 16


@withhold_data("plan_shards")
def plan_shards(dataset: str, shard_size: int, settings: Settings | None = None) -> list[list[str]]:
    """Facility codes that send ``dataset``, in shards of ``shard_size`` (one mapped task each).

    ``shard_size`` 0 or less means "about :data:`DEFAULT_SHARDS` shards". Shards never exceed
    :data:`MAX_SHARDS` tasks: a larger registry gets larger shards.
    """
    settings = settings or load_settings()
    codes = [f.code for f in facilities_for(dataset, load_registry(settings.facilities_file))]
    # Never more than MAX_SHARDS mapped tasks, whatever the configured size: a national registry
    # grows shards rather than exceeding Airflow's max_map_length (1024 by default).
    wanted = shard_size if shard_size > 0 else -(-len(codes) // DEFAULT_SHARDS)
    size = max(1, wanted, -(-len(codes) // MAX_SHARDS))
    return [codes[i : i + size] for i in range(0, len(codes), size)]


def process_shard(dataset: str, facilities: list[str], interval_start: dt.datetime, interval_end: dt.datetime,
                  settings: Settings | None = None) -> list[dict[str, Any]]:
    """Run the batches of every facility in the shard together; one facility's failure does not
    stop the others (each batch keeps its own ledger row, findings and gate).

    Raises (after all facilities were attempted):
        TransportError: if any facility's source was unreachable (the task is retried; batches
            already loaded are skipped on the retry, their inputs being unchanged).
        BatchHeldBack / BatchFailed: if any batch was held back or failed (no retry: it needs a
            person). The ledger has the reason per facility.
    """
    from pipeline.shard import run_shard
    from pipeline.stages.load import raise_for, summary

    settings = settings or load_settings()
    summaries: list[dict[str, Any]] = []
    problems: dict[type[Exception], list[str]] = {}
    for batch in run_shard(dataset, facilities, interval_start, interval_end, settings):
        try:
            raise_for(batch)
            summaries.append(summary(batch))
        except (TransportError, BatchHeldBack, BatchFailed) as exc:
            kind = next(k for k in (TransportError, BatchHeldBack, BatchFailed) if isinstance(exc, k))
            problems.setdefault(kind, []).append(f"{batch.spec.facility}: {exc}")
            log.error("facility %s: %s", batch.spec.facility, exc)
    for kind in (TransportError, BatchFailed, BatchHeldBack):
        if kind in problems:
            raise kind("; ".join(msg for msgs in problems.values() for msg in msgs))
    return summaries


#: Single-night curated parts older than this many nights are merged into weekly parts.
COMPACT_AFTER_NIGHTS = 7


def night_of(interval_start: dt.datetime, settings: Settings) -> dt.date:
    """The local night an interval starts (the drop folder and ``batch_ledger.night``)."""
    from zoneinfo import ZoneInfo

    return interval_start.astimezone(ZoneInfo(settings.timezone)).date()


@withhold_data("publish_curated")
def publish_curated(dataset: str, interval_start: dt.datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Publish what this night's loaded batches changed in curated Parquet, then compact old weeks.

    Returns:
        ``{"dataset", "night", "partitions" (months touched), "files" (written), "rows" (loaded
        that night), "batches", "compacted"}``: no personal data.
    """
    import time

    from loaders.curated import compact, publish_night
    from pipeline.secrets import pseudonym_key

    settings = settings or load_settings()
    engine = staging.engine_for(settings.staging_url)
    staging.ensure_schema(engine, [dataset])
    night = night_of(interval_start, settings)
    rows = staging.ledger_rows(engine, dataset, night=night.isoformat())
    months: set[tuple[int, int]] = set()
    published = [r for r in rows if r["status"] in ("loaded", "partial")]
    for row in published:
        for ym in json.loads(row["partitions"] or "[]"):
            year, month = ym.split("-")
            months.add((int(year), int(month)))
    contract = load_contract(dataset)
    key = pseudonym_key()
    t0 = time.perf_counter()
    curated = settings.zone("curated")  # integration(objstore): a local folder or object storage
    written = publish_night(engine, contract, night.isoformat(), months, curated, key)
    publish_s = time.perf_counter() - t0
    before = (night - dt.timedelta(days=COMPACT_AFTER_NIGHTS)).isoformat()
    compacted = compact(engine, contract, curated, key, before)
    log.info("published %d file(s) of %s for night %s in %.1f s (%d month(s)); compacted %d week file(s)",
             len(written), dataset, night, publish_s, len(months), len(compacted))
    return {"dataset": dataset, "night": night.isoformat(),
            "partitions": sorted(f"{y:04d}-{m:02d}" for y, m in months), "files": written,
            "rows": sum(int(r["loaded"] or 0) for r in published), "batches": len(published),
            "compacted": compacted}


@withhold_data("reconcile")
def reconcile_interval(dataset: str, interval_start: dt.datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Check every batch of the interval; fail loudly on imbalance or on failed/held facilities.

    Returns:
        Totals for the interval (counts only).

    Raises:
        ReconciliationError: naming each batch that does not add up, or each facility that
            failed or was held back (so the DAG run shows as failed to operators).
    """
    settings = settings or load_settings()
    engine = staging.engine_for(settings.staging_url)
    staging.ensure_schema(engine, [dataset])
    rows = staging.ledger_rows(engine, dataset, night=night_of(interval_start, settings).isoformat())
    imbalances = [p for p in (staging.reconcile(r) for r in rows if r["status"] != "failed") if p]
    if imbalances:
        raise ReconciliationError("; ".join(imbalances))
    totals = {k: sum(r[k] for r in rows) for k in ("received", "loaded", "quarantined", "superseded", "held")}
    bad = [f"{r['facility_code']} {r['status']}: {r['reason']}" for r in rows if r["status"] in ("held", "failed", "partial")]
    log.info("interval %s of %s: %s", interval_start.isoformat(), dataset, totals)
    if bad:
        raise ReconciliationError(f"{len(bad)} facility batch(es) need attention: " + " | ".join(bad))
    return {"dataset": dataset, "batches": len(rows), **totals}

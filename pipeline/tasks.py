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


@withhold_data("plan_shards")
def plan_shards(dataset: str, shard_size: int, settings: Settings | None = None) -> list[list[str]]:
    """Facility codes that send ``dataset``, in shards of ``shard_size`` (one mapped task each).

    At national scale (thousands of facilities) a shard size of 20-50 keeps the mapped-task count
    far below Airflow's ``max_map_length`` while one shard's failure still isolates only a few.
    """
    settings = settings or load_settings()
    codes = [f.code for f in facilities_for(dataset, load_registry(settings.facilities_file))]
    # Never more than MAX_SHARDS mapped tasks, whatever the configured size: a national registry
    # grows shards rather than exceeding Airflow's max_map_length (1024 by default).
    size = max(1, shard_size, -(-len(codes) // MAX_SHARDS))
    return [codes[i : i + size] for i in range(0, len(codes), size)]


def process_shard(dataset: str, facilities: list[str], interval_start: dt.datetime, interval_end: dt.datetime,
                  settings: Settings | None = None) -> list[dict[str, Any]]:
    """Run the batch of every facility in the shard; one facility's failure does not stop the next.

    Raises (after all facilities were attempted):
        TransportError: if any facility's drop was unreachable (the task is retried; batches
            already loaded are no-ops on the retry).
        BatchHeldBack / BatchFailed: if any batch was held back or failed (no retry: it needs a
            person). The ledger has the reason per facility.
    """
    from pipeline.batch import run_batch

    settings = settings or load_settings()
    summaries: list[dict[str, Any]] = []
    problems: dict[type[Exception], list[str]] = {}
    for code in facilities:
        try:
            summaries.append(run_batch(dataset, code, interval_start, interval_end, settings))
        except (TransportError, BatchHeldBack, BatchFailed) as exc:
            kind = next(k for k in (TransportError, BatchHeldBack, BatchFailed) if isinstance(exc, k))
            problems.setdefault(kind, []).append(f"{code}: {exc}")
            log.error("facility %s: %s", code, exc)
    for kind in (TransportError, BatchFailed, BatchHeldBack):
        if kind in problems:
            raise kind("; ".join(msg for msgs in problems.values() for msg in msgs))
    return summaries


@withhold_data("publish_curated")
def publish_curated(dataset: str, interval_start: dt.datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Rebuild the curated month partitions touched by this interval's loaded batches."""
    from loaders.curated import publish_partitions
    from pipeline.secrets import pseudonym_key

    settings = settings or load_settings()
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, [dataset])
    rows = staging.ledger_rows(engine, dataset, interval_start.isoformat())
    months: set[tuple[int, int]] = set()
    for row in rows:
        if row["status"] in ("loaded", "partial"):
            for ym in json.loads(row["partitions"] or "[]"):
                year, month = ym.split("-")
                months.add((int(year), int(month)))
    written = publish_partitions(engine, load_contract(dataset), months, settings.curated_root, pseudonym_key())
    log.info("published %d partition(s) of %s", len(written), dataset)
    return {"dataset": dataset, "partitions": sorted(f"{y:04d}-{m:02d}" for y, m in months), "files": written}


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
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, [dataset])
    rows = staging.ledger_rows(engine, dataset, interval_start.isoformat())
    imbalances = [p for p in (staging.reconcile(r) for r in rows if r["status"] != "failed") if p]
    if imbalances:
        raise ReconciliationError("; ".join(imbalances))
    totals = {k: sum(r[k] for r in rows) for k in ("received", "loaded", "quarantined", "superseded", "held")}
    bad = [f"{r['facility_code']} {r['status']}: {r['reason']}" for r in rows if r["status"] in ("held", "failed", "partial")]
    log.info("interval %s of %s: %s", interval_start.isoformat(), dataset, totals)
    if bad:
        raise ReconciliationError(f"{len(bad)} facility batch(es) need attention: " + " | ".join(bad))
    return {"dataset": dataset, "batches": len(rows), **totals}

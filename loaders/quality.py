"""The quality mart: per dataset x facility x night, aggregates only (migration 0010).

:func:`refresh_night` rebuilds one night from the bookkeeping tables the batches write
(``batch_ledger``, ``quarantine``, ``dq_warnings``) and the dataset tables' event dates, in one
transaction (delete the night's rows, insert them again), so running it twice gives the same rows.

What each row says, and where it comes from:

* **delivery** - ``delivered`` (a batch with data: loaded, partial or held), ``silent`` (the
  facility is registered for the dataset but sent nothing: a ledger row with status ``empty`` or
  no ledger row at all), ``failed`` (the source could not be read; the ledger has the reason).
* **counts** - received / loaded / quarantined / flagged / superseded / held and files received /
  rejected, copied from the ledger; ``quarantine_rate`` and ``flag_rate`` per received record;
  ``validity = 1 - quarantine_rate``.
* **volume** - ``received`` against the median of the facility's own earlier nights (the
  ``trailing_nights`` before, nights with a ledger row that is not ``failed``): ``drop`` below
  ``drop_ratio`` x median, ``spike`` above ``spike_ratio`` x median (``config/quality.yaml``).
* **timeliness** - for every record version the night's batch wrote (``<dataset>_history`` rows
  with its ``batch_id``): lag = receipt - event, where the event is the contract's
  ``event_date`` (naive local time) and the receipt the end of the batch's data interval in local
  time. Median, 95th percentile and the share within the dataset's deadline.
* **rules** (``quality_rule_night``) - findings per rule and severity: distinct records and
  finding rows, and ``rate`` = records / received. ``FILE`` counts rejected files.

No record key, reference, value or name is stored: operators can read the mart with the
``s06_quality_reader`` role and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config.contracts import load_contract
from config.quality import QualityConfig, load_quality_config
from config.registry import Facility, facilities_for, load_registry
from loaders.schema import batch_ledger, dq_warnings, metadata, quarantine

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine

    from config.settings import Settings

log = logging.getLogger(__name__)

quality_facility_night = sa.Table(
    "quality_facility_night",
    metadata,
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("facility_code", sa.Text, primary_key=True),
    sa.Column("night", sa.Date, primary_key=True),
    sa.Column("province_code", sa.Text),
    sa.Column("source_kind", sa.Text),
    sa.Column("delivery", sa.Text, nullable=False),  # delivered | silent | failed
    sa.Column("batch_status", sa.Text),  # the ledger status, NULL when no batch was recorded
    sa.Column("received", sa.Integer, nullable=False),
    sa.Column("loaded", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("flagged", sa.Integer, nullable=False),
    sa.Column("superseded", sa.Integer, nullable=False),
    sa.Column("held", sa.Integer, nullable=False),
    sa.Column("files_received", sa.Integer, nullable=False),
    sa.Column("files_rejected", sa.Integer, nullable=False),
    sa.Column("quarantine_rate", sa.Float),
    sa.Column("flag_rate", sa.Float),
    sa.Column("validity", sa.Float),
    sa.Column("trailing_median", sa.Float),
    sa.Column("trailing_nights", sa.Integer, nullable=False),
    sa.Column("volume_ratio", sa.Float),
    sa.Column("volume_anomaly", sa.Text),  # drop | spike | NULL
    sa.Column("lag_records", sa.Integer, nullable=False),
    sa.Column("lag_median_hours", sa.Float),
    sa.Column("lag_p95_hours", sa.Float),
    sa.Column("within_deadline_share", sa.Float),
    sa.Column("deadline_hours", sa.Float),
    sa.Column("refreshed_at", sa.DateTime, nullable=False),
    sa.Index("ix_quality_facility_night_night", "night"),
)

quality_rule_night = sa.Table(
    "quality_rule_night",
    metadata,
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("facility_code", sa.Text, primary_key=True),
    sa.Column("night", sa.Date, primary_key=True),
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("severity", sa.Text, primary_key=True),
    sa.Column("category", sa.Text),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("findings", sa.Integer, nullable=False),
    sa.Column("rate", sa.Float),
    sa.Index("ix_quality_rule_night_night", "night"),
)

MART_TABLES = (quality_facility_night, quality_rule_night)
#: Ledger statuses of a batch that carried data.
DELIVERED = frozenset({"loaded", "partial", "held"})
_IN_CHUNK = 500


@dataclass(frozen=True)
class RefreshResult:
    """What :func:`refresh_night` wrote (counts only)."""

    night: dt.date
    facility_rows: int
    rule_rows: int


def night_of(row: dict[str, Any], timezone: str) -> dt.date:
    """The local night of a ledger row (the last part of its batch id, else its interval start)."""
    tail = str(row["batch_id"]).rsplit("/", 1)[-1]
    try:
        return dt.date.fromisoformat(tail)
    except ValueError:
        return dt.datetime.fromisoformat(row["interval_start"]).astimezone(ZoneInfo(timezone)).date()


def night_batches(conn: Connection, dataset: str, night: dt.date, timezone: str) -> list[dict[str, Any]]:
    """The ledger rows of one dataset and night."""
    return _ledger_between(conn, dataset, night, night, timezone)


def _ledger_between(conn: Connection, dataset: str, first: dt.date, last: dt.date, timezone: str) -> list[dict[str, Any]]:
    """Ledger rows of ``dataset`` whose night lies in ``[first, last]`` (uses the interval index).

    ``interval_start`` is an ISO text with an offset; a night's interval starts within a day of its
    local midnight, so a text range one day wider on each side finds it whatever the offset.
    """
    q = sa.select(batch_ledger).where(
        batch_ledger.c.dataset == dataset,
        batch_ledger.c.interval_start >= (first - dt.timedelta(days=1)).isoformat(),
        batch_ledger.c.interval_start < (last + dt.timedelta(days=2)).isoformat(),
    )
    rows = [dict(r._mapping) for r in conn.execute(q)]
    return [r for r in rows if first <= night_of(r, timezone) <= last]


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield list(values[i : i + _IN_CHUNK])


def _rule_counts(conn: Connection, batch_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per batch: one dict per (rule, severity) with distinct records and finding rows."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for table in (quarantine, dq_warnings):
        for ids in _chunks(batch_ids):
            q = sa.select(table.c.batch_id, table.c.rule_id, table.c.severity, table.c.category,
                          table.c.source_file, table.c.source_ref, table.c.record_key).where(table.c.batch_id.in_(ids))
            for batch_id, rule, severity, category, source_file, source_ref, record_key in conn.execute(q):
                g = groups.setdefault((batch_id, rule, severity), {"category": category, "records": set(), "findings": 0})
                g["findings"] += 1
                # A record is one (file, position) - or, for rows without a position, its key;
                # a rejected file (rule FILE) is one record.
                g["records"].add((source_file, source_ref if source_ref is not None else record_key))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (batch_id, rule, severity), g in sorted(groups.items()):
        out[batch_id].append({"rule_id": rule, "severity": severity, "category": g["category"],
                              "records": len(g["records"]), "findings": g["findings"]})
    return out


def _local_naive(value: str, timezone: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = str(value)
    try:
        return dt.datetime.fromisoformat(text[:19]) if len(text) > 10 else dt.datetime.fromisoformat(text[:10])
    except ValueError:
        return None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) with linear interpolation (NumPy's default), or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _lags(conn: Connection, dataset: str, batches: dict[str, dt.datetime]) -> dict[str, list[float]]:
    """Event -> receipt lags in hours of every record version each batch wrote."""
    contract = load_contract(dataset)
    history = sa.table(f"{dataset}_history", sa.column("batch_id"), sa.column(contract.event_date))
    out: dict[str, list[float]] = defaultdict(list)
    for ids in _chunks(sorted(batches)):
        q = sa.select(history.c.batch_id, history.c[contract.event_date]).where(history.c.batch_id.in_(ids))
        for batch_id, event in conn.execute(q):
            when = _as_datetime(event)
            if when is not None:
                out[batch_id].append((batches[batch_id] - when).total_seconds() / 3600.0)
    return out


def _volume(received: int, history: list[int], cfg: QualityConfig) -> tuple[float | None, float | None, str | None]:
    """(trailing median, ratio, anomaly) for one facility-night."""
    if len(history) < cfg.min_history_nights:
        return None, None, None
    median = float(statistics.median(history))
    if median < cfg.min_median:
        return median, None, None
    ratio = received / median
    anomaly = "drop" if ratio < cfg.drop_ratio else "spike" if ratio > cfg.spike_ratio else None
    return median, round(ratio, 4), anomaly


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def build_night(conn: Connection, dataset: str, night: dt.date, registry: list[Facility], timezone: str,
                cfg: QualityConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The mart rows of one dataset and night (facility rows, rule rows), without writing them."""
    expected = {f.code: f for f in facilities_for(dataset, registry)}
    known = {f.code: f for f in registry}
    first = night - dt.timedelta(days=cfg.trailing_nights)
    ledger = _ledger_between(conn, dataset, first, night, timezone)
    tonight = {r["facility_code"]: r for r in ledger if night_of(r, timezone) == night}
    earlier: dict[str, list[int]] = defaultdict(list)
    for r in ledger:
        if night_of(r, timezone) < night and r["status"] != "failed":
            earlier[r["facility_code"]].append(int(r["received"] or 0))
    batch_ids = [r["batch_id"] for r in tonight.values()]
    rules = _rule_counts(conn, batch_ids)
    cutoffs = {r["batch_id"]: _local_naive(r["interval_end"], timezone) for r in tonight.values()
               if r["status"] in ("loaded", "partial")}
    lags = _lags(conn, dataset, cutoffs) if cutoffs else {}
    deadline = cfg.deadline_for(dataset)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    facility_rows: list[dict[str, Any]] = []
    rule_rows: list[dict[str, Any]] = []
    for code in sorted(set(expected) | set(tonight)):
        fac = known.get(code)
        row = tonight.get(code)
        status = row["status"] if row else None
        delivery = "failed" if status == "failed" else "delivered" if status in DELIVERED else "silent"
        counts = {k: int(row[k] or 0) if row else 0 for k in (
            "received", "loaded", "quarantined", "flagged", "superseded", "held", "files_received", "files_rejected")}
        received = counts["received"]
        median, ratio, anomaly = (None, None, None) if delivery == "failed" else _volume(received, earlier[code], cfg)
        batch_lags = lags.get(row["batch_id"], []) if row else []
        quarantine_rate = _rate(counts["quarantined"], received)
        facility_rows.append({
            "dataset": dataset, "facility_code": code, "night": night,
            "province_code": fac.province_code if fac else None, "source_kind": fac.source_kind if fac else None,
            "delivery": delivery, "batch_status": status, **counts,
            "quarantine_rate": quarantine_rate, "flag_rate": _rate(counts["flagged"], received),
            "validity": None if quarantine_rate is None else round(1 - quarantine_rate, 6),
            "trailing_median": median, "trailing_nights": len(earlier[code]), "volume_ratio": ratio,
            "volume_anomaly": anomaly, "lag_records": len(batch_lags),
            "lag_median_hours": round(statistics.median(batch_lags), 3) if batch_lags else None,
            "lag_p95_hours": round(percentile(batch_lags, 0.95), 3) if batch_lags else None,  # type: ignore[arg-type]
            "within_deadline_share": round(sum(1 for v in batch_lags if v <= deadline) / len(batch_lags), 6)
            if batch_lags else None,
            "deadline_hours": deadline, "refreshed_at": now,
        })
        for rule in rules.get(row["batch_id"], []) if row else []:
            rule_rows.append({"dataset": dataset, "facility_code": code, "night": night, **rule,
                              "rate": _rate(rule["records"], received)})
    return facility_rows, rule_rows


def refresh_night(engine: Engine, night: dt.date, datasets: Iterable[str], settings: Settings,
                  cfg: QualityConfig | None = None) -> RefreshResult:
    """Rebuild the mart rows of ``night`` for ``datasets`` in one transaction (idempotent).

    Args:
        engine: the staging store (at migration head).
        night: the local night.
        datasets: datasets to refresh (each must have its staging tables).
        settings: for the facility registry and the timezone.
        cfg: thresholds (default: ``config/quality.yaml``).
    """
    cfg = cfg or load_quality_config()
    registry = load_registry(settings.facilities_file)
    datasets = list(datasets)
    facility_rows: list[dict[str, Any]] = []
    rule_rows: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for ds in datasets:
            f_rows, r_rows = build_night(conn, ds, night, registry, settings.timezone, cfg)
            facility_rows += f_rows
            rule_rows += r_rows
        for table in MART_TABLES:
            conn.execute(sa.delete(table).where(table.c.night == night, table.c.dataset.in_(datasets)))
        if facility_rows:
            conn.execute(sa.insert(quality_facility_night), facility_rows)
        if rule_rows:
            conn.execute(sa.insert(quality_rule_night), rule_rows)
    log.info("quality mart %s: %d facility row(s), %d rule row(s)", night, len(facility_rows), len(rule_rows))
    return RefreshResult(night, len(facility_rows), len(rule_rows))


def refreshed_nights(engine: Engine, first: dt.date, last: dt.date) -> set[tuple[str, dt.date]]:
    """(dataset, night) pairs the mart already holds in ``[first, last]``."""
    t = quality_facility_night
    q = sa.select(t.c.dataset, t.c.night).where(t.c.night >= first, t.c.night <= last).distinct()
    with engine.connect() as conn:
        return {(ds, n if isinstance(n, dt.date) else dt.date.fromisoformat(str(n))) for ds, n in conn.execute(q)}


def read_mart(engine: Engine, first: dt.date, last: dt.date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The mart rows of the nights ``[first, last]`` (facility rows, rule rows), in key order."""
    out = []
    with engine.connect() as conn:
        for table in MART_TABLES:
            q = (sa.select(table).where(table.c.night >= first, table.c.night <= last)
                 .order_by(*[c for c in table.primary_key.columns]))
            out.append([dict(r._mapping) for r in conn.execute(q)])
    return out[0], out[1]


def ledger_nights(engine: Engine, dataset: str, first: dt.date, last: dt.date, timezone: str) -> set[dt.date]:
    """Nights in ``[first, last]`` on which ``dataset`` has at least one ledger row (the pipeline ran).

    A night the pipeline never ran is unknown, not "every facility silent": the mart leaves it out.
    """
    q = sa.select(batch_ledger.c.batch_id, batch_ledger.c.interval_start).where(
        batch_ledger.c.dataset == dataset,
        batch_ledger.c.interval_start >= (first - dt.timedelta(days=1)).isoformat(),
        batch_ledger.c.interval_start < (last + dt.timedelta(days=2)).isoformat(),
    )
    with engine.connect() as conn:
        nights = {night_of(dict(r._mapping), timezone) for r in conn.execute(q)}
    return {n for n in nights if first <= n <= last}


__all__ = [
    "MART_TABLES",
    "RefreshResult",
    "build_night",
    "ledger_nights",
    "night_batches",
    "night_of",
    "quality_facility_night",
    "quality_rule_night",
    "read_mart",
    "refresh_night",
    "refreshed_nights",
]

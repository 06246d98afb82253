"""What a run did, read back from the staging ledger: per-facility summaries and run summaries.

Used where the batch runner's own return value is not available: a mapped task whose batch was
held back or failed (the runner raised), the failure notifier and the deadline alert. Counts, rule
ids, statuses and reasons only. :func:`safe_reason` additionally removes file names (a per-record
file such as ``HSDLGCS_<certificate code>_1.xml`` names a certificate) for messages that leave the
system (notifications).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

from config.settings import Settings, load_settings

ATTENTION = ("failed", "held", "partial")
_COUNTS = ("received", "loaded", "quarantined", "superseded", "held", "flagged")
#: A token that looks like a file name or path (``name.xml``, ``dir/name.jsonl``).
_FILE_TOKEN = re.compile(r"[^\s:;,|'\"]+\.(?:xml|csv|json|jsonl|txt|zip|gz|xlsx?|dat|sqlite)\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d{7,}")


def safe_reason(reason: str | None, limit: int = 240) -> str:
    """The ledger reason without file names or long digit runs, shortened, for external channels."""
    if not reason:
        return ""
    text = _DIGITS.sub("<number>", _FILE_TOKEN.sub("<file>", reason))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def batch_summaries(dataset: str, interval_start: dt.datetime, facilities: list[str] | None = None,
                    settings: Settings | None = None) -> list[dict[str, Any]]:
    """One summary per ledger row of the interval (optionally only ``facilities``), with
    ``quarantined_by_rule`` from the quarantine table; the same keys the batch runner returns."""
    from loaders import staging
    from loaders.schema import quarantine

    settings = settings or load_settings()
    engine = staging.make_engine(settings.staging_url)
    try:
        staging.ensure_schema(engine, [dataset])
        from zoneinfo import ZoneInfo

        night = interval_start.astimezone(ZoneInfo(settings.timezone)).date().isoformat()
        rows = staging.ledger_rows(engine, dataset, night=night)
        if facilities is not None:
            wanted = set(facilities)
            rows = [r for r in rows if r["facility_code"] in wanted]
        rules = staging.counts_by_batch(engine, quarantine, "rule_id", [r["batch_id"] for r in rows])
    finally:
        engine.dispose()
    out = []
    for r in rows:
        summary = {k: r.get(k) for k in ("batch_id", "dataset", "facility_code", "status", *_COUNTS, "inserted",
                                         "updated", "unchanged", "reason")}
        summary["partitions"] = r.get("partitions")
        summary["quarantined_by_rule"] = dict(sorted(rules.get(r["batch_id"], {}).items()))
        out.append(summary)
    return out


def run_summary(dataset: str, interval_start: dt.datetime, settings: Settings | None = None,
                top: int = 3) -> dict[str, Any]:
    """Totals of the night and the facilities that need attention, with their top rules."""
    batches = batch_summaries(dataset, interval_start, settings=settings)
    totals = {k: sum(int(b.get(k) or 0) for b in batches) for k in _COUNTS}
    rules: Counter[str] = Counter()
    for b in batches:
        rules.update(b["quarantined_by_rule"])
    attention = []
    for b in batches:
        if b["status"] in ATTENTION:
            ranked = sorted(b["quarantined_by_rule"].items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            attention.append({
                "facility": b["facility_code"], "status": b["status"],
                "received": b["received"], "loaded": b["loaded"], "quarantined": b["quarantined"],
                "held": b["held"], "top_rules": dict(ranked), "reason": safe_reason(b["reason"]),
            })
    return {
        "batches": len(batches),
        "totals": totals,
        "statuses": dict(sorted(Counter(b["status"] for b in batches).items())),
        "top_rules": dict(sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:top]),
        "attention": attention,
    }

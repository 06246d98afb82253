"""Reference consumer of the change feed: what the population database is expected to do.

It reads ``change_feed`` from where it last stopped, looks each new version up in the
citizen-registry snapshot (for births: is the mother a known citizen?), writes one
acknowledgement per version (``registered``, ``withdrawn`` for a cancellation, or ``rejected`` with a
reason) and moves its cursor
- all in one transaction per page, so every change is acknowledged exactly once even if the
consumer is killed half-way. Used by the main job and the tests to close the loop::

    s06 consumer [--dataset birth_certificates] [--consumer population_db]   # or python -m cli.consumer
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from config.contracts import available_datasets, load_contract
from config.settings import load_settings
from loaders import staging
from loaders.schema import acknowledgements, change_feed, dataset_tables, feed_cursors


def match_column(dataset: str) -> str | None:
    """The column holding the personal ID the population database matches on (the contract's
    ``match_column``; None: the dataset is not matched)."""
    return load_contract(dataset).match_column


def load_registry_ids(path: Path) -> set[str]:
    """Personal IDs of the citizen-registry snapshot (``reference/citizen_registry.csv``)."""
    if not path.is_file():
        return set()
    with path.open(encoding="utf-8") as fh:
        return {row["personal_id"] for row in csv.DictReader(fh)}


def _cursor(conn: sa.Connection, consumer: str, dataset: str) -> int:
    q = sa.select(feed_cursors.c.last_seq).where(feed_cursors.c.consumer == consumer, feed_cursors.c.dataset == dataset)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    value = conn.execute(q).scalar()
    if value is None:
        conn.execute(sa.insert(feed_cursors).values(consumer=consumer, dataset=dataset, last_seq=0))
        return 0
    return int(value)


def consume(engine: Engine, dataset: str, consumer: str, citizens: set[str], page: int = 1000) -> dict[str, Any]:
    """Acknowledge every change not yet seen by ``consumer``; returns counts (no personal data)."""
    contract = load_contract(dataset)
    current, _ = dataset_tables(dataset)
    key_cols = [current.c[k] for k in contract.natural_key]
    column = match_column(dataset)
    if column is None:
        raise ValueError(f"dataset {dataset} declares no match_column: nothing to match on")
    match_col = current.c[column]
    counts: Counter[str] = Counter()
    while True:
        with engine.begin() as conn:
            last = _cursor(conn, consumer, dataset)
            changes = conn.execute(
                sa.select(change_feed).where(change_feed.c.dataset == dataset, change_feed.c.seq > last)
                .order_by(change_feed.c.seq).limit(page)
            ).mappings().all()
            if not changes:
                return {"consumer": consumer, "dataset": dataset, "last_seq": last, **dict(counts)}
            keys = [c["natural_key"] for c in changes]
            firsts = sorted({k.split("|")[0] for k in keys})
            ids = {
                "|".join("" if v is None else str(v) for v in row[:-1]): row[-1]
                for row in conn.execute(sa.select(*key_cols, match_col).where(key_cols[0].in_(firsts)))
            }
            acks = []
            for change in changes:
                person = ids.get(change["natural_key"])
                if change["operation"] == "cancel":
                    status, reason = "withdrawn", None  # the source withdrew it: undo, do not register
                elif person is None:
                    status, reason = "rejected", "no personal ID to match"
                elif person not in citizens:
                    status, reason = "rejected", "personal ID not found in the population registry"
                else:
                    status, reason = "registered", None
                counts[status] += 1
                acks.append({"consumer": consumer, "dataset": dataset, "natural_key": change["natural_key"],
                             "record_hash": change["record_hash"], "seq": change["seq"],
                             "batch_id": change["batch_id"], "status": status, "reason": reason})
            conn.execute(sa.insert(acknowledgements), acks)
            conn.execute(
                sa.update(feed_cursors)
                .where(feed_cursors.c.consumer == consumer, feed_cursors.c.dataset == dataset)
                .values(last_seq=changes[-1]["seq"])
            )


def main(argv: list[str] | None = None) -> int:
    """Command line: consume the feed once and print the counts."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="birth_certificates", choices=[d for d in available_datasets() if match_column(d)])
    p.add_argument("--consumer", default="population_db")
    args = p.parse_args(argv)
    settings = load_settings()
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, [args.dataset])
    citizens = load_registry_ids(settings.reference_root / "citizen_registry.csv")
    print(consume(engine, args.dataset, args.consumer, citizens))
    return 0


if __name__ == "__main__":
    sys.exit(main())

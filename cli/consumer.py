"""Reference consumer of the change feed: what the population database is expected to do.

It reads ``change_feed`` from where it last stopped, looks each new version up in the
citizen-registry snapshot (for births: is the mother a known citizen?), writes one
acknowledgement per version (``registered``, ``withdrawn`` for a cancellation, or ``rejected`` with a
reason) and moves its cursor
- all in one transaction per page, so every change is acknowledged exactly once even if the
consumer is killed half-way. Used by the main job and the tests to close the loop::

    s06 consumer [--dataset birth_certificates] [--url postgresql+psycopg://popdb_a@db/scheme06]   # or python -m cli.consumer

On PostgreSQL every consumer is its own login, a member of ``s06_population_reader``, and its
consumer id is its login name (``current_user``): row-level security lets it read and write only
its own acknowledgements and cursor (migration 0011, ``docs/staging_contract.md``). The id
defaults to the login; naming another consumer fails with a clear message. On SQLite (no roles)
the id defaults to ``population_db``. Every wait of a page is bounded (``S06_LOCK_TIMEOUT_S``).
Exit codes: 0 done, 2 cannot run (store unreachable or behind, wrong consumer id).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from config.contracts import available_datasets, load_contract
from config.settings import load_settings
from loaders import locks, migrate, staging
from loaders.schema import acknowledgements, change_feed, dataset_tables, feed_cursors


def match_column(dataset: str) -> str | None:
    """The column holding the personal ID the population database matches on (the contract's
    ``match_column``; None: the dataset is not matched)."""
    return load_contract(dataset).match_column


#: Consumer id where the store has no logins to key on (SQLite).
DEFAULT_CONSUMER = "population_db"
#: How long a page may wait for a table or row lock (another consumer's open transaction).
LOCK_NAME = "consumer"


class ConsumerError(RuntimeError):
    """The consumer cannot run as asked (its message says why; no personal data)."""


def _login(engine: Engine) -> tuple[str, bool] | None:
    """(login name, whether row-level security applies to it) on PostgreSQL; None elsewhere."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        user, exempt = conn.execute(sa.text(
            "SELECT current_user, r.rolsuper OR r.rolbypassrls OR pg_has_role(current_user, c.relowner, 'USAGE') "
            "FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'acknowledgements'::regclass"
        )).one()
    return str(user), not exempt


def resolve_consumer(engine: Engine, requested: str | None) -> str:
    """The consumer id to act as: the login on PostgreSQL (default), else ``population_db``.

    Raises:
        ConsumerError: a login subject to row-level security asked to act as another consumer.
    """
    login = _login(engine)
    if login is None:
        return requested or DEFAULT_CONSUMER
    user, restricted = login
    if requested is None:
        return user
    if restricted and requested != user:
        raise ConsumerError(
            f"this login is consumer '{user}' and may acknowledge only as itself, not as '{requested}': "
            "connect with that consumer's own login (each consumer is a login in s06_population_reader)"
        )
    return requested


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
    timeout = locks.timeout_for(LOCK_NAME)
    while True:
        try:
            page_done = _page(engine, dataset, consumer, citizens, page, timeout, key_cols, match_col, counts)
        except sa.exc.DBAPIError as exc:
            if locks.is_lock_timeout(exc):
                raise locks.LockTimeout(LOCK_NAME, timeout, "a lock on this consumer's cursor or acknowledgements") from None
            if "row-level security" in str(exc.orig):
                raise ConsumerError(f"writing as consumer '{consumer}' was refused by row-level security: a consumer "
                                    "writes only its own acknowledgements and cursor (connect with its login)") from None
            raise
        if page_done is not None:
            return {"consumer": consumer, "dataset": dataset, "last_seq": page_done, **dict(counts)}


def _page(engine: Engine, dataset: str, consumer: str, citizens: set[str], page: int, timeout: float,
          key_cols: list[Any], match_col: Any, counts: Counter[str]) -> int | None:
    """Acknowledge one page in one transaction; returns the cursor when nothing was left."""
    with engine.begin() as conn:
        locks.limit_waits(conn, timeout)
        last = _cursor(conn, consumer, dataset)
        changes = conn.execute(
            sa.select(change_feed).where(change_feed.c.dataset == dataset, change_feed.c.seq > last)
            .order_by(change_feed.c.seq).limit(page)
        ).mappings().all()
        if not changes:
            return last
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
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line: consume the feed once and print the counts (exit 2: cannot run)."""
    p = argparse.ArgumentParser(prog="s06 consumer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="birth_certificates", choices=[d for d in available_datasets() if match_column(d)])
    p.add_argument("--consumer", default=None,
                   help=f"consumer id (default: the login on PostgreSQL, {DEFAULT_CONSUMER} on SQLite)")
    p.add_argument("--url", default=None,
                   help="the consumer's own connection (default: S06_CONSUMER_URL, else S06_STAGING_URL)")
    args = p.parse_args(argv)
    settings = load_settings()
    url = args.url or os.environ.get("S06_CONSUMER_URL") or settings.staging_url
    engine = staging.make_engine(url)
    try:
        at = migrate.current(engine)
        if at != migrate.head():
            print(f"error: staging store {migrate.safe_url(engine.url)} is at revision {at or 'none'}, not "
                  f"{migrate.head()}: the pipeline's migrations must run first", file=sys.stderr)
            return 2
        consumer = resolve_consumer(engine, args.consumer)
        citizens = load_registry_ids(settings.reference_root / "citizen_registry.csv")
        print(consume(engine, args.dataset, consumer, citizens))
    except (ConsumerError, locks.LockTimeout) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sa.exc.OperationalError as exc:
        print(f"error: staging store {migrate.safe_url(engine.url)} unreachable ({type(exc.orig).__name__})",
              file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

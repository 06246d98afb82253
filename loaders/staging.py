"""The staging store: set-based, idempotent batch loads through SQLAlchemy.

One batch is loaded in **one transaction**: its earlier findings are replaced, its rows are
bulk-inserted into a temporary table, and one set-based upsert moves the newest version of each
natural key into the current table (only where the incoming version is newer *and* different),
while every distinct version is kept in ``<dataset>_versions``. A re-run of the same batch
therefore writes nothing new, and a crash leaves the store as it was before the batch.

Bulk path per dialect: SQLite uses ``executemany`` on the DB-API cursor (one transaction, WAL);
PostgreSQL uses ``COPY`` into the temporary table. ``DataFrame.to_sql`` is never used.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from config.contracts import DatasetContract
from loaders import locks
from loaders.schema import batch_ledger, data_columns, dataset_tables, dq_warnings, ingested_files, quarantine


@dataclass(frozen=True)
class UpsertCounts:
    """Outcome of loading one batch's valid rows."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0  # an older version than the one already current: kept in history only
    #: (year, month) of current rows that were replaced: a re-issue may move a record to another
    #: month, whose curated partition must then be rebuilt too.
    replaced_months: frozenset[tuple[int, int]] = field(default=frozenset(), compare=False)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys on."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache for bulk upserts
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def ensure_schema(engine: Engine, datasets: Iterable[str]) -> None:
    """Bring the store to the newest migration and check it serves ``datasets`` (idempotent).

    Runs ``upgrade head`` through :mod:`loaders.migrate` — only when the store is behind (a store
    already at head costs one SELECT, no lock); concurrent callers are serialized by the migration
    lock (a ``pipeline_locks`` row on PostgreSQL). A store created before migrations existed is adopted.
    Every dataset with a revision gets its tables, whichever ``datasets`` are named.

    Raises:
        loaders.migrate.SchemaError: a dataset has no migration, or its table does not match its
            contract (the message says how to generate the missing migration).
    """
    from loaders import migrate  # Alembic is imported only by tasks that touch the store

    datasets = list(datasets)
    for ds in datasets:
        dataset_tables(ds)
    migrate.ensure_head(engine)
    migrate.check_datasets(engine, datasets)


def processed_elsewhere(engine: Engine, dataset: str, facility: str, sha256: str, batch_id: str) -> str | None:
    """The batch that already processed a file with this checksum (loaded), if another one did."""
    q = (
        sa.select(ingested_files.c.batch_id)
        .join(batch_ledger, batch_ledger.c.batch_id == ingested_files.c.batch_id)
        .where(
            ingested_files.c.dataset == dataset,
            ingested_files.c.facility_code == facility,
            ingested_files.c.sha256 == sha256,
            ingested_files.c.status == "processed",
            ingested_files.c.batch_id != batch_id,
            batch_ledger.c.status.in_(("loaded", "partial")),
        )
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(q).scalar()


# --------------------------------------------------------------------------- bulk load


def _sql_values(table: pa.Table, names: list[str]) -> list[pa.Array]:
    """Arrow columns converted to what the DB-API drivers take: ISO strings for dates."""
    out = []
    for name in names:
        col = table.column(name).combine_chunks()
        if pa.types.is_timestamp(col.type):
            # SQLAlchemy's SQLite DateTime format. Parquet stores second-precision timestamps as
            # milliseconds: cast back to seconds first. (A cast is ~10x faster than strftime.)
            col = pc.binary_join_element_wise(pc.cast(col.cast(pa.timestamp("s")), pa.string()), ".000000", "")
        elif pa.types.is_date(col.type):
            col = pc.cast(col, pa.string())
        out.append(col)
    return out


def _rows(table: pa.Table, names: list[str]) -> Iterator[tuple[Any, ...]]:
    return zip(*[c.to_pylist() for c in _sql_values(table, names)], strict=True)


def _create_temp(conn: Connection, name: str, like: sa.Table, names: list[str]) -> None:
    cols = ", ".join(f'"{n}" {like.c[n].type.compile(conn.dialect)}' for n in names)
    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    conn.exec_driver_sql(f'CREATE TEMP TABLE "{name}" ({cols})')


def _bulk_insert(conn: Connection, name: str, names: list[str], chunks: Iterable[pa.Table]) -> int:
    """Insert Arrow chunks into table ``name`` (COPY on PostgreSQL); returns rows inserted."""
    total = 0
    dbapi = conn.connection.dbapi_connection
    quoted = ", ".join(f'"{n}"' for n in names)
    if conn.dialect.name == "postgresql":
        # Arrow writes the CSV (vectorized); COPY reads it. Unquoted empty fields are NULL in
        # COPY's CSV format, which is how Arrow writes nulls.
        cur = dbapi.cursor()
        opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        with cur.copy(f'COPY "{name}" ({quoted}) FROM STDIN WITH (FORMAT csv)') as copy:
            for chunk in chunks:
                table = chunk.select(names)
                table = table.cast(pa.schema([
                    pa.field(f.name, pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f for f in table.schema
                ]))
                buf = pa.BufferOutputStream()
                pacsv.write_csv(table, buf, opts)
                copy.write(buf.getvalue().to_pybytes())
                total += table.num_rows
        return total
    cur = dbapi.cursor()
    placeholders = ", ".join("?" for _ in names)
    for chunk in chunks:
        cur.executemany(f'INSERT INTO "{name}" ({quoted}) VALUES ({placeholders})', _rows(chunk, names))
        total += chunk.num_rows
    return total


#: A function returning a fresh iterator of Arrow chunks, optionally only some columns (the
#: SQLite path reads the batch twice: keys first, then the rows it must write).
ChunkSource = Callable[[list[str] | None], Iterable[pa.Table]]


def _as_source(chunks: ChunkSource | Iterable[pa.Table]) -> ChunkSource:
    if callable(chunks):
        return chunks
    tables = list(chunks)
    return lambda cols=None: (t.select(cols) if cols else t for t in tables)


def load_rows(conn: Connection, contract: DatasetContract, chunks: ChunkSource | Iterable[pa.Table],
              unique_keys: bool = False) -> UpsertCounts:
    """Upsert a batch's valid rows (all versions) inside the caller's transaction.

    The newest incoming version of each natural key replaces the current row only when it is
    newer *and* different (so an identical re-load writes nothing); the version it replaces and
    every incoming version that does not become current go to ``<dataset>_versions``. The full
    history of a key is therefore ``<dataset>`` ∪ ``<dataset>_versions`` (the
    ``<dataset>_history`` view).

    Args:
        conn: a connection inside an open transaction.
        contract: the dataset contract.
        chunks: Arrow tables with every stored column (see :func:`loaders.schema.data_columns`),
            or a :data:`ChunkSource` that can produce them more than once.
        unique_keys: the caller knows no natural key repeats in ``chunks`` (skips a window sort).

    Returns:
        How many natural keys were inserted, updated, unchanged, or stale.
    """
    source = _as_source(chunks)
    if conn.dialect.name == "sqlite":
        return _load_sqlite(conn, contract, source, unique_keys)
    # Batches of one dataset may run at once (other nights, backfills): extraction, validation and
    # the COPY proceed in parallel, but the compare-and-swap on current rows (classify, keep the
    # replaced versions, upsert) is serialised per dataset until commit. Without it, a version
    # committed by another batch between our classification and our upsert could be overwritten
    # without reaching the versions table. Different datasets do not wait for each other.
    locks.hold(conn, locks.dataset(contract.dataset))  # integration(hardening): was pg_advisory_xact_lock
    return _load_set_based(conn, contract, source, unique_keys)


def _newest_sql(tmp: str, cols: str, keys: str, unique_keys: bool) -> str:
    """The newest incoming version of each key (a batch may carry an original and its re-issue)."""
    if unique_keys:
        return f'(SELECT {cols} FROM "{tmp}")'
    return (f'(SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {keys} '
            f'ORDER BY version_key DESC, record_hash DESC) AS rn FROM "{tmp}") s WHERE rn = 1)')


_NEWER = "n.version_key > c.version_key AND n.record_hash <> c.record_hash"


def _classify(conn: Connection, contract: DatasetContract, newest: str) -> tuple[int, int, int, int]:
    """Count the batch's newest versions per key: inserted, updated, unchanged, stale.

    A version already on record (current, or kept in the versions table by an earlier run) is
    *unchanged*, so re-running an old interval after newer versions arrived reports exactly what
    its first run reported; *stale* is an older version seen for the first time.
    """
    _current, versions = dataset_tables(contract.dataset)
    on = " AND ".join(f'c."{k}" = n."{k}"' for k in contract.natural_key)
    on_v = " AND ".join(f'v."{k}" = n."{k}"' for k in contract.natural_key)
    older = "n.version_key <= c.version_key AND n.record_hash <> c.record_hash"
    row = conn.exec_driver_sql(
        f"SELECT "
        f"SUM(CASE WHEN c.version_key IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN c.version_key IS NOT NULL AND {_NEWER} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN c.version_key IS NOT NULL AND (n.record_hash = c.record_hash "
        f"OR ({older} AND v.record_hash IS NOT NULL)) THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN c.version_key IS NOT NULL AND {older} AND v.record_hash IS NULL THEN 1 ELSE 0 END) "
        f'FROM {newest} n LEFT JOIN "{contract.dataset}" c ON {on} '
        f'LEFT JOIN "{versions.name}" v ON {on_v} AND v.record_hash = n.record_hash'
    ).one()
    ins, upd, same, stale = (int(v or 0) for v in row)
    return ins, upd, same, stale


def _keep_replaced(conn: Connection, contract: DatasetContract, newest: str) -> frozenset[tuple[int, int]]:
    """Copy the current rows that ``newest`` is about to replace into the versions table.

    Returns:
        The event months those rows belonged to.
    """
    _current, versions = dataset_tables(contract.dataset)
    names = [n for n, _ in data_columns(contract)]
    q = ", ".join(f'"{n}"' for n in names)
    cq = ", ".join(f'c."{n}"' for n in names)
    keys = ", ".join(f'"{k}"' for k in contract.natural_key)
    on = " AND ".join(f'c."{k}" = n."{k}"' for k in contract.natural_key)
    event = f'c."{contract.event_date}"'
    month = f"substr({event}, 1, 7)" if conn.dialect.name == "sqlite" else f"to_char({event}, 'YYYY-MM')"
    months = conn.exec_driver_sql(
        f'SELECT DISTINCT {month} FROM "{contract.dataset}" c JOIN {newest} n ON {on} WHERE {_NEWER}'
    ).scalars().all()
    conn.exec_driver_sql(
        f'INSERT INTO "{versions.name}" ({q}) SELECT {cq} FROM "{contract.dataset}" c JOIN {newest} n ON {on} '
        f"WHERE {_NEWER} ORDER BY {', '.join(f'c.{k}' for k in contract.natural_key)} "
        f"ON CONFLICT ({keys}, record_hash) DO NOTHING"
    )
    return frozenset((int(m[:4]), int(m[5:7])) for m in months if m)


def _stage_feed(conn: Connection, contract: DatasetContract, newest: str) -> None:
    """Remember, before the upsert, which keys will get a new current version and how."""
    on = " AND ".join(f'c."{k}" = n."{k}"' for k in contract.natural_key)
    key_expr = " || '|' || ".join(f'n."{k}"' for k in contract.natural_key)
    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "tmp_feed_{contract.dataset}"')
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE "tmp_feed_{contract.dataset}" AS '
        f"SELECT {key_expr} AS natural_key, "
        f"CASE WHEN n.record_status = 'cancelled' THEN 'cancel' "
        f"WHEN c.version_key IS NULL THEN 'insert' ELSE 'update' END AS operation, "
        f"n.version_key AS version_key, n.record_hash AS record_hash, n.batch_id AS batch_id "
        f'FROM {newest} n LEFT JOIN "{contract.dataset}" c ON {on} '
        f"WHERE c.version_key IS NULL OR ({_NEWER})"
    )


def _append_feed(conn: Connection, contract: DatasetContract) -> None:
    """Append the staged changes to ``change_feed`` - the last write of the batch transaction.

    On PostgreSQL the change-feed lock (:mod:`loaders.locks`) is taken first and held until commit, so
    feed sequence numbers are drawn in commit order: a reader that saw ``seq`` N can never later
    find a committed row below N (a plain sequence would let a slow transaction commit a lower
    number after a faster one). SQLite has a single writer anyway.
    """
    if conn.dialect.name == "postgresql":
        locks.hold(conn, locks.FEED)  # integration(hardening): was pg_advisory_xact_lock(FEED_LOCK_KEY)
    conn.execute(
        sa.text(
            "INSERT INTO change_feed (dataset, natural_key, operation, version_key, record_hash, batch_id) "
            f'SELECT :ds, natural_key, operation, version_key, record_hash, batch_id FROM "tmp_feed_{contract.dataset}" '
            "ORDER BY natural_key"
        ),
        {"ds": contract.dataset},
    )
    conn.exec_driver_sql(f'DROP TABLE "tmp_feed_{contract.dataset}"')


def _load_sqlite(conn: Connection, contract: DatasetContract, source: ChunkSource, unique_keys: bool) -> UpsertCounts:
    """SQLite: classify by keys only, then write just the rows that change something.

    Only ``(key, version_key, record_hash)`` go through a temporary table; full rows are written
    once, straight into the current table (or into the versions table), and only when they
    change something - an identical re-load converts and writes no row at all.
    """
    current, versions = dataset_tables(contract.dataset)
    names = [n for n, _ in data_columns(contract)]
    key = list(contract.natural_key)
    slim = [*key, "version_key", "record_hash", "batch_id", "record_status"]
    tmp = f"tmp_keys_{contract.dataset}"
    cur = f'"{contract.dataset}"'
    _create_temp(conn, tmp, current, slim)
    _bulk_insert(conn, tmp, slim, source(slim))
    keys = ", ".join(f'"{k}"' for k in key)
    sq = ", ".join(f'"{n}"' for n in slim)
    on = " AND ".join(f'c."{k}" = n."{k}"' for k in key)
    newest = _newest_sql(tmp, sq, keys, unique_keys)
    ins, upd, same, stale = _classify(conn, contract, newest)
    q = ", ".join(f'"{n}"' for n in names)
    replaced = _keep_replaced(conn, contract, newest) if upd else frozenset()
    if ins or upd:
        _stage_feed(conn, contract, newest)
    placeholders = ", ".join("?" for _ in names)
    dbapi = conn.connection.dbapi_connection.cursor()
    if ins or upd:
        # Which rows to write: all of them on a plain first load (no list to hold in memory),
        # otherwise the newest version of each key that is new or changed.
        wanted: pa.Array | None = None
        if not (unique_keys and upd == 0 and same == 0 and stale == 0):
            write = conn.exec_driver_sql(
                f"SELECT n.version_key FROM {newest} n LEFT JOIN {cur} c ON {on} "
                f"WHERE c.version_key IS NULL OR ({_NEWER})"
            ).scalars().all()
            wanted = pa.array(write, pa.string())
        updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n not in key)
        upsert = (
            f"INSERT INTO {cur} ({q}) VALUES ({placeholders}) ON CONFLICT ({keys}) DO UPDATE SET {updates} "
            f"WHERE excluded.version_key > {cur}.version_key AND excluded.record_hash <> {cur}.record_hash"
        )
        for chunk in source(None):
            if wanted is not None:
                chunk = chunk.filter(pc.is_in(chunk.column("version_key"), value_set=wanted))
            if chunk.num_rows:
                dbapi.executemany(upsert, _rows(chunk, names))
    # Incoming versions that did not become current (older, or superseded within the batch).
    on_t = on.replace("n.", "t.")
    history = conn.exec_driver_sql(
        f'SELECT t.version_key FROM "{tmp}" t JOIN {cur} c ON {on_t} WHERE t.record_hash <> c.record_hash'
    ).scalars().all()
    if history:
        wanted = pa.array(history, pa.string())
        insert = f'INSERT INTO "{versions.name}" ({q}) VALUES ({placeholders}) ON CONFLICT ({keys}, record_hash) DO NOTHING'
        for chunk in source(None):
            chunk = chunk.filter(pc.is_in(chunk.column("version_key"), value_set=wanted))
            if chunk.num_rows:
                dbapi.executemany(insert, _rows(chunk, names))
    conn.exec_driver_sql(f'DROP TABLE "{tmp}"')
    if ins or upd:
        _append_feed(conn, contract)
    return UpsertCounts(inserted=ins, updated=upd, unchanged=same, stale=stale, replaced_months=replaced)


def _load_set_based(conn: Connection, contract: DatasetContract, source: ChunkSource, unique_keys: bool) -> UpsertCounts:
    """PostgreSQL: ``COPY`` into temporary tables, then set-based statements.

    Keys first (as on SQLite): ``(key, version_key, record_hash, batch_id, record_status)`` of
    every row is copied and classified; full rows are copied only when something is to be written
    (all of them on a plain first load, only the new or changed ones otherwise), so an identical
    re-load copies five narrow columns and writes nothing.
    """
    current, versions = dataset_tables(contract.dataset)
    names = [n for n, _ in data_columns(contract)]
    key = list(contract.natural_key)
    cur = f'"{contract.dataset}"'
    # Sorts and hash joins over a million rows spill to disk with the 4 MB default.
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    slim = [*key, "version_key", "record_hash", "batch_id", "record_status"]
    tmp_keys = f"tmp_keys_{contract.dataset}"
    _create_temp(conn, tmp_keys, current, slim)
    _bulk_insert(conn, tmp_keys, slim, source(slim))
    # Temporary tables have no statistics until analysed; without them the planner guesses
    # nested loops over a million rows.
    conn.exec_driver_sql(f'ANALYZE "{tmp_keys}"')
    keys = ", ".join(f'"{k}"' for k in key)
    on_k = " AND ".join(f'c."{k}" = k."{k}"' for k in key)
    newest_keys = _newest_sql(tmp_keys, ", ".join(f'"{n}"' for n in slim), keys, unique_keys)
    ins, upd, same, stale = _classify(conn, contract, newest_keys)
    replaced = _keep_replaced(conn, contract, newest_keys) if upd else frozenset()
    # Versions that do not become current go to the versions table: older ones arriving late
    # (stale) and, when keys repeat in the batch, the earlier versions of the batch itself.
    history_needed = stale > 0 or not unique_keys
    if ins and not (upd or same or stale) and unique_keys:
        # Every key is new to the current table (checked under the dataset lock, so no other
        # batch can add one meanwhile): COPY the rows straight in, no temporary copy, no upsert.
        _stage_feed(conn, contract, newest_keys)
        _bulk_insert(conn, contract.dataset, names, source(None))
        _append_feed(conn, contract)
    elif ins or upd or history_needed:
        wanted: pa.Array | None = None
        if same or upd or stale or not unique_keys:
            # Not a plain first load: only rows that differ from the current version are needed.
            wanted = pa.array(conn.exec_driver_sql(
                f'SELECT k.version_key FROM "{tmp_keys}" k LEFT JOIN {cur} c ON {on_k} '
                f"WHERE c.version_key IS NULL OR k.record_hash <> c.record_hash"
            ).scalars().all(), pa.string())
        tmp = f"tmp_{contract.dataset}"
        _create_temp(conn, tmp, current, names)

        def rows_needed() -> Iterable[pa.Table]:
            for chunk in source(None):
                yield chunk if wanted is None else chunk.filter(pc.is_in(chunk.column("version_key"), value_set=wanted))

        _bulk_insert(conn, tmp, names, rows_needed())
        conn.exec_driver_sql(f'ANALYZE "{tmp}"')
        q = ", ".join(f'"{n}"' for n in names)
        tq = ", ".join(f't."{n}"' for n in names)
        on_t = " AND ".join(f'c."{k}" = t."{k}"' for k in key)
        newest = _newest_sql(tmp, q, keys, unique_keys)
        if ins or upd:
            _stage_feed(conn, contract, newest)
            updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n not in key)
            conn.exec_driver_sql(
                # Key order: concurrent batches of one dataset lock rows in the same order.
                f"INSERT INTO {cur} ({q}) SELECT {q} FROM {newest} n WHERE true ORDER BY {keys} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {updates} "
                f"WHERE excluded.version_key > {cur}.version_key AND excluded.record_hash <> {cur}.record_hash"
            )
        if history_needed:
            conn.exec_driver_sql(
                f'INSERT INTO "{versions.name}" ({q}) SELECT {tq} FROM "{tmp}" t JOIN {cur} c ON {on_t} '
                f"WHERE t.record_hash <> c.record_hash ORDER BY {', '.join(f't.{k}' for k in [*key, 'record_hash'])} "
                f"ON CONFLICT ({keys}, record_hash) DO NOTHING"
            )
        conn.exec_driver_sql(f'DROP TABLE "{tmp}"')
        if ins or upd:
            _append_feed(conn, contract)
    conn.exec_driver_sql(f'DROP TABLE "{tmp_keys}"')
    return UpsertCounts(inserted=ins, updated=upd, unchanged=same, stale=stale, replaced_months=replaced)


# --------------------------------------------------------------------------- findings & ledger


def replace_findings(conn: Connection, batch_id: str, quarantined: list[dict[str, Any]], warnings: list[dict[str, Any]]) -> None:
    """Replace the batch's quarantine and warning records (idempotent re-runs)."""
    for table, rows in ((quarantine, quarantined), (dq_warnings, warnings)):
        conn.execute(sa.delete(table).where(table.c.batch_id == batch_id))
        if rows:
            conn.execute(sa.insert(table), rows)


def replace_files(conn: Connection, batch_id: str, files: list[dict[str, Any]]) -> None:
    """Replace the batch's ingested-file records."""
    conn.execute(sa.delete(ingested_files).where(ingested_files.c.batch_id == batch_id))
    if files:
        conn.execute(sa.insert(ingested_files), files)


def write_ledger(conn: Connection, row: dict[str, Any]) -> None:
    """Insert or replace the ledger row of a batch, counting attempts."""
    existing = conn.execute(
        sa.select(batch_ledger.c.attempts).where(batch_ledger.c.batch_id == row["batch_id"])
    ).scalar()
    payload = dict(row)
    for key in ("partitions", "timings", "source_facts"):
        if key in payload and not isinstance(payload[key], str):
            payload[key] = json.dumps(payload[key], sort_keys=True)
    if existing is None:
        conn.execute(sa.insert(batch_ledger).values(attempts=1, **payload))
    else:
        conn.execute(
            sa.update(batch_ledger)
            .where(batch_ledger.c.batch_id == row["batch_id"])
            .values(attempts=existing + 1, **{k: v for k, v in payload.items() if k != "batch_id"})
        )


def recorded_partitions(conn: Connection, batch_id: str) -> set[tuple[int, int]]:
    """(year, month) partitions an earlier attempt of this batch recorded as loaded.

    A re-run of a batch that had committed finds its rows already current: it replaces nothing, so
    it no longer knows the months a re-issue moved records out of. If the earlier attempt was
    killed between its commit and the curated publish, those months must still be rebuilt: the
    re-run publishes the union (rebuilding a month is idempotent). Found by ``tools/chaos.py``.
    """
    row = conn.execute(
        sa.select(batch_ledger.c.status, batch_ledger.c.partitions).where(batch_ledger.c.batch_id == batch_id)
    ).first()
    if row is None or row.status not in ("loaded", "partial") or not row.partitions:
        return set()
    return {(int(ym[:4]), int(ym[5:7])) for ym in json.loads(row.partitions)}


def ledger_rows(engine: Engine, dataset: str | None = None, interval_start: str | None = None) -> list[dict[str, Any]]:
    """Ledger rows as dicts, ordered by interval and facility."""
    q = sa.select(batch_ledger).order_by(batch_ledger.c.interval_start, batch_ledger.c.facility_code)
    if dataset:
        q = q.where(batch_ledger.c.dataset == dataset)
    if interval_start:
        q = q.where(batch_ledger.c.interval_start == interval_start)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def reconcile(row: dict[str, Any]) -> str | None:
    """Check ``received = loaded + quarantined + superseded (+ held)``; returns a problem or None."""
    total = row["loaded"] + row["quarantined"] + row["superseded"] + row["held"]
    if row["received"] != total:
        return (
            f"batch {row['batch_id']}: received {row['received']} != loaded {row['loaded']} + "
            f"quarantined {row['quarantined']} + superseded {row['superseded']} + held {row['held']}"
        )
    if row["loaded"] != row["inserted"] + row["updated"] + row["unchanged"]:
        return f"batch {row['batch_id']}: loaded != inserted + updated + unchanged"
    return None


def counts_by_batch(engine: Engine, table: sa.Table, column: str, batch_ids: list[str]) -> dict[str, dict[str, int]]:
    """``{batch_id: {value of column: rows}}`` for a findings-like table (quarantine rules,
    acknowledgement statuses): counts only, for summaries and operators."""
    out: dict[str, dict[str, int]] = {}
    if not batch_ids:
        return out
    col = table.c[column]
    q = (
        sa.select(table.c.batch_id, col, sa.func.count())
        .where(table.c.batch_id.in_(batch_ids))
        .group_by(table.c.batch_id, col)
        .order_by(table.c.batch_id, col)
    )
    with engine.connect() as conn:
        for batch_id, value, n in conn.execute(q):
            out.setdefault(batch_id, {})[value] = int(n)
    return out


def utcnow() -> dt.datetime:
    """Timezone-naive UTC now for ledger timestamps (bookkeeping only, never a partition key)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

"""Candidate changes to the PostgreSQL path of ``loaders.staging.load_rows``, measured by the bench only.

Nothing here is used by the pipeline: each variant is a copy of ``_load_set_based`` with one idea
applied (built from the loader's own helpers, so the SQL is otherwise identical), run by
``python -m bench.bench_pg_load --variants`` on a fresh database: first load, then the identical
re-load, with the same rows and ``unique_keys`` flag as the main measurement. Counts are checked
against the unchanged loader's, and the resulting tables are compared (row counts of current,
versions and change feed) so a faster variant that loads something else is caught.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from config.contracts import DatasetContract
from loaders import staging
from loaders.schema import data_columns, dataset_tables


def _history_needed(unique_keys: bool, stale: int) -> bool:
    """Can an incoming version end up neither current nor already on record?

    With unique keys each incoming row is its key's only version: it becomes current (inserted,
    updated), equals the current row, or is older - then either already kept (unchanged) or new
    to the store (stale). Only the stale ones, or superseded versions within the batch (keys not
    unique), need the history insert.
    """
    return (not unique_keys) or stale > 0


def load_skip_history(
    conn: Connection, contract: DatasetContract, source: staging.ChunkSource, unique_keys: bool = False
) -> staging.UpsertCounts:
    """V-skip: as today, but skip the history statement (a full tmp x current join) when it cannot insert."""
    return _load(conn, contract, source, unique_keys, keys_first=False)


def load_keys_first(
    conn: Connection, contract: DatasetContract, source: staging.ChunkSource, unique_keys: bool = False
) -> staging.UpsertCounts:
    """V-keys: COPY only (key, version_key, record_hash, batch_id) first and classify on that;
    COPY the full rows only when something must be written (as the SQLite path already does);
    skip the history statement when it cannot insert."""
    return _load(conn, contract, source, unique_keys, keys_first=True)


def _load(
    conn: Connection, contract: DatasetContract, source: staging.ChunkSource, unique_keys: bool, keys_first: bool
) -> staging.UpsertCounts:
    source = staging._as_source(source)
    current, versions = dataset_tables(contract.dataset)
    names = [n for n, _ in data_columns(contract)]
    key = list(contract.natural_key)
    tmp = f"tmp_{contract.dataset}"
    cur = f'"{contract.dataset}"'
    keys = ", ".join(f'"{k}"' for k in key)
    q = ", ".join(f'"{n}"' for n in names)
    tq = ", ".join(f't."{n}"' for n in names)
    on_t = " AND ".join(f'c."{k}" = t."{k}"' for k in key)
    if keys_first:
        slim = [*key, "version_key", "record_hash", "batch_id"]
        ktmp = f"tmp_keys_{contract.dataset}"
        staging._create_temp(conn, ktmp, current, slim)
        staging._bulk_insert(conn, ktmp, slim, source(slim))
        conn.exec_driver_sql(f'ANALYZE "{ktmp}"')
        sq = ", ".join(f'"{n}"' for n in slim)
        ins, upd, same, stale = staging._classify(conn, contract, staging._newest_sql(ktmp, sq, keys, unique_keys))
        conn.exec_driver_sql(f'DROP TABLE "{ktmp}"')
        full = bool(ins or upd or _history_needed(unique_keys, stale))
    else:
        full = True
    replaced: frozenset[tuple[int, int]] = frozenset()
    if full:
        staging._create_temp(conn, tmp, current, names)
        staging._bulk_insert(conn, tmp, names, source(None))
        conn.exec_driver_sql(f'ANALYZE "{tmp}"')
        newest = staging._newest_sql(tmp, q, keys, unique_keys)
        if not keys_first:
            ins, upd, same, stale = staging._classify(conn, contract, newest)
        replaced = staging._keep_replaced(conn, contract, newest) if upd else frozenset()
        if ins or upd:
            staging._stage_feed(conn, contract, newest)
            updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n not in key)
            conn.exec_driver_sql(
                f"INSERT INTO {cur} ({q}) SELECT {q} FROM {newest} n WHERE true "
                f"ON CONFLICT ({keys}) DO UPDATE SET {updates} "
                f"WHERE excluded.version_key > {cur}.version_key AND excluded.record_hash <> {cur}.record_hash"
            )
        if _history_needed(unique_keys, stale):
            conn.exec_driver_sql(
                f'INSERT INTO "{versions.name}" ({q}) SELECT {tq} FROM "{tmp}" t JOIN {cur} c ON {on_t} '
                f"WHERE t.record_hash <> c.record_hash ON CONFLICT ({keys}, record_hash) DO NOTHING"
            )
        conn.exec_driver_sql(f'DROP TABLE "{tmp}"')
        if ins or upd:
            staging._append_feed(conn, contract)
    return staging.UpsertCounts(inserted=ins, updated=upd, unchanged=same, stale=stale, replaced_months=replaced)


def store_counts(engine: Any, dataset: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar() or 0)
            for t in (dataset, f"{dataset}_versions", "change_feed")
        }


def run_variants(
    fresh: Callable[[str], Any],
    dataset: str,
    contract: DatasetContract,
    names: list[str],
    source: Callable[..., Any],
    unique: bool,
    capture: Any,
    copy_s: float,
    only: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Measure each variant (fresh database: first load, identical re-load); returns one dict each."""
    from bench.bench_pg_load import measure_copy, measure_load, summarize

    variants: list[tuple[str, Callable[..., Any] | None, str | None, str]] = [
        ("baseline (load_rows as is, fresh database)", None, None, "repeat of (b)/(c) to show run-to-run noise"),
        (
            "temp_buffers=1GB (load_rows as is)",
            None,
            "-c temp_buffers=1GB",
            "session setting only: the 1M-row temp table stays in backend-local memory instead of spilling "
            "to temp files through the 8 MB default",
        ),
        (
            "skip history insert when it cannot insert",
            load_skip_history,
            None,
            "unique_keys and stale == 0 -> the versions INSERT ... tmp JOIN current cannot add a row",
        ),
        (
            "keys first (slim COPY + classify, full COPY only if needed) + skip history",
            load_keys_first,
            None,
            "the SQLite path's idea on PostgreSQL: an identical re-load copies 5 columns instead of all",
        ),
        ("keys first + skip history + temp_buffers=1GB", load_keys_first, "-c temp_buffers=1GB", "both"),
        (
            "work_mem=256MB (load_rows as is)",
            None,
            "-c work_mem=256MB",
            "the change-feed sort and the history hash join spill to disk with the 4 MB default",
        ),
        (
            "keys first + skip history + work_mem=256MB",
            load_keys_first,
            "-c work_mem=256MB",
            "both (the loader could SET LOCAL work_mem inside its transaction)",
        ),
    ]
    if only:
        variants = [v for v in variants if any(o in v[0] for o in only)]
    out = []
    reference: dict[str, int] | None = None
    for i, (name, loader, options, note) in enumerate(variants):
        engine = fresh(f"pgload_variant_{i}")
        if options:
            url = engine.url
            engine.dispose()
            engine = sa.create_engine(url, connect_args={"options": options})
            capture.attach(engine)
        first = measure_load(engine, contract, source, unique, capture, loader)
        reload_ = measure_load(engine, contract, source, unique, capture, loader)
        copy_here = measure_copy(engine, dataset, names, source)
        counts = store_counts(engine, dataset)
        if reference is None:
            reference = counts
        v = {
            "name": name,
            "note": note,
            "first_load_s": first["seconds"],
            "reload_s": reload_["seconds"],
            "copy_same_db_s": copy_here,
            "first_counts": first["counts"],
            "reload_counts": reload_["counts"],
            "store_counts": counts,
            "same_store_as_baseline": counts == reference,
            "first_steps": summarize(first["steps"]),
            "reload_steps": summarize(reload_["steps"]),
        }
        print(
            f"  variant {name}: first {v['first_load_s']:.2f} s ({v['first_load_s'] / copy_s:.2f}x), "
            f"re-load {v['reload_s']:.2f} s ({v['reload_s'] / copy_s:.2f}x), COPY here {copy_here:.2f} s; "
            f"store {counts}",
            flush=True,
        )
        out.append(v)
        engine.dispose()
        time.sleep(0)
    return out

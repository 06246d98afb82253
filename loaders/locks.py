"""The pipeline's locks: rows of ``pipeline_locks`` that only the writer may lock, waits that end.

One small API for every lock the pipeline depends on::

    from loaders import locks
    with engine.begin() as conn:
        locks.hold(conn, locks.FEED)                       # until this transaction ends
        ...
    with locks.holding(engine, locks.curated("death_notices", 2026, 11)):
        ...                                                 # a lock of its own connection

Why rows and not advisory locks: any login may call ``pg_advisory_lock`` with any key, so a
reader of the staging store could take the change-feed key and stall every load for ever. A lock
here is ``SELECT … FOR UPDATE`` on the lock's row of ``pipeline_locks``; ``FOR UPDATE`` needs the
UPDATE privilege, which only ``s06_pipeline_writer`` (and the schema owner) has — the reader role
has no privilege at all on that table (migration ``0011``). Row locks are transaction-scoped like
``pg_advisory_xact_lock``: a killed session releases them.

Every wait is bounded: the lock statement runs under ``lock_timeout`` (a setting per kind of
lock, see :data:`TIMEOUTS`), and a wait that runs out raises :class:`LockTimeout` — a retryable
error whose message names the lock ("waited 60 s for the change-feed lock held by another
session; retry"). The session's own ``lock_timeout`` is restored afterwards.

SQLite has one writer at a time anyway: :func:`hold` writes the lock's row, which takes the
database's write lock until the transaction ends (under ``busy_timeout``, so that wait ends too).
Call it before the transaction reads anything: a WAL reader's snapshot cannot be upgraded to a
writer once another connection has committed. Other dialects: no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

#: Serialises change-feed appends so feed sequence numbers follow commit order.
FEED = "change-feed"
#: One schema migrator per database.
MIGRATIONS = "migrations"
#: The table holding one row per lock name (created by migration 0011).
TABLE = "pipeline_locks"

#: kind of lock -> (environment variable, default seconds). A lock name's kind is the part
#: before the first ``:``.
TIMEOUTS: dict[str, tuple[str, float]] = {
    FEED: ("S06_FEED_LOCK_TIMEOUT_S", 60.0),
    "dataset": ("S06_DATASET_LOCK_TIMEOUT_S", 900.0),
    "curated": ("S06_CURATED_LOCK_TIMEOUT_S", 900.0),
    MIGRATIONS: ("S06_MIGRATION_LOCK_TIMEOUT_S", 60.0),
}
#: Any other lock name.
DEFAULT_TIMEOUT = ("S06_LOCK_TIMEOUT_S", 60.0)

_PG_LOCK_NOT_AVAILABLE = "55P03"
_PG_INSUFFICIENT_PRIVILEGE = "42501"


class LockTimeout(RuntimeError):
    """A lock wait ran out. Retryable: the holder is another session that will finish."""

    retryable = True

    def __init__(self, name: str, waited_s: float, what: str | None = None) -> None:
        self.name = name
        self.waited_s = waited_s
        super().__init__(
            f"waited {waited_s:g} s for {what or describe(name)} held by another session; retry "
            f"(timeout: {timeout_setting(name)})"
        )


class LockDenied(PermissionError):
    """This login may not take the pipeline's locks (only the writer role may)."""


def dataset(name: str) -> str:
    """The lock serialising the compare-and-swap on one dataset's current rows."""
    return f"dataset:{name}"


def curated(dataset_name: str, year: int, month: int) -> str:
    """The lock around rebuilding one curated month partition (read staging, then swap the file)."""
    return f"curated:{dataset_name}:{year:04d}-{month:02d}"


def describe(name: str) -> str:
    """A lock name in words, for messages."""
    kind, _, rest = name.partition(":")
    if name == FEED:
        return "the change-feed lock"
    if name == MIGRATIONS:
        return "the schema migration lock"
    if kind == "dataset":
        return f"the {rest} load lock"
    if kind == "curated":
        ds, _, month = rest.partition(":")
        return f"the curated publish lock of {ds} {month}"
    return f"the lock {name!r}"


def timeout_setting(name: str) -> str:
    """The environment variable that sets this lock's timeout."""
    return TIMEOUTS.get(name.partition(":")[0], DEFAULT_TIMEOUT)[0]


def timeout_for(name: str) -> float:
    """Seconds to wait for lock ``name`` (its setting, else the default of its kind).

    Raises:
        ValueError: the setting is not a positive number.
    """
    env, default = TIMEOUTS.get(name.partition(":")[0], DEFAULT_TIMEOUT)
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{env} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{env} must be positive")
    return value


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_lock_timeout(exc: BaseException) -> bool:
    """True for PostgreSQL's "canceling statement due to lock timeout" / SQLite's "database is locked"."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if _sqlstate(exc) == _PG_LOCK_NOT_AVAILABLE:
        return True
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(exc.orig)


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def limit_waits(conn: Connection, timeout_s: float) -> None:
    """Bound every lock wait of the rest of ``conn``'s transaction (PostgreSQL ``lock_timeout``).

    For transactions that take no pipeline lock but must never hang (a consumer's page, a
    migration's DDL behind a reader's open transaction). SQLite: ``busy_timeout`` of the connection.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT set_config('lock_timeout', :v, true)"), {"v": _ms(timeout_s)})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, round(timeout_s * 1000))}")


def hold(conn: Connection, name: str, timeout_s: float | None = None) -> None:
    """Take lock ``name`` until ``conn``'s transaction ends (commit or rollback).

    Args:
        conn: a connection; its transaction (begun now if none is open) holds the lock.
        name: :data:`FEED`, :func:`dataset`, :func:`curated`, :data:`MIGRATIONS` or any name.
        timeout_s: wait at most this long (default: :func:`timeout_for` the name).

    Raises:
        LockTimeout: another session held the lock for the whole timeout (retryable). On
            PostgreSQL the transaction is then aborted: roll it back.
        LockDenied: this login may not take pipeline locks (e.g. a reader).
    """
    timeout = timeout_for(name) if timeout_s is None else timeout_s
    if conn.dialect.name == "postgresql":
        _hold_postgresql(conn, name, timeout)
    elif conn.dialect.name == "sqlite":
        _hold_sqlite(conn, name, timeout)


def _hold_postgresql(conn: Connection, name: str, timeout: float) -> None:
    previous = conn.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar()
    lock = sa.text(f"SELECT name FROM {TABLE} WHERE name = :n FOR UPDATE")
    try:
        conn.execute(sa.text("SELECT set_config('lock_timeout', :v, true)"), {"v": _ms(timeout)})
        if conn.execute(lock, {"n": name}).scalar() is None:
            # A lock used for the first time (a new dataset or month): create its row. A
            # concurrent creator makes this wait for its commit, under the same timeout.
            conn.execute(sa.text(f"INSERT INTO {TABLE} (name) VALUES (:n) ON CONFLICT (name) DO NOTHING"),
                         {"n": name})
            conn.execute(lock, {"n": name})
        conn.execute(sa.text("SELECT set_config('lock_timeout', :v, true)"), {"v": previous})
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) == _PG_LOCK_NOT_AVAILABLE:
            raise LockTimeout(name, timeout) from None
        if _sqlstate(exc) == _PG_INSUFFICIENT_PRIVILEGE:
            raise LockDenied(f"this login may not take {describe(name)}: pipeline locks belong to the "
                             "s06_pipeline_writer role") from None
        raise


def _hold_sqlite(conn: Connection, name: str, timeout: float) -> None:
    previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    try:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, round(timeout * 1000))}")
        # A write statement: takes the database's write lock until the transaction ends.
        conn.execute(sa.text(f"INSERT INTO {TABLE} (name) VALUES (:n) ON CONFLICT (name) DO UPDATE SET name = excluded.name"),
                     {"n": name})
    except sa.exc.OperationalError as exc:
        if is_lock_timeout(exc):
            raise LockTimeout(name, timeout) from None
        raise
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")


@contextlib.contextmanager
def holding(engine: Engine, name: str, timeout_s: float | None = None) -> Iterator[Connection]:
    """Hold lock ``name`` on a connection of its own for the ``with`` block (then commit).

    For work that does not happen in one database transaction, e.g. rebuilding a curated month
    (read staging on other connections, write and swap the Parquet file)::

        with locks.holding(engine, locks.curated(ds, year, month)):
            rebuild_the_month()
    """
    with engine.connect() as conn, conn.begin():
        hold(conn, name, timeout_s)
        yield conn


def ensure_table(conn: Connection) -> None:
    """Create ``pipeline_locks`` if it is missing (PostgreSQL), committed at once.

    The migration lock is itself a row of this table, so the migrator creates the table before
    the first migration (revision 0011 then only grants). Concurrent creators are tolerated.
    """
    if conn.dialect.name != "postgresql":
        return
    exists = conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": TABLE}).scalar()
    conn.commit()
    if exists:
        return
    for _attempt in range(3):
        try:
            limit_waits(conn, timeout_for(MIGRATIONS))
            # CREATE ... IF NOT EXISTS is not atomic against a concurrent creator (the row type
            # or the index name may collide): creators queue on a transaction advisory lock.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": TABLE})
            conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT NOT NULL PRIMARY KEY)")
            conn.commit()
            return
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:
            # a creator that did not take the advisory lock (an older release) won the race
            conn.rollback()
            if conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": TABLE}).scalar():
                conn.commit()
                return
            if not isinstance(exc, sa.exc.IntegrityError):
                raise
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            if is_lock_timeout(exc):
                raise LockTimeout(MIGRATIONS, timeout_for(MIGRATIONS), "the pipeline_locks table") from None
            raise


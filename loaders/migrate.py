"""Schema migrations of the staging store (Alembic): Python API, revision generator and CLI.

The schema is owned by the frozen revisions in ``loaders/migrations/versions/``: ``0001`` creates
the shared tables and the database roles, then one revision per dataset creates its current table,
``_versions`` table, indexes, ``_history`` view and grants. Revisions are rendered from the dataset
contracts *once* and committed; a later contract change needs a new revision, and the test suite
fails (:func:`drift`) until it exists.

Python::

    from loaders import migrate
    migrate.upgrade(engine)             # to head (locks, adopts a pre-migration store)
    migrate.ensure_head(engine)         # the same, but a single SELECT when already at head
    migrate.current(engine), migrate.history()

Command line (the URL defaults to ``S06_STAGING_URL`` / the local SQLite store; its password is
never printed)::

    python -m loaders.migrate upgrade [REV] [--url URL] [--sql]
    python -m loaders.migrate downgrade REV [--url URL] [--sql]
    python -m loaders.migrate current [--url URL]
    python -m loaders.migrate history
    python -m loaders.migrate check                     # contracts vs. migrations (exit 1 on drift)
    python -m loaders.migrate new-dataset DATASET [--replace]
    python -m loaders.migrate autogenerate "MESSAGE"

Concurrency: one migrator per database at a time — the ``migrations`` row of ``pipeline_locks`` on
PostgreSQL (``loaders.locks``: readers cannot take it, waits end), a lock file beside the database
file on SQLite. Callers that find the store already at head take no lock.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from loaders.migrations.helpers import ADOPT_ATTRIBUTE

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"

_LOCAL_LOCK = threading.Lock()

#: The commands to tell a developer when the contracts and the migrations disagree.
HOW_TO_FIX = (
    "generate the migration and commit it: `python -m loaders.migrate new-dataset <dataset>` for a new "
    "contract, or `python -m loaders.migrate autogenerate \"<what changed>\"` for a changed one "
    "(see loaders/migrate.py)"
)


class SchemaError(RuntimeError):
    """The staging store's schema cannot be brought to, or does not match, what the code expects."""


@dataclass(frozen=True)
class Revision:
    """One migration, as listed by :func:`history`."""

    id: str
    down_revision: str | None
    message: str
    dataset: str | None  # the dataset whose tables it creates, if any
    path: Path


# --------------------------------------------------------------------------- configuration


def make_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for ``loaders/migrations`` (no ini file needed).

    Args:
        connection: run migrations on this open connection (the caller commits).
        url: otherwise, the database to connect to (offline ``--sql`` mode: the dialect to render).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    cfg.attributes["connection"] = connection
    return cfg


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(make_config())


def _reload() -> None:
    _script.cache_clear()


def head() -> str:
    """The newest revision id (the history is linear: exactly one head)."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise SchemaError(f"migration history has {len(heads)} heads ({', '.join(heads)}); it must be linear")
    return heads[0]


def _module(rev: str) -> ModuleType:
    return _script().get_revision(rev).module  # type: ignore[union-attr]


def history() -> list[Revision]:
    """Every revision, oldest first."""
    out = []
    for sc in reversed(list(_script().walk_revisions())):
        down = sc.down_revision
        if isinstance(down, tuple | list):
            raise SchemaError(f"revision {sc.revision} merges {down}: the history must be linear")
        out.append(Revision(sc.revision, down, (sc.doc or "").strip(), getattr(sc.module, "DATASET", None),
                            Path(sc.path)))
    return out


def dataset_revisions() -> dict[str, str]:
    """dataset -> the revision that creates its tables."""
    return {r.dataset: r.id for r in history() if r.dataset}


def safe_url(url: str | sa.URL) -> str:
    """The URL for messages: the password masked."""
    return sa.make_url(url).render_as_string(hide_password=True)


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(f"{db}.migrate.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _sqlite_transactional_ddl(conn: Connection) -> Iterator[None]:
    """Make the migration one SQLite transaction, DDL included.

    Python's ``sqlite3`` opens transactions only before INSERT/UPDATE/DELETE, so each ``CREATE
    TABLE`` of a migration committed on its own: a process killed half-way through the first
    migration left a store with some of revision 0001's tables and an empty ``alembic_version``,
    which nothing could adopt any more (found by ``tools/chaos.py``). SQLite's DDL is
    transactional: with the driver's implicit handling off and an explicit ``BEGIN``, the whole
    upgrade commits or vanishes. The connection gets the driver's default handling back after.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    dbapi = conn.connection.dbapi_connection
    saved = dbapi.isolation_level  # type: ignore[union-attr]
    conn.commit()
    dbapi.isolation_level = None  # type: ignore[union-attr]
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: no upgrade from a reader's snapshot
    try:
        yield
    finally:
        conn.rollback()  # after the caller's commit: nothing to undo
        dbapi.isolation_level = saved  # type: ignore[union-attr]


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding the database's migration lock (one migrator at a time).

    PostgreSQL: the ``migrations`` row of ``pipeline_locks`` (:mod:`loaders.locks`; the table is
    created first if the store predates it), held by the connection's transaction — the one the
    migration runs in, so the lock is released when the migration commits or rolls back. Waits
    end: for the lock after ``S06_MIGRATION_LOCK_TIMEOUT_S``, and every DDL statement runs under
    the same ``lock_timeout`` (a reader's long open transaction on a staging table would otherwise
    make ``ALTER TABLE`` wait for ever, and every load queue behind it). A wait that runs out
    raises :class:`loaders.locks.LockTimeout` naming what it waited for. SQLite: an ``flock`` on
    ``<database>.migrate.lock``, and the migration runs as one transaction, DDL included
    (:func:`_sqlite_transactional_ddl`). Other dialects: an in-process lock only.
    """
    from loaders import locks

    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            with _LOCAL_LOCK, _file_lock(engine), _sqlite_transactional_ddl(conn):
                yield conn
            return
        timeout = locks.timeout_for(locks.MIGRATIONS)
        locks.ensure_table(conn)
        try:
            locks.hold(conn, locks.MIGRATIONS, timeout)
            locks.limit_waits(conn, timeout)
            yield conn
        except sa.exc.DBAPIError as exc:
            if locks.is_lock_timeout(exc):
                raise locks.LockTimeout(
                    locks.MIGRATIONS, timeout,
                    "a table lock during the schema migration (a session, e.g. a reader's open transaction, "
                    "is using a staging table)",
                ) from None
            raise
        finally:
            try:
                conn.rollback()  # after a commit: nothing to undo
            except sa.exc.DBAPIError:  # a broken session: closing it releases the lock
                conn.invalidate()


# --------------------------------------------------------------------------- state


def _current(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:
        raise SchemaError(f"staging store has several current revisions {heads}; expected one")
    return heads[0] if heads else None


def current(engine: Engine) -> str | None:
    """The store's revision, or None if it has never been migrated."""
    with engine.connect() as conn:
        return _current(conn)


def _declared(rev: str) -> tuple[dict[str, Sequence[str]], dict[str, str]]:
    """What a revision creates: ``TABLES`` (name -> columns) and ``VIEWS`` (name -> CREATE VIEW)."""
    module = _module(rev)
    return dict(getattr(module, "TABLES", {})), dict(getattr(module, "VIEWS", {}))


def _known_tables() -> set[str]:
    return {t for r in history() for t in _declared(r.id)[0]}


# --------------------------------------------------------------------------- upgrade / downgrade


def _adopt(conn: Connection) -> None:
    """Bring a store created before migrations (``metadata.create_all``) under Alembic.

    Walks the revisions that declare what they create (``TABLES``/``VIEWS``): one whose tables all
    exist with exactly the declared columns is applied in adopt mode (creates nothing but a missing
    view — the old code could create a dataset's tables without its view —, grants, records the
    revision); one whose objects are all absent is applied normally. Anything in between is an
    error: the store does not match the revision and needs a person.
    """
    for rev in history():
        tables, views = _declared(rev.id)
        if not tables and not views:
            break  # later revisions change objects: plain upgrade from here
        insp = sa.inspect(conn)
        present = set(insp.get_table_names()) | set(insp.get_view_names())
        wanted = set(tables) | set(views)
        if not wanted & present:
            log.info("staging store: revision %s objects absent, creating them", rev.id)
            command.upgrade(make_config(conn), rev.id)
            continue
        problems = [f"{n} missing" for n in sorted(set(tables) - present)]
        for name, cols in tables.items():
            if name in present:
                have = [c["name"] for c in insp.get_columns(name)]
                if set(have) != set(cols):
                    problems.append(f"{name} columns differ (missing {sorted(set(cols) - set(have))}, "
                                    f"extra {sorted(set(have) - set(cols))})")
        if problems:
            raise SchemaError(
                f"existing staging store does not match migration {rev.id} ({rev.message.splitlines()[0]}): "
                f"{'; '.join(problems)}. Migrate it by hand, then `python -m loaders.migrate` can take over."
            )
        for name, create_view in views.items():
            if name not in present:
                conn.exec_driver_sql(create_view)
        log.info("staging store: adopting existing objects of revision %s", rev.id)
        cfg = make_config(conn)
        cfg.attributes[ADOPT_ATTRIBUTE] = True
        command.upgrade(cfg, rev.id)


def _check_known(rev: str | None) -> None:
    if rev is None:
        return
    try:
        _script().get_revision(rev)
    except Exception:  # alembic's ResolutionError/CommandError for an id not in versions/
        raise SchemaError(f"staging store is at revision {rev}, unknown to this code (a newer deployment?)") from None


def _upgrade_locked(conn: Connection, revision: str) -> None:
    cur = _current(conn)
    _check_known(cur)
    if cur is None and _known_tables() & set(sa.inspect(conn).get_table_names()):
        _adopt(conn)
    command.upgrade(make_config(conn), revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the store to ``revision`` under the migration lock (adopting a pre-migration store).

    On PostgreSQL the whole upgrade is one transaction: it applies completely or not at all.
    """
    log.info("staging store %s: upgrade to %s", safe_url(engine.url), revision)
    with migration_lock(engine) as conn:
        _upgrade_locked(conn, revision)
        conn.commit()


def ensure_head(engine: Engine) -> bool:
    """Upgrade to head unless the store is there already (then: one SELECT, no lock).

    Returns:
        True if migrations ran.
    """
    target = head()
    try:
        if current(engine) == target:
            return False
    except SchemaError:
        pass
    with migration_lock(engine) as conn:
        cur = _current(conn)  # again, under the lock: another process may have just finished
        if cur == target:
            return False
        log.info("staging store %s: %s -> %s", safe_url(engine.url), cur or "empty", target)
        _upgrade_locked(conn, "head")
        conn.commit()
    return True


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the store to ``revision`` (``base`` drops everything, data included)."""
    log.info("staging store %s: downgrade to %s", safe_url(engine.url), revision)
    with migration_lock(engine) as conn:
        command.downgrade(make_config(conn), revision)
        conn.commit()


def check_datasets(engine: Engine, datasets: Iterable[str]) -> None:
    """Raise :class:`SchemaError` unless each dataset's table has exactly its contract's columns.

    Cheap (one catalogue query per dataset): it turns "contract changed, migration missing" into a
    clear message instead of an SQL error in the middle of a load.
    """
    from config.contracts import load_contract
    from loaders.schema import data_columns

    datasets = list(datasets)
    revs = dataset_revisions()
    missing = [ds for ds in datasets if ds not in revs]
    if missing:
        raise SchemaError(f"no migration creates the staging tables of {', '.join(missing)}: {HOW_TO_FIX}")
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        for ds in datasets:
            have = {c["name"] for c in insp.get_columns(ds)}
            want = {name for name, _ in data_columns(load_contract(ds))}
            if have != want:
                raise SchemaError(
                    f"staging table {ds} does not match its contract (not in the table: {sorted(want - have)}; "
                    f"not in the contract: {sorted(have - want)}): {HOW_TO_FIX}"
                )


# --------------------------------------------------------------------------- drift


def contract_metadata() -> sa.MetaData:
    """The schema the code expects: shared tables plus every contract's dataset tables."""
    from config.contracts import available_datasets
    from loaders import quality  # noqa: F401  # integration(quality): registers the mart tables (0010)
    from loaders.schema import dataset_tables, metadata

    for ds in available_datasets():
        dataset_tables(ds)
    return metadata


def _describe(diff: Any) -> str:
    if isinstance(diff, list):
        return "; ".join(_describe(d) for d in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return f"{kind} {diff[1].name} on {diff[1].table.name}"
    if kind.startswith("modify_"):
        return f"{kind} {diff[2]}.{diff[3]}: migrations {diff[5]!r}, contract {diff[6]!r}"
    return f"{kind} {diff[1:]!r}"


def drift(conn: Connection) -> list[str]:
    """Differences between a migrated database and :func:`contract_metadata` (empty: in step).

    ``add_*`` means the contracts have something the migrations do not create; ``remove_*`` the
    reverse.
    """
    mc = MigrationContext.configure(conn, opts={"compare_type": True})
    return [_describe(d) for d in compare_metadata(mc, contract_metadata())]


def _scratch_head() -> tuple[tempfile.TemporaryDirectory[str], Engine]:
    tmp = tempfile.TemporaryDirectory(prefix="s06-migrate-")
    engine = sa.create_engine(f"sqlite:///{tmp.name}/scratch.db")
    upgrade(engine)
    return tmp, engine


# --------------------------------------------------------------------------- rendering revisions

_HEADER = '''"""{title}

Revision ID: {rev}
Revises: {down}
Create Date: {date}

Frozen: {how}.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None
'''


def _render_ops(upgrade_ops: list[ops.MigrateOperation], indent: int, batch: bool = False) -> str:
    code = render_python_code(ops.UpgradeOps(ops=upgrade_ops), render_as_batch=batch)
    lines = [ln for ln in code.splitlines() if not ln.strip().startswith("# ###")]
    pad = " " * (indent - 4)
    return "\n".join(pad + ln if ln.strip() else "" for ln in lines)


def _columns_literal(columns: Sequence[str]) -> str:
    return "(\n" + "".join(f"    {c!r},\n" for c in columns) + ")"


def _views_literal(views: dict[str, list[str]]) -> str:
    if not views:
        return "{}"
    body = "".join(f"    {ds!r}: (\n" + "".join(f"        {c!r},\n" for c in cols) + "    ),\n" for ds, cols in views.items())
    return "{\n" + body + "}"


def _next_id() -> str:
    ids = [int(r.id) for r in history() if r.id.isdigit()]
    return f"{max(ids, default=0) + 1:04d}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "change"


def render_dataset_revision(dataset: str, rev: str, down: str | None) -> str:
    """A frozen revision creating ``dataset``'s tables, indexes, history view and grants."""
    from config.contracts import load_contract
    from loaders.schema import data_columns, dataset_tables

    current, versions = dataset_tables(dataset)
    columns = [c.name for c in current.columns]
    assert columns == [n for n, _ in data_columns(load_contract(dataset))]
    create: list[ops.MigrateOperation] = []
    for table in (current, versions):
        create.append(ops.CreateTableOp.from_table(table))
        create += [ops.CreateIndexOp.from_index(i) for i in sorted(table.indexes, key=lambda i: str(i.name))]
    q = dataset
    text = _HEADER.format(
        title=f"{dataset}: current and versions tables, indexes, history view, grants.",
        rev=rev, down=down, date=dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
        how=f"rendered by ``python -m loaders.migrate new-dataset {dataset}``\n"
            f"from the contract config/datasets/{dataset}.yaml as it was then",
    )
    text += f'''
#: The dataset whose tables this revision creates.
DATASET = {dataset!r}
#: Its stored columns, in table order (also the columns of the history view).
COLUMNS = {_columns_literal(columns)}
#: What this revision creates (checked when a store created before migrations is adopted).
TABLES = {{{current.name!r}: COLUMNS, {versions.name!r}: COLUMNS}}

_SELECT = ", ".join(f'"{{c}}"' for c in COLUMNS)
#: Every version ever received: the current one (``is_current`` 1) and the earlier ones.
HISTORY_VIEW = (
    f'CREATE VIEW "{q}_history" AS SELECT {{_SELECT}}, 1 AS is_current FROM "{current.name}" '
    f'UNION ALL SELECT {{_SELECT}}, 0 AS is_current FROM "{versions.name}"'
)
#: view -> its CREATE statement (adoption recreates a view that a pre-migration store lacks).
VIEWS = {{{q + "_history"!r}: HISTORY_VIEW}}


def upgrade() -> None:
    if not h.adopting():
{_render_ops(create, 8)}
        op.execute(HISTORY_VIEW)
    # Privileges (PostgreSQL only; see loaders/migrations/helpers.py for the roles).
    h.grant("SELECT, INSERT, UPDATE, DELETE", [{current.name!r}, {versions.name!r}], h.WRITER_ROLE)
    h.grant("SELECT", [{q + "_history"!r}], h.WRITER_ROLE)
    h.grant("SELECT", [{current.name!r}, {q + "_history"!r}], h.READER_ROLE)


def downgrade() -> None:
    op.execute('DROP VIEW "{q}_history"')
    op.drop_table({versions.name!r})
    op.drop_table({current.name!r})
'''
    return text


def new_dataset(dataset: str, replace: bool = False) -> Path:
    """Write the revision creating ``dataset``'s tables from its contract; returns its path.

    Args:
        dataset: a contract in ``config/datasets/``.
        replace: re-render the dataset's existing revision in place (same id and position). Only for
            a revision not yet applied to a store that matters: an applied revision is frozen.
    """
    from config.contracts import load_contract

    load_contract(dataset)  # a clear error for an unknown dataset
    if not re.fullmatch(r"[a-z][a-z0-9_]*", dataset):
        raise SchemaError(f"dataset name {dataset!r} is not a plain lower-case identifier")
    existing = {r.dataset: r for r in history() if r.dataset}
    if dataset in existing and not replace:
        raise SchemaError(
            f"{dataset} already has revision {existing[dataset].id}: for a contract change run "
            f"`python -m loaders.migrate autogenerate \"...\"`, or re-render it with --replace if that "
            "revision was never applied to a store that matters"
        )
    if dataset in existing:
        old = existing[dataset]
        rev, down, path = old.id, old.down_revision, old.path
    else:
        rev, down = _next_id(), head()
        path = VERSIONS_DIR / f"{rev}_{dataset}.py"
    path.write_text(render_dataset_revision(dataset, rev, down), encoding="utf-8")
    _reload()
    return path


def _touched_datasets(upgrade_ops: ops.UpgradeOps, datasets: set[str]) -> set[str]:
    out = set()
    for op_ in upgrade_ops.ops:
        name = getattr(op_, "table_name", None)
        if name in datasets:
            out.add(name)
        elif name and name.endswith("_versions") and name.removesuffix("_versions") in datasets:
            out.add(name.removesuffix("_versions"))
    return out


def autogenerate(message: str) -> Path | None:
    """Write a revision for what changed in the contracts since the last revision (None: nothing).

    Compares a scratch SQLite store at head with :func:`contract_metadata`, renders the operations
    (batch mode, so they also run on SQLite), and recreates the ``_history`` view of every dataset
    whose tables change, before and after, in both directions.
    """
    from config.contracts import available_datasets

    missing = [ds for ds in available_datasets() if ds not in dataset_revisions()]
    if missing:
        raise SchemaError(f"new dataset(s) {missing}: run `python -m loaders.migrate new-dataset <dataset>` first")
    tmp, engine = _scratch_head()
    try:
        with engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            script = produce_migrations(mc, contract_metadata())
            up, down = script.upgrade_ops, script.downgrade_ops
            assert up is not None
            assert down is not None
            if up.is_empty():
                return None
            datasets = set(dataset_revisions())
            touched = sorted(_touched_datasets(up, datasets))
            insp = sa.inspect(conn)
            old_cols = {ds: [c["name"] for c in insp.get_columns(f"{ds}_history") if c["name"] != "is_current"]
                        for ds in touched}
    finally:
        engine.dispose()
        tmp.cleanup()
    meta = contract_metadata()
    new_cols = {ds: [c.name for c in meta.tables[ds].columns] for ds in touched if ds in meta.tables}
    rev = _next_id()
    text = _HEADER.format(
        title=message, rev=rev, down=head(), date=dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
        how="rendered by ``python -m loaders.migrate autogenerate``\n"
            "from the contracts as they were then, and reviewed before committing",
    )
    grants_note = ""
    if any(isinstance(o, ops.CreateTableOp) for o in up.ops):
        grants_note = "    # REVIEW: grant privileges on the new table(s) to h.WRITER_ROLE / h.READER_ROLE.\n"
    text += f'''
#: History views recreated around the change: dataset -> columns after / before it.
VIEWS_AFTER: dict[str, tuple[str, ...]] = {_views_literal(new_cols)}
VIEWS_BEFORE: dict[str, tuple[str, ...]] = {_views_literal(old_cols)}


def _drop_views(views: dict[str, tuple[str, ...]]) -> None:
    for ds in views:
        op.execute(f'DROP VIEW IF EXISTS "{{ds}}_history"')


def _create_views(views: dict[str, tuple[str, ...]]) -> None:
    for ds, cols in views.items():
        select = ", ".join(f'"{{c}}"' for c in cols)
        op.execute(f'CREATE VIEW "{{ds}}_history" AS SELECT {{select}}, 1 AS is_current FROM "{{ds}}" '
                   f'UNION ALL SELECT {{select}}, 0 AS is_current FROM "{{ds}}_versions"')
        h.grant("SELECT", [f"{{ds}}_history"], h.WRITER_ROLE)
        h.grant("SELECT", [f"{{ds}}_history"], h.READER_ROLE)


def upgrade() -> None:
    _drop_views(VIEWS_BEFORE)
{_render_ops(list(up.ops), 4, batch=True)}
{grants_note}    _create_views(VIEWS_AFTER)


def downgrade() -> None:
    _drop_views(VIEWS_AFTER)
{_render_ops(list(down.ops), 4, batch=True)}
    _create_views(VIEWS_BEFORE)
'''
    path = VERSIONS_DIR / f"{rev}_{_slug(message)}.py"
    path.write_text(text, encoding="utf-8")
    _reload()
    return path


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m loaders.migrate ...`` (see the module docstring)."""
    url_parent = argparse.ArgumentParser(add_help=False)
    url_parent.add_argument("--url", help="SQLAlchemy URL (default: S06_STAGING_URL or the local SQLite store)")
    sql_parent = argparse.ArgumentParser(add_help=False)
    sql_parent.add_argument("--sql", action="store_true", help="print the SQL for the URL's dialect instead of running it")
    parser = argparse.ArgumentParser(prog="python -m loaders.migrate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("upgrade", parents=[url_parent, sql_parent], help="upgrade the store (default: to head)")
    p.add_argument("revision", nargs="?", default="head")
    p = sub.add_parser("downgrade", parents=[url_parent, sql_parent], help="downgrade the store to REVISION")
    p.add_argument("revision")
    sub.add_parser("current", parents=[url_parent], help="print the store's revision")
    sub.add_parser("history", help="list the revisions, oldest first")
    sub.add_parser("check", help="compare the contracts with the migrations (exit 1 on drift)")
    p = sub.add_parser("new-dataset", help="render the revision creating a dataset's tables from its contract")
    p.add_argument("dataset")
    p.add_argument("--replace", action="store_true", help="re-render the dataset's existing (never applied) revision")
    p = sub.add_parser("autogenerate", help="render a revision for contract changes since the last revision")
    p.add_argument("message")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    if args.cmd == "history":
        for r in history():
            print(f"{r.down_revision or 'base':>6} -> {r.id}  {r.message.splitlines()[0] if r.message else ''}")
        return 0
    if args.cmd == "check":
        tmp, engine = _scratch_head()
        try:
            with engine.connect() as conn:
                problems = drift(conn)
        finally:
            engine.dispose()
            tmp.cleanup()
        if problems:
            print("contracts and migrations differ:\n  " + "\n  ".join(problems) + f"\n{HOW_TO_FIX}", file=sys.stderr)
            return 1
        print("contracts and migrations agree")
        return 0
    if args.cmd == "new-dataset":
        print(f"wrote {new_dataset(args.dataset, replace=args.replace)}")
        return 0
    if args.cmd == "autogenerate":
        path = autogenerate(args.message)
        print(f"wrote {path} (review it)" if path else "no changes: contracts and migrations agree")
        return 0

    from config.settings import load_settings
    from loaders.engine import make_engine

    url = args.url or load_settings().staging_url
    if getattr(args, "sql", False):
        cfg = make_config(url=url)
        if args.cmd == "upgrade":
            command.upgrade(cfg, args.revision, sql=True)
        else:
            command.downgrade(cfg, args.revision, sql=True)
        return 0
    engine = make_engine(url)
    try:
        if args.cmd == "current":
            print(f"{safe_url(engine.url)}: {current(engine) or 'empty (no revision)'} (head: {head()})")
        elif args.cmd == "upgrade":
            upgrade(engine, args.revision)
            print(f"{safe_url(engine.url)}: at {current(engine)}")
        elif args.cmd == "downgrade":
            downgrade(engine, args.revision)
            print(f"{safe_url(engine.url)}: at {current(engine) or 'base'}")
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Alembic environment of the staging store.

Three ways in:

* :mod:`loaders.migrate` (normal): passes an open connection in ``config.attributes["connection"]``
  and holds the migration lock itself.
* the ``alembic`` CLI with ``-c loaders/migrations/alembic.ini``: the URL comes from
  ``sqlalchemy.url`` if set, else from ``config.settings`` (``S06_STAGING_URL``); this file then takes
  the migration lock. (It does not adopt pre-migration stores: use ``python -m loaders.migrate``.)
* offline (``--sql``): renders the SQL for a DBA instead of running it.

No ``target_metadata``: revisions are explicit and frozen; drift against the contracts is checked
by :func:`loaders.migrate.drift` and the test suite.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

config = context.config

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from config.settings import load_settings

    return load_settings().staging_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (or ``output_buffer``) without a database."""
    context.configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection given by loaders.migrate, or open one (locked) ourselves."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from loaders import migrate
    from loaders.engine import make_engine

    engine = make_engine(_url())
    try:
        with migrate.migration_lock(engine) as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

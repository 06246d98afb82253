"""Engines of the staging store: one module that both the loader and the migrations use.

(``loaders.staging`` runs the migrations; the migrations' command line needs an engine: the
engine lives here so that neither imports the other both ways.)
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys on.

    ``hide_parameters``: a failed statement's exception text names the statement but not its
    bound values. Lookups and loads bind identifiers (a lookup's array holds up to a chunk's
    personal IDs), and an exception's text must not carry them anywhere it is printed.
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache for bulk upserts
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """The process's engine for ``url`` (created once: engines hold the connection pool)."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine

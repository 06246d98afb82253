"""SQLAlchemy URL of an Airflow-like connection (no Airflow import here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import URL

#: Airflow ``conn_type`` -> SQLAlchemy ``dialect+driver``.
DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mssql": "mssql+pyodbc",
}
#: Connection ``extra`` keys passed on as URL query parameters, per driver.
QUERY_EXTRAS = {
    "postgresql+psycopg": ("sslmode", "sslrootcert", "connect_timeout", "application_name"),
    "mysql+pymysql": ("charset", "connect_timeout"),
    "mssql+pyodbc": ("driver", "Encrypt", "TrustServerCertificate"),
}
DEFAULT_MSSQL_DRIVER = "ODBC Driver 18 for SQL Server"


def sqlalchemy_url_from_connection(conn: Any) -> str:
    """The SQLAlchemy URL of a connection object (Airflow ``Connection`` or look-alike).

    Uses ``conn_type``, ``host``, ``schema`` (the database name, Airflow's convention), ``login``,
    ``password``, ``port`` and ``extra_dejson``. ``extra_dejson["sqlalchemy_url"]`` wins when
    present. For ``sqlite`` the ``host`` holds the database file path. Credentials are escaped
    properly (``@``, ``/``, ``:`` in a password are safe).

    The returned string contains the password: pass it to ``create_engine``, never log it.

    Raises:
        ValueError: unsupported ``conn_type`` or a sqlite connection without a path.
    """
    extra: dict[str, Any] = dict(getattr(conn, "extra_dejson", None) or {})
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = str(getattr(conn, "conn_type", "") or "").lower()
    host = getattr(conn, "host", None) or None
    if conn_type == "sqlite":
        if not host:
            raise ValueError("sqlite connection needs the database file path in 'host'")
        # Read-only, through a URI: the facility's database is never written, and a missing file
        # is an error (unreachable, retried) instead of a new empty database (a "table not found").
        return f"sqlite:///file:{quote(str(host), safe='/:')}?mode=ro&uri=true"
    if conn_type not in DRIVERS:
        raise ValueError(f"unsupported connection type {conn_type!r} (sqlite, postgres, mysql, mssql)")
    driver = DRIVERS[conn_type]
    query = {k: str(extra[k]) for k in QUERY_EXTRAS.get(driver, ()) if extra.get(k) not in (None, "")}
    if driver == "mssql+pyodbc":
        query.setdefault("driver", DEFAULT_MSSQL_DRIVER)
    port = getattr(conn, "port", None)
    url = URL.create(
        driver,
        username=getattr(conn, "login", None) or None,
        password=getattr(conn, "password", None) or None,
        host=host,
        port=int(port) if port else None,
        database=getattr(conn, "schema", None) or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)

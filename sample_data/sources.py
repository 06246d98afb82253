"""Stand up the sample facility systems (API server, facility databases) for the main job and tests.

``make demo`` and the end-to-end tests run facilities of every source kind against real
components on this machine: the sample REST API server (``sample_data.api_server``) on a free
loopback port, serving the generated ``<data>/api/`` records, and the generated SQLite facility
databases under ``<data>/facility_db/``. This module points each REST/SQL facility's Airflow
connection (``AIRFLOW_CONN_<CONN_ID>``, JSON form) at them for the duration of a ``with`` block.
The credentials are the sample server's throwaway development ones.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sample_data.api_server import start_server

SAMPLE_USER, SAMPLE_PASSWORD = "s06", "secret"


def connection_env(facilities: list[Any], api_url: str, data_root: Path) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values for the registry's REST and SQL facilities."""
    env: dict[str, str] = {}
    for fac in facilities:
        if not fac.conn_id:
            continue
        name = f"AIRFLOW_CONN_{fac.conn_id.upper()}"
        if fac.source_kind == "rest_api":
            env[name] = json.dumps({"conn_type": "http", "host": f"{api_url.rstrip('/')}/{fac.code}",
                                    "login": SAMPLE_USER, "password": SAMPLE_PASSWORD, "extra": {"auth": "token"}})
        elif fac.source_kind == "sql":
            env[name] = json.dumps({"conn_type": "sqlite", "host": str(data_root / "facility_db" / f"{fac.code}.sqlite")})
    return env


@contextlib.contextmanager
def sample_sources(data_root: Path, facilities: list[Any]) -> Iterator[Any]:
    """Run the sample API server and set the facilities' connections; restore on exit.

    Yields:
        The server handle (``.url``, ``.set_fault(...)``, ``.clear_faults()``).
    """
    with start_server(data_root, users={SAMPLE_USER: SAMPLE_PASSWORD}) as server:
        env = connection_env(facilities, server.url, data_root)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

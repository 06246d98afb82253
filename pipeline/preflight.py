"""Pre-flight checks of a run, done by ``plan_shards`` before any facility task is mapped.

* **Pool**: a task whose Airflow pool does not exist is never scheduled — it stays "scheduled"
  forever and only the scheduler's log says why. Task processes cannot read Airflow's metadata DB
  (Airflow 3 blocks it), so the pool is looked up through Airflow's REST API with the credentials
  of the connection ``s06_airflow_api`` (``host`` = the API server's base URL; ``login``/``password``
  of a read-only user, or extra ``{"token": "..."}``). A missing pool fails the run at once, naming
  it. Without that connection the check is skipped with a warning (``make up`` defines it).
* **Connections**: every REST/SQL facility of the run names an Airflow connection; a missing one is
  named in the plan's log. Its batch then fails at once ("source rejected: Airflow connection ...
  is not configured", no retry) while the other facilities load.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

API_CONN_ID = "s06_airflow_api"


class PreflightError(Exception):
    """The run cannot work as configured (missing pool, unknown facility code)."""


def _api_connection() -> Any | None:
    from extractors.sources import get_connection

    try:
        return get_connection(API_CONN_ID)
    except Exception:
        return None


def pool_exists(pool: str, timeout: float = 10.0) -> bool | None:
    """True/False from the REST API; None when it cannot be asked (no connection, API down)."""
    import requests

    conn = _api_connection()
    if conn is None or not conn.host:
        return None
    base = conn.host.rstrip("/")
    if not base.startswith(("http://", "https://")):
        base = f"http://{base}" + (f":{conn.port}" if conn.port else "")
    extra = conn.extra_dejson or {}
    try:
        token = extra.get("token")
        if not token and conn.login:
            resp = requests.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password or ""},
                                 timeout=timeout)
            resp.raise_for_status()
            token = resp.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = requests.get(f"{base}/api/v2/pools/{quote(pool, safe='')}", headers=headers, timeout=timeout)
    except (requests.RequestException, KeyError, ValueError) as exc:
        log.warning("pre-flight: could not ask the Airflow API about pool '%s' (%s)", pool, type(exc).__name__)
        return None
    if resp.status_code == 404:
        return False
    if resp.ok:
        return True
    log.warning("pre-flight: the Airflow API answered %d for pool '%s'", resp.status_code, pool)
    return None


def check_pool(pool: str) -> None:
    """Raise :class:`PreflightError` naming the pool when the API says it does not exist."""
    exists = pool_exists(pool)
    if exists is False:
        raise PreflightError(
            f"Airflow pool '{pool}' does not exist: the facility tasks would wait in 'scheduled' forever. "
            f"Create it (make up does): airflow pools set {pool} <slots> \"Scheme 06 calls into facility systems\""
        )
    if exists is None:
        log.warning("pre-flight: pool '%s' not checked (no usable '%s' connection)", pool, API_CONN_ID)
    else:
        log.info("pre-flight: pool '%s' exists", pool)


def missing_connections(facilities: list[Any]) -> list[tuple[str, str]]:
    """``(facility code, conn_id)`` of every REST/SQL facility whose connection is not defined."""
    from extractors.sources import get_connection

    missing = []
    for fac in facilities:
        if not fac.conn_id:
            continue
        try:
            get_connection(fac.conn_id)
        except Exception:
            missing.append((fac.code, fac.conn_id))
    return missing

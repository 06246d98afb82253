"""Resolving the pseudonymization key at run time (never at parse time, never from code).

Order: environment variable ``S06_PSEUDONYM_KEY``; then the password of the Airflow connection
``s06_pseudonym_key`` (``AIRFLOW_CONN_S06_PSEUDONYM_KEY`` or the configured secrets backend).
"""

from __future__ import annotations

import os

ENV_VAR = "S06_PSEUDONYM_KEY"
CONN_ID = "s06_pseudonym_key"


class MissingKeyError(RuntimeError):
    """No pseudonymization key is configured."""


def pseudonym_key() -> bytes:
    """Return the key bytes.

    Raises:
        MissingKeyError: if neither the environment nor an Airflow connection provides one.
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        try:
            from airflow.sdk import Connection

            value = Connection.get(CONN_ID).password
        except Exception:
            value = None
    if not value:
        raise MissingKeyError(
            f"no pseudonymization key: set {ENV_VAR} or the Airflow connection '{CONN_ID}' (password field)"
        )
    return value.encode("utf-8")

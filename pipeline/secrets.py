"""Resolving the pseudonymization key at run time (never at parse time, never from code).

Order: environment variable ``S06_PSEUDONYM_KEY``; then the password of the Airflow connection
``s06_pseudonym_key`` (``AIRFLOW_CONN_S06_PSEUDONYM_KEY`` or the configured secrets backend).
"""

from __future__ import annotations

import os

from pipeline.errors import BatchFailed

ENV_VAR = "S06_PSEUDONYM_KEY"
CONN_ID = "s06_pseudonym_key"
#: Shorter keys are refused (``transforms.pseudonymize`` needs a real secret).
MIN_KEY_BYTES = 16


class MissingKeyError(BatchFailed):
    """No usable pseudonymization key is configured.

    A :class:`~pipeline.errors.BatchFailed` (not retried, message shown as is): the message names
    the settings to fix and never the key.
    """


def pseudonym_key() -> bytes:
    """Return the key bytes.

    Raises:
        MissingKeyError: if neither the environment nor an Airflow connection provides one, or
            the key is shorter than 16 bytes.
    """
    value = os.environ.get(ENV_VAR)
    source = ENV_VAR
    if not value:
        source = f"the Airflow connection '{CONN_ID}'"
        try:
            from airflow.sdk import Connection

            value = Connection.get(CONN_ID).password
        except Exception:
            value = None
    if not value:
        raise MissingKeyError(
            f"no pseudonymization key: set {ENV_VAR} or the Airflow connection '{CONN_ID}' (password field)"
        )
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise MissingKeyError(
            f"the pseudonymization key from {source} is shorter than {MIN_KEY_BYTES} bytes: set a real secret in "
            f"{ENV_VAR} or the Airflow connection '{CONN_ID}' (password field)"
        )
    return key

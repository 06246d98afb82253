"""What the command-line entry points check before running, and their exit codes.

Shared by ``s06 backfill`` and ``s06 demo`` (``make run-night``), so
the same outcome gives the same exit code (``docs/entry_points.md``).
"""

from __future__ import annotations

import sqlalchemy as sa

from config.settings import Settings

#: Every night reconciled cleanly / some night needs attention / cannot run or could not finish.
EXIT_OK, EXIT_ATTENTION, EXIT_CANNOT_RUN = 0, 1, 2


class CannotRun(RuntimeError):
    """The run cannot start or could not finish (exit 2); the message is the one line shown."""


def preflight(settings: Settings) -> None:
    """Check what every night needs before any night runs; create a missing data root.

    Raises:
        CannotRun: the pseudonymization key is missing, or the staging store cannot be reached.
    """
    from pipeline.secrets import MissingKeyError, pseudonym_key

    settings.data_root.mkdir(parents=True, exist_ok=True)
    try:
        pseudonym_key()
    except MissingKeyError as exc:
        raise CannotRun(str(exc)) from None
    check_store(settings)


def check_store(settings: Settings) -> None:
    """Raise :class:`CannotRun` if the staging store does not answer ``SELECT 1``.

    Also called after a step fails during a run: a store that went away mid-run is one ``error:``
    line and exit 2, not a list of per-facility failures (whose ledger rows it could not keep).
    """
    url = sa.make_url(settings.staging_url)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        raise CannotRun(unreachable(settings, exc)) from None
    finally:
        engine.dispose()


def unreachable(settings: Settings, exc: BaseException) -> str:
    """The one line for a staging store that cannot be reached (password masked)."""
    from loaders.migrate import safe_url

    kind = type(getattr(exc, "orig", None) or exc).__name__
    return (f"staging store {safe_url(settings.staging_url)} is unreachable ({kind}): check S06_STAGING_URL and "
            "that the database is up, then run the backfill again (nights already loaded are no-ops)")

"""Exceptions the DAG maps onto retry behaviour. Messages never carry personal data.

They live at the bottom layer (``config``) so that every package may raise them: extractors raise
:class:`TransportError`, the pipeline the others. ``pipeline.errors`` re-exports them.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class TransportError(Exception):
    """Reaching the facility's data failed (mount, network, server): worth retrying."""

    #: How the ledger's reason names the failure.
    label = "source unreachable"


class BatchFailed(Exception):
    """The batch cannot be processed (bug, corrupt store, bad config): retrying will not help."""


class BatchHeldBack(Exception):
    """The batch was processed but held back from staging: its quarantine share is too high."""


class ReconciliationError(Exception):
    """A batch's counts do not add up: ``received != loaded + quarantined + superseded + held``."""


class StepFailed(Exception):
    """A pipeline step failed; the original message was withheld because it may quote data."""


def log_withheld(logger: logging.Logger, step: str, exc: BaseException) -> None:
    """Log an exception's type and traceback frames (code locations), never its message."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("%s failed with %s; frames (message withheld, may hold data):\n%s", step, type(exc).__name__, frames)


def withhold_data(step: str) -> Callable[[F], F]:
    """Decorator: let the pipeline's own exceptions through; replace any other exception by
    :class:`StepFailed` naming only its type, after logging its traceback *frames* (no message).

    Driver and library errors (SQLAlchemy's ``IntegrityError``, Arrow's cast errors) quote the
    offending values in their messages; Airflow would log and display them.
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (TransportError, BatchFailed, BatchHeldBack, ReconciliationError, StepFailed):
                raise
            except Exception as exc:
                log_withheld(logging.getLogger(func.__module__), step, exc)
                raise StepFailed(f"{step} failed: {type(exc).__name__} (see the log for where)") from None

        return inner  # type: ignore[return-value]

    return wrap

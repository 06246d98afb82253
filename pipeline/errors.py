"""Re-export of :mod:`config.errors` (the error classes live at the bottom layer)."""

from __future__ import annotations

from config.errors import (
    BatchFailed,
    BatchHeldBack,
    ReconciliationError,
    StepFailed,
    TransportError,
    log_withheld,
    withhold_data,
)

__all__ = ["BatchFailed", "BatchHeldBack", "ReconciliationError", "StepFailed", "TransportError", "log_withheld",
           "withhold_data"]

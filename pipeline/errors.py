"""Exceptions the DAG maps onto retry behaviour. Messages never carry personal data."""

from __future__ import annotations


class TransportError(Exception):
    """Reaching the facility's data failed (mount, network, server): worth retrying."""


class BatchFailed(Exception):
    """The batch cannot be processed (bug, corrupt store, bad config): retrying will not help."""


class BatchHeldBack(Exception):
    """The batch was processed but held back from staging: its quarantine share is too high."""


class ReconciliationError(Exception):
    """A batch's counts do not add up: ``received != loaded + quarantined + superseded + held``."""

"""One batch (dataset × facility × night): the single-facility entry point.

The work itself is done by :class:`pipeline.shard.ShardRunner`, which runs a whole shard of
facilities through the stages of :mod:`pipeline.stages`; :func:`run_batch` is a shard of one,
raising what the batch's outcome means (for tests, ad-hoc runs and callers that want one
facility).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from config.settings import Settings
from pipeline.stages.state import BatchSpec

__all__ = ["BatchSpec", "run_batch"]


def run_batch(dataset: str, facility: str, interval_start: dt.datetime, interval_end: dt.datetime,
              settings: Settings | None = None, engine: Any = None,
              options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Process one facility's batch and record it in the ledger.

    Returns:
        A small, personal-data-free summary (counts, status, partitions touched), fit for XCom.

    Raises:
        TransportError: the source could not be reached (retryable).
        BatchHeldBack: the batch was recorded but held back from staging.
        BatchFailed: anything else; the ledger records the failure.
    """
    from pipeline.shard import run_shard
    from pipeline.stages.load import raise_for, summary

    (batch,) = run_shard(dataset, [facility], interval_start, interval_end, settings, engine, options)
    raise_for(batch)
    return summary(batch)

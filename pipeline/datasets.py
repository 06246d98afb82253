"""Per-dataset hooks: the only dataset-specific code the generic batch runner calls.

``DATASETS`` maps each dataset with a live pipeline to the transforms module holding its
derivations. It is a plain mapping of names so DAG files can list datasets at parse time without
importing pyarrow; the module is imported only when a task runs.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: dataset id -> module with ``derive_validation_columns``, ``VALIDATION_COLUMNS`` and
#: (optionally) ``FIRST_ISSUE_COLUMN``.
DATASETS: dict[str, str] = {
    "birth_certificates": "transforms.births",
    "death_notices": "transforms.deaths",
    "driver_health_checks": "transforms.drivers",
    "health_workforce": "transforms.workforce",
}


@dataclass(frozen=True)
class DatasetHooks:
    """What the batch runner needs to know beyond the contract.

    Attributes:
        derive: adds the validation-frame columns (table, facility, cutoff, lookups) -> table;
            ``lookups`` is a :class:`transforms.context.LookupContext` or None.
        validation_columns: the columns handed to Great Expectations.
        first_issue_column: a boolean column; False marks a re-issue/edit, which may legitimately
            repeat a natural key with new content within one batch (B9 / K7).
    """

    derive: Callable[[pa.Table, str, dt.datetime, Any], pa.Table]
    validation_columns: tuple[str, ...]
    first_issue_column: str | None = None


def hooks_for(dataset: str) -> DatasetHooks:
    """The hooks of a dataset.

    Raises:
        KeyError: naming the dataset, if it has no pipeline.
    """
    try:
        module = importlib.import_module(DATASETS[dataset])
    except KeyError:
        raise KeyError(f"no pipeline hooks registered for dataset '{dataset}'") from None
    return DatasetHooks(
        derive=module.derive_validation_columns,
        validation_columns=tuple(module.VALIDATION_COLUMNS),
        first_issue_column=getattr(module, "FIRST_ISSUE_COLUMN", None),
    )

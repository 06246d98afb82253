"""Per-dataset hooks: the only dataset-specific code the generic batch runner calls.

Everything about a dataset is found through the dataset registry, the contracts in
``config/datasets/*.yaml`` (:func:`config.contracts.available_datasets`): its derivation hook
(``hook``: a module with ``derive_validation_columns``, for bespoke derivations only; without one
the batch gets the generic ``facility_code`` and ``batch_cutoff``), the validation columns
(derived from its rules) and the column marking re-issues. The hook module is imported only when
a task runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.contracts import available_datasets, load_contract

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


@dataclass(frozen=True)
class DatasetHooks:
    """What the batch runner needs to know beyond the contract's columns.

    Attributes:
        derive: adds the validation-frame columns (table, facility, cutoff, lookups) -> table;
            ``lookups`` is a :class:`transforms.context.LookupContext` or None.
        validation_columns: the columns handed to Great Expectations (the ones the rules read).
        first_issue_column: a boolean column; False marks a re-issue/edit, which may legitimately
            repeat a natural key with new content within one batch (B9 / K7).
    """

    derive: Callable[[pa.Table, str, dt.datetime, Any], pa.Table]
    validation_columns: tuple[str, ...]
    first_issue_column: str | None = None


def generic_derive(table: pa.Table, facility_code: Any, cutoff: dt.datetime, context: Any = None) -> pa.Table:
    """The derivation of a dataset without a hook: the sending facility and the batch cut-off
    (``facility_code``, ``batch_cutoff``), which rules may compare with (``pair``, ``date_order``)."""
    import pyarrow as pa

    from transforms.records import constant, facility_column, set_columns

    n = table.num_rows
    return set_columns(table, {
        "facility_code": facility_column(facility_code, n),
        "batch_cutoff": constant(cutoff.replace(tzinfo=None), pa.timestamp("s"), n),
    })


def hooks_for(dataset: str) -> DatasetHooks:
    """The hooks of a registered dataset.

    Raises:
        KeyError: naming the dataset, if no contract declares it or it names no hook.
    """
    if dataset not in available_datasets():
        raise KeyError(f"no pipeline hooks registered for dataset '{dataset}'")
    contract = load_contract(dataset)
    derive = importlib.import_module(contract.hook).derive_validation_columns if contract.hook else generic_derive
    bound = contract.derivation_options()
    if bound:
        derive = functools.partial(derive, **bound)  # the hook's [U] facts, from the contract
    return DatasetHooks(
        derive=derive,
        validation_columns=contract.validation_columns,
        first_issue_column=contract.first_issue_column,
    )

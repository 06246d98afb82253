"""Custom Great Expectations expectations used by the suites.

Importing this module imports Great Expectations (about 4.5 s) and registers the expectations
and their metrics with GX, so only the runner and the suite builders import it, inside
functions. The row logic itself lives in :mod:`expectations.reference` (plain pandas) so it can
be tested and reused without GX.

Expectations defined here:

* ``expect_column_values_to_be_valid_personal_id`` — rule B7 (DOMAIN §7.1): twelve digits and a
  known three-digit province prefix. NULLs are ignored, as for every column map expectation.
* ``expect_column_pair_values_a_to_be_at_most_unless_b`` — rule B2's first-issue delay: column A
  at most ``max_value`` on every row where column B is not True (B = "exempt", e.g. re-issue).
* ``expect_column_pair_values_a_to_be_within_bounds_for_b`` — ``range_by`` rules (K2-K4): column
  A within the bounds that the row's column B value selects.

Both metrics treat NULLs inside the row function instead of letting GX drop them first: GX drops
NULL rows by copying the *whole* batch frame once per metric (three times per expectation),
which is the main per-row cost of a suite on a wide frame.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)

from expectations.reference import cccd_province_prefixes, personal_id_is_valid, within_bounds_for


class ColumnValuesValidPersonalId(ColumnMapMetricProvider):
    """Row-level metric: is the value a structurally valid personal ID number (CCCD)?"""

    condition_metric_name = "column_values.valid_personal_id"
    condition_value_keys = ("prefixes",)
    # NULL rows are passed in and reported as valid (see the module docstring).
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, prefixes: list[str] | None = None, **kwargs: object) -> pd.Series:
        allowed = prefixes if prefixes is not None else cccd_province_prefixes()
        return personal_id_is_valid(column, allowed) | column.isna().to_numpy()


class ExpectColumnValuesToBeValidPersonalId(ColumnMapExpectation):
    """Expect column values to be structurally valid 12-digit personal ID numbers (CCCD).

    A value passes when it is exactly twelve ASCII digits and its first three digits are one of
    the province prefixes of the pre-2025 63-province list (DOMAIN §7.1, packaged as
    ``transforms/data/cccd_province_prefixes.csv``). The fourth digit (century and sex) is a
    digit 0–9 by construction. There is deliberately **no check digit**: none is published.
    NULLs are ignored.

    Args:
        column: The column to check.
        prefixes: Allowed three-digit prefixes; ``None`` means the packaged list.
        mostly: Share of non-null values that must pass (default 1.0).
    """

    prefixes: list[str] | None = None

    map_metric: ClassVar[str] = "column_values.valid_personal_id"
    success_keys: ClassVar[tuple[str, ...]] = ("prefixes", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column",)

    library_metadata: ClassVar[dict[str, object]] = {
        "maturity": "experimental",
        "tags": ["pipeline", "personal id", "DOMAIN 7.1"],
        "contributors": ["pipeline team"],
    }


class ColumnPairValuesAAtMostUnlessB(ColumnPairMapMetricProvider):
    """Row-level metric: ``A <= max_value``, or A is NULL, or B is True."""

    condition_metric_name = "column_pair_values.a_at_most_unless_b"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_A",
        "column_B",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("max_value",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, max_value: float, **kwargs: object) -> pd.Series:
        exempt = column_B.eq(True).fillna(False).to_numpy(dtype=bool)
        within = column_A.le(max_value).fillna(False).to_numpy(dtype=bool)
        return pd.Series(within | exempt | column_A.isna().to_numpy(), index=column_A.index)


class ExpectColumnPairValuesAToBeAtMostUnlessB(ColumnPairMapExpectation):
    """Expect column A to be at most ``max_value`` on every row where column B is not True.

    Rows where A is NULL pass (nothing to compare); rows where B is NULL are checked (B must be
    explicitly True to exempt a row). Used for B2: ``issue_lag_days <= max`` unless
    ``is_reissue`` — a re-issue keeps the original code and may come long after the birth.

    Args:
        column_A: The value column.
        column_B: The exemption flag column (boolean).
        max_value: Inclusive upper bound for A.
        ignore_row_if: GX's pair NULL handling; keep ``"neither"`` (NULLs are handled as above).
        mostly: Share of rows that must pass (default 1.0).
    """

    max_value: float
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "neither"

    map_metric: ClassVar[str] = "column_pair_values.a_at_most_unless_b"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "max_value", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "max_value")

    library_metadata: ClassVar[dict[str, object]] = {
        "maturity": "experimental",
        "tags": ["pipeline", "DOMAIN 3.4 B2"],
        "contributors": ["pipeline team"],
    }


class ColumnPairValuesAWithinBoundsForB(ColumnPairMapMetricProvider):
    """Row-level metric: A within ``bounds[B]``; NULLs and unbounded B pass."""

    condition_metric_name = "column_pair_values.a_within_bounds_for_b"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_A",
        "column_B",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("bounds",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, bounds: dict, **kwargs: object) -> pd.Series:
        return pd.Series(within_bounds_for(column_A, column_B, bounds), index=column_A.index)


class ExpectColumnPairValuesAToBeWithinBoundsForB(ColumnPairMapExpectation):
    """Expect column A within the ``[min, max]`` bounds that the row's column B value selects.

    Rows with A NULL, B NULL or a B value without bounds pass. One kind carries K2 (age at least
    the class minimum), K3 (a drug test for group-3 classes: ``drug_tested`` >= 1) and K4 (a fit
    conclusion needs a negative test: ``drug_test_positive`` <= 0).

    Args:
        column_A: The numeric value column.
        column_B: The selector column (e.g. a licence class).
        bounds: B value -> ``[min, max]`` (inclusive; ``None`` = open end).
        ignore_row_if: keep ``"neither"`` (NULLs are handled by the metric).
        mostly: Share of rows that must pass (default 1.0).
    """

    bounds: dict[str, list[float | None]]
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "neither"

    map_metric: ClassVar[str] = "column_pair_values.a_within_bounds_for_b"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "bounds", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "bounds")

    library_metadata: ClassVar[dict[str, object]] = {
        "maturity": "experimental",
        "tags": ["pipeline", "DOMAIN 5.5 K2 K3 K4"],
        "contributors": ["pipeline team"],
    }

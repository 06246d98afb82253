"""Run a dataset's suite on a validation frame and turn the results into row-level findings.

Design (the measurements behind it are in ``expectations/README.md``):

* One ephemeral GX data context per process, created on first use and reused; suites are built
  once per (dataset, options) and cached.
* One ``validate()`` call per chunk with the whole suite, on a *narrow* frame built by
  :func:`validation_view`: only the columns the suite reads, in representations that keep GX
  vectorised and make its frame copies cheap (see that function).
* GX's batch fingerprint (``pd.util.hash_pandas_object`` over the whole frame, computed on every
  batch load for frames under 1 GB) is switched off while our batches load: it is metadata that
  nothing reads, and it was the largest single cost.
* Privacy: GX's ``COMPLETE`` result format returns the failing *values*. We ask GX to leave them
  out (``exclude_unexpected_values``), read only ``unexpected_index_list`` (row positions) and
  counts, and drop the GX result before returning. Findings and the summary carry positions,
  rule metadata and counts only. Columns that are only checked for presence (e.g. the mother's
  name) reach GX as a 1/NULL indicator, never as values.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core.batch_definition import BatchDefinition

#: The cheapest result format that still returns every failing row position. ``COMPLETE`` is the
#: only format whose ``unexpected_index_list`` is not cut to ``partial_unexpected_count``
#: (``SUMMARY`` returns ``partial_unexpected_index_list`` only, ``BASIC``/``BOOLEAN_ONLY`` no
#: positions). The other keys keep failing values out of the result and skip building the
#: per-value counts and the index-query string. GX still *computes* the failing values
#: internally for ``COMPLETE``; they never leave :func:`_run_suite`.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
    "include_unexpected_rows": False,
}

_NOT_NULL = "expect_column_values_to_not_be_null"
_PAIR_EQUAL = "expect_column_pair_values_to_be_equal"
_IN_SET = ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set")
_DATASOURCE_NAME = "pipeline_validation_frames"

_LOCK = threading.RLock()
_CONTEXT: Any = None
_BATCH_DEFINITIONS: dict[str, BatchDefinition] = {}
_SUITES: dict[tuple[str, Any], _PreparedSuite] = {}
#: Suites kept per process (one per distinct options set, e.g. per facility override).
SUITE_CACHE_SIZE = 64


@dataclass(frozen=True)
class Finding:
    """One row-level finding. It never carries a value from the data.

    Attributes:
        row: Position of the row in the validation frame (0-based).
        rule_id: Rule id from DOMAIN.md, e.g. ``"B7"``, or ``"REQ"`` for a missing required field.
        severity: ``"error"`` (quarantine the row) or ``"warning"`` (flag it, still load).
        category: ``"conformance"``, ``"completeness"`` or ``"plausibility"``.
        expectation: GX expectation type, e.g. ``"expect_column_values_to_be_in_set"``.
        column: The column checked (for pair expectations the first column, unless the rule
            names the column to report in its meta).
        reason: Fixed text from the suite meta; it names thresholds, never data values.
    """

    row: int
    rule_id: str
    severity: str
    category: str
    expectation: str
    column: str
    reason: str


class ValidationEngineError(RuntimeError):
    """GX could not evaluate one or more expectations (a bug or a schema drift, not bad data)."""


@dataclass
class FramePlan:
    """How :func:`validation_view` represents each column a suite reads.

    Attributes:
        columns: Columns the suite reads, in first-use order.
        presence_only: Columns only checked for NULL: passed as a float 1.0/NaN indicator.
        categorical_groups: Groups of string columns passed as categoricals; the columns of one
            group share one category set so that pair equality compares them correctly.
    """

    columns: list[str]
    presence_only: set[str] = field(default_factory=set)
    categorical_groups: list[list[str]] = field(default_factory=list)


@dataclass
class _PreparedSuite:
    suite: gx.ExpectationSuite
    plan: FramePlan


def dataset_module(dataset: str) -> Any:
    """Return the compiled suite of a dataset (``SUITE_NAME``, ``resolve_options``, ``build_suite``,
    ``COLUMN_KINDS``), found through the dataset registry (``config/datasets/*.yaml``).

    Args:
        dataset: Dataset name, e.g. ``"birth_certificates"``.

    Raises:
        ValueError: If no contract declares the dataset.
    """
    # integration(datasets): suites are compiled from the contracts' rules (no module per dataset)
    from expectations.compile import compiled

    return compiled(dataset)


def build_suite(dataset: str = "birth_certificates", options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
    """Build a dataset's expectation suite (a new object on every call).

    Args:
        dataset: Dataset name.
        options: Overrides for the dataset's ``DEFAULT_OPTIONS``.

    Returns:
        The ``gx.ExpectationSuite``, not attached to any data context.

    Raises:
        ValueError: On an unknown dataset or bad options.
    """
    return dataset_module(dataset).build_suite(options)


def validate_frame(
    df: pd.DataFrame,
    dataset: str = "birth_certificates",
    options: Mapping[str, Any] | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Validate a normalized validation frame and report which rows break which rule.

    Args:
        df: The validation frame (one row per received record). Rows are reported by position,
            whatever the index. Extra columns are ignored.
        dataset: Dataset name.
        options: Overrides for the dataset's ``DEFAULT_OPTIONS``.

    Returns:
        ``(findings, summary)``. ``findings`` are ordered by row, then by suite order.
        ``summary`` is ``{"rows", "expectation_count", "evaluated", "success_count",
        "per_rule": {rule_id: unexpected_count}}`` — counts only, safe for logs and XCom.

    Raises:
        ValueError: If the frame lacks columns the suite reads, a column has the wrong kind of
            dtype, or on bad options.
        ValidationEngineError: If GX fails to evaluate an expectation.
    """
    module = dataset_module(dataset)
    check_column_kinds(df, getattr(module, "COLUMN_KINDS", {}))
    key = (dataset, _freeze(module.resolve_options(options)))
    with _LOCK:
        prepared = _SUITES.pop(key, None)
        if prepared is None:
            suite = module.build_suite(options)
            prepared = _PreparedSuite(suite, plan_frame(suite))
        _SUITES[key] = prepared  # most recently used last
        while len(_SUITES) > SUITE_CACHE_SIZE:
            del _SUITES[next(iter(_SUITES))]
    return _run_suite(validation_view(df, prepared.plan), prepared.suite, dataset)


def validate_with_suite(
    df: pd.DataFrame, suite: gx.ExpectationSuite, dataset: str = "adhoc"
) -> tuple[list[Finding], dict[str, Any]]:
    """Validate a frame against any suite whose expectations carry our ``meta`` block.

    Used by tests (single custom expectations) and ad-hoc checks; the pipeline calls
    :func:`validate_frame`.

    Args:
        df: The frame; every column the suite reads must be present.
        suite: The suite.
        dataset: Name of the GX data asset to use (one per name, reused).

    Returns:
        ``(findings, summary)`` as for :func:`validate_frame`.
    """
    return _run_suite(validation_view(df, plan_frame(suite)), suite, dataset)


def check_column_kinds(df: pd.DataFrame, kinds: Mapping[str, str]) -> None:
    """Check that each contracted column present in ``df`` has the expected kind of dtype.

    Args:
        df: The validation frame.
        kinds: Column → ``"string"`` | ``"datetime"`` | ``"integer"`` | ``"number"`` | ``"boolean"``.

    Raises:
        ValueError: Naming each offending column and its dtype (never a value).
    """
    import pandas as pd

    api = pd.api.types
    accepts = {
        "string": lambda s: api.is_string_dtype(s.dtype) and api.infer_dtype(s, skipna=True) in ("string", "empty"),
        "datetime": api.is_datetime64_any_dtype,
        "integer": lambda s: api.is_integer_dtype(s) and not api.is_bool_dtype(s),
        "number": lambda s: api.is_numeric_dtype(s) and not api.is_bool_dtype(s),
        "boolean": api.is_bool_dtype,
    }
    wrong = [
        f"{name} ({df[name].dtype}, expected {kind})"
        for name, kind in kinds.items()
        if name in df.columns and not accepts[kind](df[name])
    ]
    if wrong:
        raise ValueError(f"validation frame columns have the wrong dtype: {wrong}")


def plan_frame(suite: gx.ExpectationSuite) -> FramePlan:
    """Work out which columns a suite reads and how to represent them.

    Args:
        suite: The suite.

    Returns:
        The :class:`FramePlan`.
    """
    uses: dict[str, set[str]] = {}
    pairs: list[tuple[str, str]] = []
    for expectation in suite.expectations:
        kind = expectation.expectation_type
        kwargs = expectation.configuration.kwargs
        named = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        named += list(kwargs.get("column_list") or ())
        if getattr(expectation, "row_condition", None) is not None:
            raise ValueError("row conditions are not supported by the runner's narrow frame")
        for name in named:
            uses.setdefault(name, set()).add(kind)
        if kind == _PAIR_EQUAL:
            pairs.append((kwargs["column_A"], kwargs["column_B"]))
    plan = FramePlan(columns=list(uses))
    plan.presence_only = {name for name, kinds in uses.items() if kinds == {_NOT_NULL}}
    # String columns compared for equality or against a value set have few distinct values:
    # categoricals make GX's frame copies much cheaper. Pair-linked columns share categories.
    wanted = {
        name for name, kinds in uses.items() if kinds - {_NOT_NULL} <= {_PAIR_EQUAL, *_IN_SET}
    } - plan.presence_only
    groups: dict[str, set[str]] = {name: {name} for name in wanted}
    for a, b in pairs:
        if a in groups and b in groups and groups[a] is not groups[b]:
            merged = groups[a] | groups[b]
            for name in merged:
                groups[name] = merged
        elif (a in groups) != (b in groups):  # one side is not a candidate: neither can be
            for name in groups.pop(a, set()) | groups.pop(b, set()):
                groups.pop(name, None)
    seen: set[int] = set()
    for name in plan.columns:
        group = groups.get(name)
        if group is not None and id(group) not in seen:
            seen.add(id(group))
            plan.categorical_groups.append([c for c in plan.columns if c in group])
    return plan


def validation_view(df: pd.DataFrame, plan: FramePlan) -> pd.DataFrame:
    """Build the narrow, positional frame GX validates.

    Values are represented so that every check means the same as on ``df``, while GX stays
    vectorised and its whole-frame copies (one per metric on every column that has NULLs) stay
    cheap:

    * nullable numbers (``Int64``, ``Float64``) become ``float64`` with NaN for NULL — GX's
      between-check runs a per-row Python function on extension dtypes; integers of this size
      are exact in float64;
    * string columns only compared for equality / set membership become categoricals (shared
      categories within pair-linked columns); other strings, booleans and datetimes stay as they
      are;
    * columns only checked for presence become a 1.0/NaN indicator;
    * the index becomes a ``RangeIndex``, so GX's row indexes are positions.

    Args:
        df: The validation frame.
        plan: The suite's :class:`FramePlan`.

    Returns:
        A new frame with exactly ``plan.columns``.

    Raises:
        ValueError: If ``df`` lacks columns the suite reads.
    """
    import numpy as np
    import pandas as pd

    missing = [name for name in plan.columns if name not in df.columns]
    if missing:
        raise ValueError(f"validation frame lacks columns the suite reads: {missing}")
    data: dict[str, Any] = {}
    for name in plan.columns:
        column = df[name]
        dtype = column.dtype
        if name in plan.presence_only:
            data[name] = np.where(column.isna().to_numpy(), np.nan, 1.0)
        elif (
            isinstance(dtype, pd.api.extensions.ExtensionDtype)
            and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
        ):
            data[name] = column.to_numpy(dtype="float64", na_value=np.nan)
        else:
            data[name] = column.array
    for group in plan.categorical_groups:
        if not all(pd.api.types.is_string_dtype(df[name].dtype) for name in group):
            continue
        # One factorisation over the group's columns gives them a shared category set.
        codes, categories = pd.factorize(pd.concat([df[name] for name in group], ignore_index=True))
        for n, name in enumerate(group):
            part = codes[n * len(df) : (n + 1) * len(df)]
            data[name] = pd.Categorical.from_codes(part, categories=pd.Index(categories))
    return pd.DataFrame(data, index=pd.RangeIndex(len(df)))


# --------------------------------------------------------------------------------------------
# internals


def _freeze(value: Any) -> Any:
    """Make an options value hashable for the suite cache."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((_freeze(v) for v in value), key=repr))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _batch_definition(dataset: str) -> BatchDefinition:
    """Return the whole-dataframe batch definition of a dataset (context created on first use)."""
    global _CONTEXT
    with _LOCK:
        batch_definition = _BATCH_DEFINITIONS.get(dataset)
        if batch_definition is not None:
            return batch_definition
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        if _CONTEXT is None:
            context = gx.get_context(mode="ephemeral")
            # tqdm bars would write to the task log for every chunk.
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            context.data_sources.add_pandas(_DATASOURCE_NAME)
            _CONTEXT = context
        asset = _CONTEXT.data_sources.get(_DATASOURCE_NAME).add_dataframe_asset(name=dataset)
        batch_definition = asset.add_batch_definition_whole_dataframe(f"{dataset}_frame")
        _BATCH_DEFINITIONS[dataset] = batch_definition
        return batch_definition


@contextlib.contextmanager
def _without_batch_fingerprint() -> Iterator[None]:
    """Skip GX's whole-frame fingerprint while our batches load.

    ``PandasExecutionEngine.get_batch_data_and_markers`` hashes every batch whose
    ``memory_usage()`` is below the module constant ``HASH_THRESHOLD`` (1e9 bytes) with
    ``pd.util.hash_pandas_object`` and stores the digest as the batch marker
    ``pandas_data_fingerprint``; ``get_batch()`` and ``validate()`` each load the batch, so the
    frame is hashed twice. Nothing in GX 1.24.1 reads the marker back, so a threshold of 0 only
    drops a metadata field. The previous value is restored afterwards; callers hold ``_LOCK``.
    If a GX upgrade removes the constant, this does nothing and validation gets slower, not wrong.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if not hasattr(engine, "HASH_THRESHOLD"):
        yield
        return
    previous = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = previous


def _run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite, dataset: str) -> tuple[list[Finding], dict[str, Any]]:
    """Validate ``frame`` with ``suite`` in one call and strip the result to positions."""
    batch_definition = _batch_definition(dataset)
    with _LOCK, _without_batch_fingerprint():
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        suite_result = batch.validate(suite, result_format=RESULT_FORMAT)
    try:
        return _strip(suite_result, suite, row_count=len(frame))
    finally:
        # Drop GX's objects (the result holds failing values, the batch holds the frame).
        del suite_result, batch


def _strip(suite_result: Any, suite: gx.ExpectationSuite, row_count: int) -> tuple[list[Finding], dict[str, Any]]:
    """Turn a GX suite result into findings and a count-only summary.

    Only ``success``, ``exception_info["raised_exception"]``, ``unexpected_count``,
    ``unexpected_index_list`` and the expectation's own configuration (type, column names, meta)
    are read; every other result field is ignored.
    """
    order = {_config_key(e.configuration): n for n, e in enumerate(suite.expectations)}
    ordered: list[tuple[int, int, Finding]] = []
    per_rule: Counter[str] = Counter({str((e.meta or {}).get("rule_id", "UNSET")): 0 for e in suite.expectations})
    failed_to_run: list[str] = []
    success_count = 0
    for result in suite_result.results:
        config = result.expectation_config
        meta = config.meta or {}
        rule_id = str(meta.get("rule_id", "UNSET"))
        if (result.exception_info or {}).get("raised_exception"):
            # The exception text may quote data; report only which expectation failed to run.
            failed_to_run.append(f"{rule_id}:{config.type}")
            continue
        raw = result.result or {}
        positions = raw.get("unexpected_index_list") or []
        unexpected_count = int(raw.get("unexpected_count") or 0)
        if len(positions) != unexpected_count:
            failed_to_run.append(f"{rule_id}:{config.type} (incomplete index list)")
            continue
        success_count += bool(result.success)
        per_rule[rule_id] += unexpected_count
        kwargs = config.kwargs
        column = str(meta.get("column") or kwargs.get("column") or kwargs.get("column_A") or "")
        rank = order.get(_config_key(config), len(order))
        for position in positions:
            finding = Finding(
                row=int(position),
                rule_id=rule_id,
                severity=str(meta.get("severity", "error")),
                category=str(meta.get("category", "")),
                expectation=str(config.type),
                column=column,
                reason=str(meta.get("reason", "")),
            )
            ordered.append((finding.row, rank, finding))
    if failed_to_run:
        raise ValidationEngineError(f"expectations could not be evaluated: {failed_to_run}")
    ordered.sort(key=lambda item: item[:2])
    summary = {
        "rows": row_count,
        "expectation_count": len(suite.expectations),
        "evaluated": int(suite_result.statistics.get("evaluated_expectations", 0)),
        "success_count": success_count,
        "per_rule": dict(per_rule),
    }
    return [finding for _, _, finding in ordered], summary


def _config_key(config: Any) -> tuple[str, str, str]:
    """Identify an expectation across GX's copies of its configuration (type, column, reason)."""
    meta = config.meta or {}
    kwargs = config.kwargs
    column = str(kwargs.get("column") or kwargs.get("column_A") or "")
    return (str(config.type), column, str(meta.get("reason", "")))

"""Run a dataset's suite on a validation frame and turn the results into row-level findings.

Design (the measurements behind it are in ``expectations/README.md``):

* One ephemeral GX data context per process, created on first use and reused; suites are built
  once per (dataset, options) and cached.
* One ``validate()`` call per chunk with the whole suite, on a *narrow* frame built by
  :func:`validation_view`: only the columns the suite reads, in representations that keep GX
  vectorised and make its frame copies cheap (see that function).
* GX's batch fingerprint (``pd.util.hash_pandas_object`` over the whole frame, computed on every
  batch load for frames under 1 GB) is switched off while our batches load: it is metadata that
  nothing reads, and it was the largest single cost. Two pure functions GX recomputes dozens of
  times per expectation while building the metric graph are memoised for the call
  (:mod:`expectations.gx_shims`): about a third of a small batch's validation.
* Privacy: GX's ``COMPLETE`` result format returns the failing *values*. We ask GX to leave them
  out (``exclude_unexpected_values``), read only ``unexpected_index_list`` (row positions) and
  counts, and drop the GX result before returning. Findings and the summary carry positions,
  rule metadata and counts only. Columns that are only checked for presence (e.g. the mother's
  name) reach GX as a 1/NULL indicator, never as values.
* Results kept: every call writes one compact JSON of *statistics* (per expectation: rule id,
  severity, success, element / unexpected / missing counts; never a value or a row position) into
  the environment's file-backed GX project (:func:`gx_root`), about a millisecond per call. The
  batch runner names the run (:func:`begin_validation_run`), so a re-run replaces its files.
  :func:`build_data_docs` (the report step) turns them into GX validation results and Data Docs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expectations.gx_shims import graph_memos

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

def _switched_on(name: str, default: str = "on") -> bool:
    """An on/off environment switch: ``0``, ``off``, ``false`` or ``no`` turn it off."""
    return os.environ.get(name, default).strip().lower() not in ("0", "off", "false", "no")


#: Memoise GX's graph-building recomputations and keep a suite's metric graph between calls
#: (:mod:`expectations.gx_shims`). ``S06_GX_SHIMS=off`` runs GX's own code paths (slower, same
#: findings), for a GX upgrade under suspicion; the parity test turns it off to compare.
GRAPH_MEMOS = _switched_on("S06_GX_SHIMS")

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
    with _LOCK, _without_batch_fingerprint(), graph_memos(enabled=GRAPH_MEMOS):
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        suite_result = batch.validate(suite, result_format=RESULT_FORMAT)
    try:
        stripped = _strip(suite_result, suite, row_count=len(frame))
        _persist_statistics(dataset, suite, suite_result, row_count=len(frame))
        return stripped
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


# --------------------------------------------------------------------------------------------
# validation statistics and Data Docs (the environment's file-backed GX project)

#: Format tag of the statistics files (bump when their shape changes).
STATISTICS_FORMAT = "s06.validation_statistics.v1"
#: Folder of the statistics files inside the GX project (``<root>/gx/``): ``uncommitted/`` is GX's
#: own place for run artefacts (validation results, Data Docs) that are not reviewed configuration.
STATISTICS_DIR = Path("gx") / "uncommitted" / "s06_statistics"
#: Result keys copied into the statistics: counts only. ``unexpected_list``,
#: ``partial_unexpected_*`` and ``unexpected_index_list`` (values and row positions) never are.
_STATISTIC_KEYS = ("element_count", "unexpected_count", "missing_count")


@dataclass
class _ValidationRun:
    label: str
    dataset: str
    night: str
    calls: int = 0


_RUN: ContextVar[_ValidationRun | None] = ContextVar("s06_validation_run", default=None)
_MADE_DIRS: set[Path] = set()


def environment_name() -> str:
    """The deployment environment (``S06_ENVIRONMENT``, default ``local``)."""
    return re.sub(r"[^0-9A-Za-z_-]", "_", os.environ.get("S06_ENVIRONMENT", "local")) or "local"


def gx_root() -> Path:
    """The environment's file-backed GX project: ``S06_GX_ROOT``, else ``<data root>/gx/<environment>``."""
    from config.settings import load_settings

    explicit = os.environ.get("S06_GX_ROOT")
    return Path(explicit) if explicit else load_settings().data_root / "gx" / environment_name()


def _statistics_enabled() -> bool:
    return _switched_on("S06_GX_STATISTICS")


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]", "_", text)


def _statistics_dir(dataset: str, night: str) -> Path:
    return gx_root() / STATISTICS_DIR / _safe(dataset) / _safe(night)


def begin_validation_run(label: str, dataset: str, night: dt.date | str) -> None:
    """Name the validation calls that follow in this thread/context (one batch, or one shard).

    The statistics of the calls are written as ``<label>.<n>.json`` under the dataset and night;
    beginning the same label again (a re-run of the batch) removes the files of the earlier run,
    as a re-run replaces the batch's quarantine.

    Args:
        label: the run's name, e.g. the batch id ``dataset/facility/night`` (no personal data).
        dataset: the dataset validated.
        night: the local night the data belongs to.
    """
    night_text = night.isoformat() if isinstance(night, dt.date) else str(night)
    _RUN.set(_ValidationRun(label, dataset, night_text))
    if not _statistics_enabled():
        return
    folder = _statistics_dir(dataset, night_text)
    for old in folder.glob(f"{_safe(label)}.*.json") if folder.is_dir() else ():
        old.unlink(missing_ok=True)


def _persist_statistics(dataset: str, suite: Any, suite_result: Any, row_count: int) -> Path | None:
    """Write one call's statistics (counts per expectation; never values or row positions)."""
    if not _statistics_enabled():
        return None
    now = dt.datetime.now(dt.UTC)
    run = _RUN.get()
    if run is None or run.dataset != dataset:
        run = _ValidationRun(f"unlabelled-{os.getpid()}-{threading.get_ident()}", dataset, now.date().isoformat())
        _RUN.set(run)
    run.calls += 1
    expectations = []
    for result in suite_result.results:
        config = result.expectation_config
        meta = config.meta or {}
        raw = result.result or {}
        kwargs = config.kwargs
        expectations.append({
            "type": str(config.type),
            "column": str(kwargs.get("column") or kwargs.get("column_A") or ""),
            "column_b": str(kwargs.get("column_B") or "") or None,
            "rule_id": str(meta.get("rule_id", "UNSET")),
            "severity": str(meta.get("severity", "error")),
            "category": str(meta.get("category", "")),
            "reason": str(meta.get("reason", "")),
            "success": bool(result.success),
            "raised_exception": bool((result.exception_info or {}).get("raised_exception")),
            **{k: (int(raw[k]) if raw.get(k) is not None else None) for k in _STATISTIC_KEYS},
        })
    stats = suite_result.statistics or {}
    record = {
        "format": STATISTICS_FORMAT,
        "environment": environment_name(),
        "label": run.label,
        "call": run.calls,
        "dataset": dataset,
        "night": run.night,
        "suite": str(suite.name),
        "validated_at": now.isoformat(timespec="milliseconds"),
        "rows": row_count,
        "success": bool(suite_result.success),
        "evaluated_expectations": int(stats.get("evaluated_expectations", 0)),
        "successful_expectations": int(stats.get("successful_expectations", 0)),
        "expectations": expectations,
    }
    folder = _statistics_dir(dataset, run.night)
    if folder not in _MADE_DIRS:
        folder.mkdir(parents=True, exist_ok=True)
        _MADE_DIRS.add(folder)
    path = folder / f"{_safe(run.label)}.{run.calls:05d}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_statistics(night: dt.date | str, datasets: list[str] | None = None) -> list[dict[str, Any]]:
    """The statistics records of one night (every dataset, or ``datasets``), in file-name order."""
    night_text = night.isoformat() if isinstance(night, dt.date) else str(night)
    root = gx_root() / STATISTICS_DIR
    out: list[dict[str, Any]] = []
    for ds_dir in sorted(root.iterdir()) if root.is_dir() else ():
        if datasets is not None and ds_dir.name not in datasets:
            continue
        folder = ds_dir / _safe(night_text)
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format") == STATISTICS_FORMAT:
                out.append(record)
    return out


def aggregate_statistics(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sum the night's calls per dataset: one statistics record per dataset, per expectation totals.

    Expectations are matched by (type, column, column_b, rule id, reason); counts are added up.
    """
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        agg = out.setdefault(rec["dataset"], {
            "dataset": rec["dataset"], "suite": rec["suite"], "night": rec["night"], "rows": 0, "calls": 0,
            "labels": set(), "first": rec["validated_at"], "last": rec["validated_at"], "expectations": {}})
        agg["rows"] += rec["rows"]
        agg["calls"] += 1
        agg["labels"].add(rec["label"])
        agg["first"] = min(agg["first"], rec["validated_at"])
        agg["last"] = max(agg["last"], rec["validated_at"])
        for e in rec["expectations"]:
            key = (e["type"], e["column"], e.get("column_b"), e["rule_id"], e["reason"])
            tot = agg["expectations"].setdefault(key, {**{k: e[k] for k in (
                "type", "column", "column_b", "rule_id", "severity", "category", "reason")},
                "element_count": 0, "unexpected_count": 0, "missing_count": 0, "failed_calls": 0, "calls": 0})
            tot["calls"] += 1
            tot["failed_calls"] += 0 if e["success"] else 1
            for k in _STATISTIC_KEYS:
                tot[k] += e.get(k) or 0
    for agg in out.values():
        agg["labels"] = len(agg["labels"])
        agg["expectations"] = list(agg["expectations"].values())
    return out


def _file_context() -> Any:
    """The environment's file-backed GX data context (created on first use)."""
    import great_expectations as gx

    root = gx_root()
    root.mkdir(parents=True, exist_ok=True)
    return gx.get_context(mode="file", project_root_dir=str(root))


def build_data_docs(night: dt.date | str, datasets: list[str] | None = None) -> Path:
    """Store the night's statistics as GX validation results and build Data Docs (report step).

    Every dataset's suite is saved in the file-backed context (its expectations and rule metadata;
    the suites hold code lists and thresholds, never personal data). For each dataset validated
    that night, the per-call statistics are summed into one validation result whose expectation
    results carry only ``element_count``, ``unexpected_count``, ``unexpected_percent`` and
    ``missing_count``; then Data Docs are rebuilt.

    Returns:
        The Data Docs ``index.html``.
    """
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from config.contracts import available_datasets

    night_text = night.isoformat() if isinstance(night, dt.date) else str(night)
    names = datasets or available_datasets()
    # Build every dataset's suite first: that registers the custom expectations the stored
    # suites refer to, before the context reads any of them.
    suites = {ds: build_suite(ds) for ds in available_datasets()}
    context = _file_context()
    configs: dict[str, dict[tuple[str, ...], Any]] = {}
    for ds in names:
        suite = suites[ds]
        with contextlib.suppress(Exception):  # not stored yet (GX raises its own not-found errors)
            context.suites.delete(suite.name)
        context.suites.add(suite)
        by_key: dict[tuple[str, ...], Any] = {}
        for e in suite.expectations:
            c = e.configuration
            meta = c.meta or {}
            column = str(c.kwargs.get("column") or c.kwargs.get("column_A") or "")
            by_key.setdefault((str(c.type), column, str(meta.get("rule_id")), str(meta.get("reason"))), c)
            by_key.setdefault((str(c.type), column, str(meta.get("rule_id"))), c)
        configs[ds] = by_key
    for ds, agg in sorted(aggregate_statistics(read_statistics(night_text, names)).items()):
        results = []
        for e in agg["expectations"]:
            # The suite's own arguments (thresholds, code lists: configuration, not data) so the
            # docs can render each rule; a facility override's exact values are not kept.
            known = configs.get(ds, {})
            suite_config = (known.get((e["type"], e["column"], e["rule_id"], e["reason"]))
                            or known.get((e["type"], e["column"], e["rule_id"])))
            kwargs = dict(suite_config.kwargs) if suite_config is not None else (
                {"column": e["column"]} if not e["column_b"] else {"column_A": e["column"], "column_B": e["column_b"]})
            element = e["element_count"]
            results.append(ExpectationValidationResult(
                success=e["failed_calls"] == 0,
                expectation_config=ExpectationConfiguration(
                    type=e["type"], kwargs=kwargs,
                    meta={k: e[k] for k in ("rule_id", "severity", "category", "reason")}),
                result={"element_count": element, "unexpected_count": e["unexpected_count"],
                        "missing_count": e["missing_count"],
                        "unexpected_percent": 100.0 * e["unexpected_count"] / element if element else 0.0},
            ))
        successful = sum(1 for r in results if r.success)
        # One result per dataset and night, keyed by the night: rebuilding replaces it.
        run_time = dt.datetime.fromisoformat(night_text).replace(tzinfo=dt.UTC)
        run_id = RunIdentifier(run_name=f"{ds}-{night_text}", run_time=run_time)
        validation = ExpectationSuiteValidationResult(
            success=successful == len(results),
            results=results,
            suite_name=agg["suite"],
            statistics={"evaluated_expectations": len(results), "successful_expectations": successful,
                        "unsuccessful_expectations": len(results) - successful,
                        "success_percent": 100.0 * successful / len(results) if results else 100.0},
            meta={"active_batch_definition": {"datasource_name": "s06_pipeline", "data_asset_name": ds,
                                              "batch_definition_name": f"night {night_text}"},
                  "s06": {"night": night_text, "rows": agg["rows"], "calls": agg["calls"], "runs": agg["labels"],
                          "environment": environment_name()},
                  "run_id": run_id},
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=agg["suite"]),
            run_id=run_id, batch_identifier=f"{ds}-{night_text}")
        context.validation_results_store.set(key, validation)
    context.build_data_docs()
    return Path(context.root_directory) / "uncommitted" / "data_docs" / "local_site" / "index.html"

"""The one compiler from a contract's declared rules to a Great Expectations suite.

A rule in ``config/datasets/<dataset>.yaml`` is data (id, kind, columns, severity, category,
message, parameters that may name options); :func:`compile_suite` turns each kind into one GX
expectation carrying the ``meta`` block the runner reads (``rule_id``, ``category``,
``severity``, ``reason``, optionally ``column``):

==============  =======================================================================
kind            expectation
==============  =======================================================================
required        ``expect_column_values_to_not_be_null``
regex           ``expect_column_values_to_match_regex``
in_set          ``expect_column_values_to_be_in_set``
not_in_set      ``expect_column_values_to_not_be_in_set``
range           ``expect_column_values_to_be_between``
pair (equal)    ``expect_column_pair_values_to_be_equal`` (a NULL side is ignored)
date_order      ``expect_column_pair_values_a_to_be_greater_than_b`` (later >= earlier)
max_unless      ``expect_column_pair_values_a_to_be_at_most_unless_b`` (custom)
personal_id     ``expect_column_values_to_be_valid_personal_id`` (custom)
flag, lookup    ``expect_column_values_to_not_be_in_set`` [False] (holds) or [True] (must not)
range_by        ``expect_column_pair_values_a_to_be_within_bounds_for_b`` (custom)
==============  =======================================================================

Importing this module imports neither Great Expectations nor pandas; building a suite does.
:func:`compiled` gives the runner what a hand-written suite module used to: ``SUITE_NAME``,
``DEFAULT_OPTIONS``, ``REQUIRED_COLUMNS``, ``COLUMN_KINDS``, ``resolve_options`` and
``build_suite``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from config.contracts import ContractError, DatasetContract, RuleSpec, available_datasets, load_contract
from expectations.reference import cccd_province_prefixes

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

_EITHER_MISSING: Literal["either_value_is_missing"] = "either_value_is_missing"
#: Value normalisations a set rule may ask for (the derived column compares the same form).
_NORMALIZERS = ("upper_vi",)


def resolve_options(contract: DatasetContract, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contract's option defaults overridden by ``options``; ``prefixes`` options filled in.

    Raises:
        ValueError: (a ``ContractError``) on an unknown option or a value that breaks its spec.
    """
    merged = contract.resolve_options(dict(options or {}))
    for name, spec in contract.options.items():
        if spec.type == "prefixes" and merged[name] is None:
            merged[name] = cccd_province_prefixes()
    return merged


def _param(value: Any, o: Mapping[str, Any]) -> Any:
    """A rule parameter with option references replaced by the option values."""
    if isinstance(value, dict) and "option" in value:
        return o[value["option"]]
    if isinstance(value, dict) and "options" in value:
        return [item for name in value["options"] for item in o[name]]
    return value


def _values(rule: RuleSpec, o: Mapping[str, Any]) -> list[Any]:
    values = list(_param(rule.params["values"], o))
    normalize = rule.params.get("normalize")
    if normalize == "upper_vi":
        from transforms.text import upper_vi_str

        return sorted({upper_vi_str(str(v)) for v in values})
    if normalize is not None:
        raise ContractError(f"rule {rule.id}: normalize must be one of {list(_NORMALIZERS)}")
    return values


def _meta(rule: RuleSpec, o: Mapping[str, Any]) -> dict[str, str]:
    meta = {"rule_id": rule.id, "category": rule.category, "severity": rule.severity,
            "reason": rule.message.format(**o)}
    if rule.report:
        meta["column"] = rule.report
    return meta


def expectation_for(rule: RuleSpec, o: Mapping[str, Any]) -> Expectation:
    """The GX expectation of one rule (``o``: resolved options)."""
    import great_expectations as gx

    from expectations import custom

    E = gx.expectations
    meta = _meta(rule, o)
    kind, cols, p = rule.kind, rule.columns, rule.params
    expectation: Expectation
    if kind == "required":
        expectation = E.ExpectColumnValuesToNotBeNull(column=cols[0], meta=meta)
    elif kind == "regex":
        expectation = E.ExpectColumnValuesToMatchRegex(column=cols[0], regex=_param(p["pattern"], o), meta=meta)
    elif kind == "in_set":
        expectation = E.ExpectColumnValuesToBeInSet(column=cols[0], value_set=_values(rule, o), meta=meta)
    elif kind == "not_in_set":
        expectation = E.ExpectColumnValuesToNotBeInSet(column=cols[0], value_set=_values(rule, o), meta=meta)
    elif kind == "range":
        bounds = {k: _param(p[k], o) for k in ("min", "max") if k in p}
        expectation = E.ExpectColumnValuesToBeBetween(
            column=cols[0], min_value=bounds.get("min"), max_value=bounds.get("max"), meta=meta)
    elif kind == "pair":
        expectation = E.ExpectColumnPairValuesToBeEqual(
            column_A=cols[0], column_B=cols[1], ignore_row_if=_EITHER_MISSING, meta=meta)
    elif kind == "date_order":
        earlier, later = cols
        expectation = E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=later, column_B=earlier, or_equal=True, ignore_row_if=_EITHER_MISSING, meta=meta)
    elif kind == "max_unless":
        expectation = custom.ExpectColumnPairValuesAToBeAtMostUnlessB(
            column_A=cols[0], column_B=p["unless"], max_value=_param(p["max"], o), meta=meta)
    elif kind == "personal_id":
        prefixes = _param(p.get("prefixes"), o)
        expectation = custom.ExpectColumnValuesToBeValidPersonalId(
            column=cols[0], prefixes=list(prefixes if prefixes is not None else cccd_province_prefixes()), meta=meta)
    elif kind in ("flag", "lookup"):
        holds = bool(p.get("holds", True))
        expectation = E.ExpectColumnValuesToNotBeInSet(column=cols[0], value_set=[not holds], meta=meta)
    elif kind == "range_by":
        expectation = custom.ExpectColumnPairValuesAToBeWithinBoundsForB(
            column_A=cols[0], column_B=cols[1], bounds=_bounds(rule, o), meta=meta)
    else:  # pragma: no cover - the contract parser admits only RULE_KINDS
        raise ContractError(f"rule {rule.id}: no compiler for kind {kind!r}")
    expectation.severity = _gx_severity(rule.severity)
    return expectation


def _bounds(rule: RuleSpec, o: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """``range_by`` bounds per selector value: a map option (``min: {option: x}``) gives one bound
    per key; a number applies to every value listed in ``for``."""
    p = rule.params
    low, high = _param(p.get("min"), o), _param(p.get("max"), o)
    if isinstance(low, Mapping):
        return {str(k): [v, None] for k, v in low.items()}
    if isinstance(high, Mapping):
        return {str(k): [None, v] for k, v in high.items()}
    return {str(k): [low, high] for k in _param(p.get("for") or [], o)}


def _gx_severity(severity: str) -> Any:
    from great_expectations.expectations.metadata_types import FailureSeverity

    return {"error": FailureSeverity.CRITICAL, "warning": FailureSeverity.WARNING}[severity]


def compile_suite(contract: DatasetContract, options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
    """Build the dataset's suite from its rules (a new object, not attached to any data context).

    Args:
        contract: the dataset contract.
        options: overrides of the contract's option defaults.

    Raises:
        ValueError: on bad options.
    """
    import great_expectations as gx

    resolved = resolve_options(contract, options)
    return gx.ExpectationSuite(
        name=contract.suite_name,
        expectations=[expectation_for(rule, resolved) for rule in contract.all_rules()],
        meta={"dataset": contract.dataset, "source": contract.rule_source},
    )


@dataclass(frozen=True)
class CompiledDataset:
    """What the runner needs of a dataset's suite (what a hand-written suite module exported)."""

    contract: DatasetContract

    @property
    def SUITE_NAME(self) -> str:
        """The suite name."""
        return self.contract.suite_name

    @property
    def DEFAULT_OPTIONS(self) -> dict[str, Any]:
        """Every option at its contract default."""
        return self.contract.default_options

    @property
    def REQUIRED_COLUMNS(self) -> tuple[str, ...]:
        """Columns REQ checks."""
        return self.contract.required_columns

    @property
    def COLUMN_KINDS(self) -> dict[str, str]:
        """Validation column -> dtype kind."""
        return self.contract.column_kinds

    @property
    def VALIDATION_COLUMNS(self) -> tuple[str, ...]:
        """The validation frame's columns."""
        return self.contract.validation_columns

    def resolve_options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults merged with ``options`` (see :func:`resolve_options`)."""
        return resolve_options(self.contract, options)

    def build_suite(self, options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
        """The compiled suite (see :func:`compile_suite`)."""
        return compile_suite(self.contract, options)


@cache
def compiled(dataset: str) -> CompiledDataset:
    """The compiled suite of a registered dataset.

    Raises:
        ValueError: if no contract declares the dataset.
    """
    if dataset not in available_datasets():
        raise ValueError(f"no expectation suite for dataset {dataset!r}")
    return CompiledDataset(load_contract(dataset))

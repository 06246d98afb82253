"""Dataset contracts (``config/datasets/<dataset>.yaml``) loaded into typed, validated objects.

A contract is the data dictionary, the source mapping and the rule book of one dataset:
canonical columns, their types, personal-data class, what curated Parquet does with them, the tag
that carries each column in every accepted source format, the rules (from a small vocabulary,
compiled into the Great Expectations suite by ``expectations/compile.py``), their options with
defaults, and the dataset's wiring (derivation hook, the column the population database matches
on). The contract files *are* the dataset registry: :func:`available_datasets` discovers them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTRACT_DIR = Path(__file__).resolve().parent / "datasets"

COLUMN_TYPES = frozenset({"string", "code", "id", "name", "text", "date", "datetime", "int", "bool"})
PII_CLASSES = frozenset({"direct", "quasi", "sensitive", "none"})
CURATED_ACTIONS = frozenset({"keep", "pseudonymize", "year", "drop"})

#: The rule vocabulary. Each kind names the parameters it takes (``required`` ones first) and how
#: many columns it checks; ``expectations/compile.py`` turns each kind into one GX expectation.
RULE_KINDS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    # kind:        (columns, required params, optional params)
    "required":    (1, (), ()),                          # value present (generated from `required: true`)
    "regex":       (1, ("pattern",), ()),                # value matches a pattern
    "in_set":      (1, ("values",), ()),                 # value in a code list
    "not_in_set":  (1, ("values",), ()),                 # value not in a list
    "range":       (1, (), ("min", "max")),              # min <= value <= max (inclusive, either end open)
    "pair":        (2, ("op",), ()),                     # column A <op> column B (op: equal)
    "date_order":  (2, (), ()),                          # columns [earlier, later]: earlier <= later
    "max_unless":  (1, ("max", "unless"), ()),           # value <= max unless the `unless` flag is True
    "personal_id": (1, (), ("prefixes",)),               # 12 digits with a known province prefix
    "flag":        (1, (), ("holds",)),                  # a derived flag holds (holds: false = must not be True)
    "lookup":      (1, ("source",), ("holds",)),         # like flag, the flag answered by a lookup outside the batch
    "range_by":    (2, (), ("min", "max", "for")),       # columns [value, selector]: bounds per selector value
}  # fmt: skip
RULE_CATEGORIES = frozenset({"conformance", "completeness", "plausibility"})
RULE_SEVERITIES = frozenset({"error", "warning"})
#: Option types: what a value must be (lists become tuples, maps dicts).
OPTION_TYPES = frozenset({"int", "number", "regex", "list", "map", "prefixes", "date"})
#: Option scopes: ``rules`` options parameterise the compiled suite and may be overridden per
#: facility; ``derivation`` options are keyword arguments of the dataset's hook (set in the contract).
OPTION_SCOPES = frozenset({"rules", "derivation"})
#: How a source format writes dates (see ``SourceFormat.date_style``).
DATE_STYLES = frozenset({"vn", "iso8601"})
#: Kinds of validation-frame columns (the dtype contract the runner checks).
FRAME_KINDS = frozenset({"string", "datetime", "integer", "number", "boolean"})
#: Contract column type -> frame kind (``bool`` columns with a source tag are handed over as 0/1).
_FRAME_KIND_OF_TYPE = {"string": "string", "code": "string", "id": "string", "name": "string", "text": "string",
                       "date": "datetime", "datetime": "datetime", "int": "integer", "bool": "boolean"}


def year_column(name: str) -> str:
    """Name of the derived year column of a date column (``mother_birth_date`` -> ``mother_birth_year``)."""
    return name[: -len("_date")] + "_year" if name.endswith("_date") else name + "_year"


class ContractError(ValueError):
    """A dataset contract is malformed; the message names the file, column and field."""


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column of a dataset."""

    name: str
    type: str
    pii: str
    curated: str
    sources: dict[str, str]
    required: bool = False
    rules: tuple[str, ...] = ()
    width: int | None = None
    year_only_allowed: bool = False
    #: a datetime column whose values must carry the time of day (a date alone is a failure)
    time_required: bool = False
    none_values: tuple[str, ...] = ()
    not_measured_values: tuple[str, ...] = ()
    code_map: dict[str, dict[str, int]] = field(default_factory=dict)
    pseudonym_domain: str | None = None
    parse_rule: str | None = None
    #: what the column means (analyst dictionary, Parquet field metadata)
    description_vi: str = ""
    description_en: str = ""
    #: unit of a measured value (``g``)
    unit: str | None = None
    #: labels of coded values: canonical value (as text) -> (Vietnamese, English)
    values: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: curated Parquet splits the text on this separator into ``list<string>`` (staging keeps text)
    curated_list: str | None = None
    #: curated Parquet adds this column: the ICD-10 chapter of the first listed code
    curated_chapter: str | None = None


@dataclass(frozen=True)
class SourceFormat:
    """A source format a dataset accepts."""

    name: str
    spec_version: str
    reader: str
    suffixes: tuple[str, ...]
    root_tag: str | None = None
    #: take every column's source tag from this other format (an API that serves the same
    #: objects as a file drop, a database table laid out like an XML table)
    columns_as: str | None = None
    #: keyword arguments for the reader (e.g. ``element: GIAYBAOTU``, ``records_key: nhanVien``)
    reader_options: dict[str, Any] = field(default_factory=dict)
    #: how the format writes dates: ``vn`` (the Vietnamese forms, ``transforms.dates``) or
    #: ``iso8601`` (FHIR ``date``/``dateTime``: ``2026-11-21``, ``2026-11-21T09:15:00+07:00``)
    date_style: str = "vn"


@dataclass(frozen=True)
class Cancellation:
    """How a source says "this record is withdrawn": a column and the values that mean it.

    A matching record becomes a tombstone version (``record_status = 'cancelled'``): the key stays
    in staging with its history, the change feed says ``cancel``, curated Parquet drops it.
    """

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class RuleSpec:
    """One declared rule: what it checks, how bad a failure is, and the fixed reason text.

    Attributes:
        id: rule id (DOMAIN.md), e.g. ``B7``; several rules may share an id.
        kind: one of :data:`RULE_KINDS`.
        columns: the columns checked (validation-frame names), in the kind's order.
        severity: ``error`` (quarantine) or ``warning`` (flag, still loads).
        category: ``conformance`` | ``completeness`` | ``plausibility``.
        message: the reason reported with every finding; may name options as ``{option}``,
            never data values.
        params: the kind's parameters; a value may be ``{option: name}`` (one option) or
            ``{options: [a, b]}`` (lists of several options joined).
        report: the column findings are reported on, when not the first checked column.
    """

    id: str
    kind: str
    columns: tuple[str, ...]
    severity: str
    category: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    report: str | None = None


@dataclass(frozen=True)
class OptionSpec:
    """A rule option: its default and what a value must be (checked for overrides too)."""

    name: str
    type: str
    default: Any
    #: smallest allowed value (numbers), or of every value (maps)
    min: float | None = None
    #: another option this one must not exceed (numbers)
    at_most: str | None = None
    #: another option whose list must contain this one's (lists)
    subset_of: str | None = None
    non_empty: bool = False
    #: list items are converted to this type (``int`` or ``str``)
    items: str | None = None
    #: ``rules`` (the suite; overridable per facility) or ``derivation`` (a keyword of the hook)
    scope: str = "rules"


@dataclass(frozen=True)
class DatasetContract:
    """The typed form of ``config/datasets/<dataset>.yaml``."""

    dataset: str
    title: str
    natural_key: tuple[str, ...]
    version_order: tuple[str, ...]
    event_date: str
    partition_by: tuple[str, ...]
    source_formats: dict[str, SourceFormat]
    columns: dict[str, ColumnSpec]
    cancellation: Cancellation | None = None
    #: naive date-times are local wall-clock time in this timezone
    timezone: str = "Asia/Ho_Chi_Minh"
    #: module with the dataset's bespoke derivations (``derive_validation_columns``)
    hook: str = ""
    #: boolean column whose False marks a re-issue/edit that may repeat a key with new content
    first_issue_column: str | None = None
    #: the column holding the personal ID the population database matches on
    match_column: str | None = None
    #: other records look this dataset up by ``match_column`` (cross-record rules): staging
    #: indexes that column
    person_lookups: bool = False
    #: where the rules come from (suite metadata)
    rule_source: str = ""
    #: validation-frame columns that are not contract columns -> frame kind
    derived: dict[str, str] = field(default_factory=dict)
    options: dict[str, OptionSpec] = field(default_factory=dict)
    #: declared rules, in review order (``required`` rules are generated first, see ``all_rules``)
    rules: tuple[RuleSpec, ...] = ()

    @property
    def suite_name(self) -> str:
        """The Great Expectations suite compiled from the rules."""
        return f"{self.dataset}.conformed"

    def required_check_column(self, column: str) -> str:
        """The column REQ checks for a required column: the year when a year-only date is allowed."""
        spec = self.columns[column]
        return year_column(column) if spec.year_only_allowed and spec.type in ("date", "datetime") else column

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns checked for presence (REQ), from the columns' ``required: true``."""
        return tuple(self.required_check_column(n) for n, spec in self.columns.items() if spec.required)

    def all_rules(self) -> tuple[RuleSpec, ...]:
        """REQ for every required column, then the declared rules (the suite's order)."""
        req = tuple(RuleSpec("REQ", "required", (c,), "error", "completeness", f"{c} is missing")
                    for c in self.required_columns)
        return req + self.rules

    def frame_kind(self, column: str) -> str:
        """The dtype kind a validation-frame column must have."""
        if column in self.derived:
            return self.derived[column]
        spec = self.columns[column]
        if spec.type == "bool" and spec.sources:
            return "integer"  # a source flag (caesarean ...) is handed over as 0/1
        return _FRAME_KIND_OF_TYPE[spec.type]

    @property
    def validation_columns(self) -> tuple[str, ...]:
        """The columns the rules read (the validation frame), in first-use order."""
        seen: dict[str, None] = {}
        for rule in self.all_rules():
            for name in rule.columns:
                seen.setdefault(name)
            if rule.kind == "max_unless":
                seen.setdefault(str(rule.params["unless"]))
        return tuple(seen)

    @property
    def column_kinds(self) -> dict[str, str]:
        """Validation column -> frame kind (the runner rejects a frame that disagrees)."""
        return {name: self.frame_kind(name) for name in self.validation_columns}

    def derivation_options(self) -> dict[str, Any]:
        """The hook's keyword options (``scope: derivation``) at their contract values."""
        return {name: value for name, value in self.default_options.items()
                if self.options[name].scope == "derivation"}

    @property
    def default_options(self) -> dict[str, Any]:
        """Every option at its default (lists as tuples, maps as dicts; a new dict each call)."""
        return {name: _option_value(opt, opt.default, f"option {name}") for name, opt in self.options.items()}

    def resolve_options(self, overrides: dict[str, Any] | None = None, where: str | None = None) -> dict[str, Any]:
        """Defaults overridden by ``overrides``, each value checked against its option spec.

        Args:
            overrides: option -> value (e.g. a facility's ``rule_options`` in the registry).
            where: who asks, for messages (e.g. ``facilities.yaml: facilities[3] (code 01929)``).

        Returns:
            A new dict with every option set (lists as tuples, maps as dicts).

        Raises:
            ContractError: naming the dataset and the option at fault.
        """
        label = f"{where}: " if where else ""
        unknown = sorted(set(overrides or {}) - set(self.options))
        if unknown:
            raise ContractError(f"{label}unknown expectation options for {self.dataset}: {unknown} "
                                f"(known: {sorted(self.options)})")
        merged = {**{n: o.default for n, o in self.options.items()}, **(overrides or {})}
        for name, opt in self.options.items():
            merged[name] = _option_value(opt, merged[name], f"{label}option {name} of {self.dataset}")
        for name, opt in self.options.items():
            value = merged[name]
            if opt.at_most and value is not None and merged[opt.at_most] is not None and value > merged[opt.at_most]:
                raise ContractError(f"{label}option {name} must not exceed {opt.at_most}")
            if opt.subset_of and not set(value) <= set(merged[opt.subset_of]):
                raise ContractError(f"{label}option {name} must be a subset of {opt.subset_of}")
        return merged

    def tag_format(self, source_format: str) -> str:
        """The format whose ``sources`` entries name this format's tags (see ``columns_as``)."""
        fmt = self.source_formats.get(source_format)
        return fmt.columns_as if fmt is not None and fmt.columns_as else source_format

    def tag_for(self, column: str, source_format: str) -> str | None:
        """The source tag carrying ``column`` in ``source_format`` (None: not sent)."""
        return self.columns[column].sources.get(self.tag_format(source_format))

    def source_tags(self, source_format: str) -> dict[str, str]:
        """Map source tag -> canonical column for one format."""
        fmt = self.tag_format(source_format)
        return {spec.sources[fmt]: name for name, spec in self.columns.items() if fmt in spec.sources}

    def columns_where(self, **criteria: Any) -> list[str]:
        """Names of the columns whose attributes equal ``criteria`` (e.g. ``pii="direct"``)."""
        return [
            name
            for name, spec in self.columns.items()
            if all(getattr(spec, key) == value for key, value in criteria.items())
        ]


def _option_value(opt: OptionSpec, value: Any, where: str) -> Any:
    """Check and normalise one option value (raises ContractError naming ``where``)."""
    if opt.type == "prefixes" and value is None:
        return None  # the packaged 63-province list (expectations.reference)
    if opt.type in ("list", "prefixes"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise ContractError(f"{where}: must be a list")
        items = tuple(value)
        if opt.items == "int" or opt.type == "prefixes":
            try:
                items = tuple(int(v) for v in items) if opt.items == "int" else tuple(str(v) for v in items)
            except (TypeError, ValueError):
                raise ContractError(f"{where}: items must be {opt.items or 'strings'}") from None
        if opt.non_empty and not items:
            raise ContractError(f"{where}: must not be empty")
        return items
    if opt.type == "map":
        if not isinstance(value, dict):
            raise ContractError(f"{where}: must be a mapping")
        if opt.min is not None and any(not isinstance(v, (int, float)) or v < opt.min for v in value.values()):
            raise ContractError(f"{where}: holds a value below {opt.min:g}")
        return dict(value)
    if opt.type == "date":
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ContractError(f"{where}: must be a date (YYYY-MM-DD)") from None
    if opt.type == "regex":
        if not isinstance(value, str) or not value:
            raise ContractError(f"{where}: must be a regular expression")
        try:
            re.compile(value)
        except re.error:
            raise ContractError(f"{where}: is not a valid regular expression") from None
        return value
    # int / number
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (opt.type == "int" and not isinstance(value, int)):
        raise ContractError(f"{where}: must be {'an integer' if opt.type == 'int' else 'a number'}")
    if opt.min is not None and value < opt.min:
        raise ContractError(f"{where}: must be at least {opt.min:g}")
    return value


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise ContractError(f"{where}: missing field '{key}'")
    return mapping[key]


def parse_contract(raw: dict[str, Any], where: str = "<contract>") -> DatasetContract:
    """Validate a contract mapping and build the typed object.

    Args:
        raw: the parsed YAML.
        where: a label (file name) used in error messages.

    Returns:
        The contract.

    Raises:
        ContractError: naming the column and field that is wrong.
    """
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: top level must be a mapping")
    formats: dict[str, SourceFormat] = {}
    for name, fmt in (_require(raw, "source_formats", where) or {}).items():
        w = f"{where}: source_formats.{name}"
        formats[name] = SourceFormat(
            name=name,
            spec_version=str(_require(fmt, "spec_version", w)),
            reader=str(_require(fmt, "reader", w)),
            suffixes=tuple(_require(fmt, "suffixes", w)),
            root_tag=fmt.get("root_tag"),
            columns_as=fmt.get("columns_as"),
            reader_options=dict(fmt.get("reader_options") or {}),
            date_style=str(fmt.get("date_style", "vn")),
        )
        if formats[name].date_style not in DATE_STYLES:
            raise ContractError(f"{w}: date_style must be one of {sorted(DATE_STYLES)}")
    for name, fmt in formats.items():
        if fmt.columns_as and (fmt.columns_as not in formats or formats[fmt.columns_as].columns_as):
            raise ContractError(f"{where}: source_formats.{name}.columns_as must name another format "
                                "that has its own tags")
    columns: dict[str, ColumnSpec] = {}
    for name, col in (_require(raw, "columns", where) or {}).items():
        w = f"{where}: columns.{name}"
        if not isinstance(col, dict):
            raise ContractError(f"{w}: must be a mapping")
        ctype = _require(col, "type", w)
        if ctype not in COLUMN_TYPES:
            raise ContractError(f"{w}: type '{ctype}' not one of {sorted(COLUMN_TYPES)}")
        pii = _require(col, "pii", w)
        if pii not in PII_CLASSES:
            raise ContractError(f"{w}: pii '{pii}' not one of {sorted(PII_CLASSES)}")
        curated = _require(col, "curated", w)
        if curated not in CURATED_ACTIONS:
            raise ContractError(f"{w}: curated '{curated}' not one of {sorted(CURATED_ACTIONS)}")
        if pii == "direct" and curated not in ("drop", "pseudonymize"):
            raise ContractError(f"{w}: a direct identifier must be dropped or pseudonymized in curated Parquet")
        sources = dict(col.get("sources") or {})
        unknown = set(sources) - set(formats)
        if unknown:
            raise ContractError(f"{w}: sources name unknown formats {sorted(unknown)}")
        description = col.get("description") or {}
        if not isinstance(description, dict) or set(description) - {"vi", "en"}:
            raise ContractError(f"{w}: description must be {{vi: ..., en: ...}}")
        values: dict[str, tuple[str, str]] = {}
        for code, label in (col.get("values") or {}).items():
            if not isinstance(label, dict) or not label.get("vi") or not label.get("en"):
                raise ContractError(f"{w}: values.{code} must be {{vi: ..., en: ...}}")
            values[str(code)] = (str(label["vi"]), str(label["en"]))
        if (col.get("curated_list") or col.get("curated_chapter")) and (ctype not in ("code", "text")
                                                                        or curated != "keep"):
            raise ContractError(f"{w}: curated_list / curated_chapter need a kept code or text column")
        if col.get("time_required") and ctype != "datetime":
            raise ContractError(f"{w}: time_required is for datetime columns")
        columns[name] = ColumnSpec(
            name=name,
            type=ctype,
            pii=pii,
            curated=curated,
            sources=sources,
            required=bool(col.get("required", False)),
            rules=tuple(col.get("rule") or ()),
            width=col.get("width"),
            year_only_allowed=bool(col.get("year_only_allowed", False)),
            time_required=bool(col.get("time_required", False)),
            none_values=tuple(col.get("none_values") or ()),
            not_measured_values=tuple(col.get("not_measured_values") or ()),
            code_map={k: {str(a): int(b) for a, b in v.items()} for k, v in (col.get("code_map") or {}).items()},
            pseudonym_domain=col.get("pseudonym_domain"),
            parse_rule=col.get("parse_rule"),
            description_vi=str(description.get("vi", "")),
            description_en=str(description.get("en", "")),
            unit=col.get("unit"),
            values=values,
            curated_list=col.get("curated_list"),
            curated_chapter=col.get("curated_chapter"),
        )
    natural_key = tuple(_require(raw, "natural_key", where))
    for key in natural_key:
        if key not in columns:
            raise ContractError(f"{where}: natural_key column '{key}' is not a declared column")
    cancellation = None
    if raw.get("cancellation"):
        spec = raw["cancellation"]
        if not isinstance(spec, dict) or spec.get("column") not in columns or not spec.get("values"):
            raise ContractError(f"{where}: cancellation needs 'column' (a declared column) and 'values'")
        cancellation = Cancellation(str(spec["column"]), tuple(str(v) for v in spec["values"]))
    derived = _parse_derived(raw.get("derived") or {}, columns, where)
    options = _parse_options(raw.get("options") or {}, where)
    frame_columns = set(columns) | set(derived)
    rules = tuple(_parse_rule(n, r, frame_columns, options, where) for n, r in enumerate(raw.get("rules") or ()))
    if raw.get("match_column") is not None and raw["match_column"] not in columns:
        raise ContractError(f"{where}: match_column '{raw['match_column']}' is not a declared column")
    if raw.get("person_lookups") and raw.get("match_column") is None:
        raise ContractError(f"{where}: person_lookups needs a match_column (the column that is looked up)")
    contract = DatasetContract(
        dataset=str(_require(raw, "dataset", where)),
        title=str(raw.get("title", "")),
        natural_key=natural_key,
        version_order=tuple(raw.get("version_order") or ()),
        event_date=str(_require(raw, "event_date", where)),
        partition_by=tuple(raw.get("partition_by") or ()),
        source_formats=formats,
        columns=columns,
        cancellation=cancellation,
        timezone=str(raw.get("timezone") or "Asia/Ho_Chi_Minh"),
        hook=str(raw.get("hook") or ""),
        first_issue_column=raw.get("first_issue_column"),
        match_column=raw.get("match_column"),
        person_lookups=bool(raw.get("person_lookups", False)),
        rule_source=str(raw.get("rule_source") or ""),
        derived=derived,
        options=options,
        rules=rules,
    )
    for column in contract.required_columns:
        if column not in columns and column not in derived:
            raise ContractError(f"{where}: required column's check column '{column}' must be declared under derived")
    try:
        contract.resolve_options()
    except ContractError as exc:
        raise ContractError(f"{where}: the option defaults are inconsistent: {exc}") from None
    return contract


def _parse_derived(raw: Any, columns: dict[str, ColumnSpec], where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: derived must map column -> frame kind")
    out: dict[str, str] = {}
    for name, kind in raw.items():
        if kind not in FRAME_KINDS:
            raise ContractError(f"{where}: derived.{name}: kind '{kind}' not one of {sorted(FRAME_KINDS)}")
        if name in columns:
            raise ContractError(f"{where}: derived.{name}: already a contract column")
        out[str(name)] = str(kind)
    return out


def _parse_options(raw: Any, where: str) -> dict[str, OptionSpec]:
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: options must map name -> {{type, default}}")
    out: dict[str, OptionSpec] = {}
    for name, spec in raw.items():
        w = f"{where}: options.{name}"
        if not isinstance(spec, dict) or "default" not in spec:
            raise ContractError(f"{w}: needs 'type' and 'default'")
        otype = _require(spec, "type", w)
        if otype not in OPTION_TYPES:
            raise ContractError(f"{w}: type '{otype}' not one of {sorted(OPTION_TYPES)}")
        unknown = set(spec) - {"type", "default", "min", "at_most", "subset_of", "non_empty", "items", "scope"}
        if unknown:
            raise ContractError(f"{w}: unknown field(s) {sorted(unknown)}")
        out[str(name)] = OptionSpec(
            name=str(name), type=str(otype), default=spec["default"], min=spec.get("min"), at_most=spec.get("at_most"),
            subset_of=spec.get("subset_of"), non_empty=bool(spec.get("non_empty", False)), items=spec.get("items"),
            scope=str(spec.get("scope", "rules")),
        )
        if out[str(name)].scope not in OPTION_SCOPES:
            raise ContractError(f"{w}: scope must be one of {sorted(OPTION_SCOPES)}")
    for opt in out.values():
        for ref in (opt.at_most, opt.subset_of):
            if ref is not None and ref not in out:
                raise ContractError(f"{where}: options.{opt.name} refers to unknown option '{ref}'")
    return out


def _option_refs(value: Any) -> list[str]:
    """Option names a rule parameter refers to (``{option: x}`` / ``{options: [x, y]}``)."""
    if isinstance(value, dict):
        if "option" in value:
            return [str(value["option"])]
        if "options" in value:
            return [str(v) for v in value["options"]]
    return []


def _parse_rule(n: int, raw: Any, frame_columns: set[str], options: dict[str, OptionSpec], where: str) -> RuleSpec:
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: rules[{n}] must be a mapping")
    w = f"{where}: rules[{n}] ({raw.get('id', '?')})"
    kind = _require(raw, "kind", w)
    if kind not in RULE_KINDS:
        raise ContractError(f"{w}: kind '{kind}' not one of {sorted(RULE_KINDS)}")
    n_columns, needed, optional = RULE_KINDS[kind]
    columns = raw.get("columns") if "columns" in raw else [raw.get("column")]
    if not isinstance(columns, list) or len(columns) != n_columns or not all(isinstance(c, str) for c in columns):
        raise ContractError(f"{w}: kind {kind} checks {n_columns} column(s) ('column' or 'columns')")
    for column in columns:
        if column not in frame_columns:
            raise ContractError(f"{w}: column '{column}' is neither a contract column nor declared under derived")
    severity = _require(raw, "severity", w)
    category = _require(raw, "category", w)
    if severity not in RULE_SEVERITIES or category not in RULE_CATEGORIES:
        raise ContractError(f"{w}: severity must be one of {sorted(RULE_SEVERITIES)} and category one of "
                            f"{sorted(RULE_CATEGORIES)}")
    fixed = {"id", "kind", "column", "columns", "severity", "category", "message", "report"}
    params = {k: v for k, v in raw.items() if k not in fixed}
    missing = [p for p in needed if p not in params]
    unknown = sorted(set(params) - set(needed) - set(optional) - {"normalize"})
    if missing or unknown:
        raise ContractError(f"{w}: kind {kind} needs {list(needed)} and may take {list(optional)}; "
                            f"missing {missing}, unknown {unknown}")
    if kind == "range" and "min" not in params and "max" not in params:
        raise ContractError(f"{w}: a range needs 'min' or 'max'")
    if params.get("normalize", "upper_vi") != "upper_vi" or ("normalize" in params and kind not in ("in_set", "not_in_set")):
        raise ContractError(f"{w}: normalize (upper_vi) applies to in_set / not_in_set values only")
    if kind == "pair" and params["op"] != "equal":
        raise ContractError(f"{w}: pair op must be 'equal'")
    if kind == "max_unless" and params["unless"] not in frame_columns:
        raise ContractError(f"{w}: unless column '{params['unless']}' is not a frame column")
    for value in params.values():
        for ref in _option_refs(value):
            if ref not in options:
                raise ContractError(f"{w}: refers to unknown option '{ref}'")
    message = str(_require(raw, "message", w))
    try:
        message.format(**{name: "" for name in options})
    except (KeyError, IndexError, ValueError):
        raise ContractError(f"{w}: message may name options only, as {{option}}") from None
    report = raw.get("report")
    if report is not None and not isinstance(report, str):
        raise ContractError(f"{w}: report must be a column name")
    return RuleSpec(id=str(_require(raw, "id", w)), kind=str(kind), columns=tuple(columns), severity=str(severity),
                    category=str(category), message=message, params=params, report=report)


@cache
def load_contract(dataset: str) -> DatasetContract:
    """Load ``config/datasets/<dataset>.yaml``.

    Raises:
        ContractError: if the file is missing or malformed.
    """
    path = CONTRACT_DIR / f"{dataset}.yaml"
    if not path.is_file():
        raise ContractError(f"no contract for dataset '{dataset}' (expected {path})")
    with path.open(encoding="utf-8") as fh:
        return parse_contract(yaml.safe_load(fh), where=path.name)


def available_datasets() -> list[str]:
    """Datasets that have a contract file."""
    return sorted(p.stem for p in CONTRACT_DIR.glob("*.yaml"))


def render_dictionary(contract: DatasetContract) -> str:
    """The contract as a Markdown data dictionary (``docs/data_dictionary/<dataset>.md``)."""
    formats = list(contract.source_formats)
    lines = [
        f"# Data dictionary: `{contract.dataset}`",
        "",
        f"{contract.title}. Generated from `config/datasets/{contract.dataset}.yaml` by "
        f"`python -m config.contracts {contract.dataset}`; do not edit by hand.",
        "",
        f"Natural key: `{', '.join(contract.natural_key)}`. Event date: `{contract.event_date}`. "
        f"Curated partitions: `{', '.join(contract.partition_by)}`.",
        "",
        "Source formats: " + "; ".join(
            f"`{f.name}` ({f.spec_version})" for f in contract.source_formats.values()
        ) + ".",
        "",
        "| column | type | required | personal data | curated Parquet | rules | " + " | ".join(f"`{f}`" for f in formats) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(formats),
    ]
    for name, spec in contract.columns.items():
        curated = {"keep": "kept", "pseudonymize": f"`{name}_pseudonym` (HMAC, domain `{spec.pseudonym_domain or name}`)",
                   "year": "year only", "drop": "dropped"}[spec.curated]
        tags = " | ".join(f"`{contract.tag_for(name, f)}`" if contract.tag_for(name, f) else "—" for f in formats)
        lines.append(
            f"| `{name}` | {spec.type}{f' ({spec.width})' if spec.width else ''} | {'yes' if spec.required else ''} | "
            f"{spec.pii} | {curated} | {', '.join(spec.rules)} | {tags} |"
        )
    return "\n".join(lines) + "\n" + render_rules(contract)


def _describe(value: Any) -> str:
    if isinstance(value, dict) and "option" in value:
        return f"`{value['option']}`"
    if isinstance(value, dict) and "options" in value:
        return " + ".join(f"`{v}`" for v in value["options"])
    return f"`{value}`"


def render_rules(contract: DatasetContract) -> str:
    """The contract's rules and options as Markdown (part of the data dictionary)."""
    lines = [
        "",
        f"## Rules (suite `{contract.suite_name}`)",
        "",
        "Compiled into Great Expectations by `expectations/compile.py`. `error` quarantines the record, "
        "`warning` flags it (it still loads). NULL passes every rule but REQ.",
        "",
        "| rule | kind | columns | parameters | severity | category | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in contract.all_rules():
        params = "; ".join(f"{k}: {_describe(v)}" for k, v in rule.params.items())
        columns = ", ".join(f"`{c}`" for c in rule.columns) + (f" (reported as `{rule.report}`)" if rule.report else "")
        reason = rule.message.replace("{{", "{").replace("}}", "}").replace("|", "\\|")
        lines.append(f"| {rule.id} | {rule.kind} | {columns} | {params} | {rule.severity} | {rule.category} | {reason} |")
    if contract.options:
        lines += ["", "Options (defaults; a facility overrides them with `rule_options` in the registry):", "",
                  "| option | type | default |", "|---|---|---|"]
        for name, opt in contract.options.items():
            default = "packaged 63-province list" if opt.type == "prefixes" and opt.default is None else opt.default
            if isinstance(default, (list, tuple)) and len(default) > 12:
                default = f"{len(default)} values: {', '.join(map(str, default[:3]))} ... {default[-1]}"
            text = str(default).replace("|", "\\|")
            lines.append(f"| `{name}` | {opt.type} | `{text}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    for ds in sys.argv[1:] or available_datasets():
        print(render_dictionary(load_contract(ds)), end="")

"""Dataset contracts (``config/datasets/<dataset>.yaml``) loaded into typed, validated objects.

A contract is the data dictionary and the source mapping of one dataset: canonical columns,
their types, personal-data class, what curated Parquet does with them, and the tag that carries
each column in every accepted source format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTRACT_DIR = Path(__file__).resolve().parent / "datasets"

COLUMN_TYPES = frozenset({"string", "code", "id", "name", "text", "date", "datetime", "int", "bool"})
PII_CLASSES = frozenset({"direct", "quasi", "sensitive", "none"})
CURATED_ACTIONS = frozenset({"keep", "pseudonymize", "year", "drop"})


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


@dataclass(frozen=True)
class Cancellation:
    """How a source says "this record is withdrawn": a column and the values that mean it.

    A matching record becomes a tombstone version (``record_status = 'cancelled'``): the key stays
    in staging with its history, the change feed says ``cancel``, curated Parquet drops it.
    """

    column: str
    values: tuple[str, ...]


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
        )
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
    return DatasetContract(
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
    )


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
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    for ds in sys.argv[1:] or available_datasets():
        print(render_dictionary(load_contract(ds)), end="")

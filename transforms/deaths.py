"""Death-notice derivations (DOMAIN.md §4.3, D1–D8; §9 ICD-10; X1 cross-dataset).

Turns the canonical table into the columns the ``death_notices.conformed`` suite checks: code
parts, the date chain birth ≤ admission ≤ death ≤ issue (admission may follow death when the
person died on the way to emergency care), ICD-10 validity on the death date, identity
completeness and the "death already recorded" lookup. Pure Arrow compute.
"""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.compute as pc

from transforms.admin_units import commune_in_province
from transforms.context import LookupContext
from transforms.icd10 import check_codes, resolve_list
from transforms.identity import ID_TYPE_CCCD, cccd_checks, effective_id_type
from transforms.records import code_parts, constant, facility_column, set_columns
from transforms.text import upper_vi_str

SECONDS_PER_DAY = 86400.0
CODE_PATTERN = r"^(?P<seq>\d{5})\.GBT\.(?P<facility>[0-9A-Z]{5})\.(?P<yy>\d{2})$"
#: :data:`CODE_PATTERN` at its fixed width, and where its groups lie (see ``code_parts``).
CODE_LAYOUT = "99999.GBT.ZZZZZ.99"
CODE_GROUPS = {"facility": (10, 15), "yy": (16, 18)}
#: Names that mean "identity unknown" (D8), compared after upper-casing.
UNKNOWN_NAMES = tuple(upper_vi_str(n) for n in ("không rõ", "không xác định", "chưa xác định", "vô danh"))
#: Environment variable naming an ICD-10 code-list CSV (see transforms/icd10.py); unset = WHO 2019.
ICD10_LIST_ENV = "S06_ICD10_LIST"


def _null(n: int, t: pa.DataType | None = None) -> pa.Array:
    return pa.nulls(n, t or pa.string())


def _on_or_before(a: pa.Array, b: pa.Array) -> pa.Array:
    """a <= b on the date part; NULL when either side is unknown."""
    return pc.less_equal(pc.cast(pc.cast(a, pa.timestamp("s")), pa.date32()), pc.cast(pc.cast(b, pa.timestamp("s")), pa.date32()))


def derive_validation_columns(table: pa.Table, facility_code: str | pa.Array, cutoff: dt.datetime,
                              context: LookupContext | None = None) -> pa.Table:
    """Add the derived columns the death-notice suite checks (and the stored derived columns).

    Args:
        table: canonical rows (``config/datasets/death_notices.yaml``).
        facility_code: the batch's facility (the notice code's facility part must equal it).
        cutoff: end of the data interval; no death may be later.
        context: lookups outside the batch (X1); None skips them.
    """
    n = table.num_rows
    code = table.column("notice_code")
    parts = code_parts(code, CODE_PATTERN, CODE_LAYOUT, CODE_GROUPS)
    is_reissue = pc.is_valid(table.column("first_issue_number"))
    issue = table.column("issue_date")
    death = table.column("death_datetime")
    admission = table.column("admission_datetime")
    en_route = pc.fill_null(table.column("died_en_route"), False)

    # D2: birth <= admission (date or year) <= death <= issue; D4 relaxes admission <= death.
    birth_date = table.column("deceased_birth_date")
    birth_year = table.column("deceased_birth_year")
    birth_ok = pc.coalesce(
        _on_or_before(birth_date, pc.coalesce(admission, death)),
        pc.less_equal(birth_year, pc.year(pc.coalesce(admission, death))),
    )
    admission_ok = pc.if_else(en_route, pa.scalar(True), _on_or_before(admission, death))
    issue_ok = _on_or_before(death, issue)
    chain_ok = pc.and_kleene(pc.and_kleene(birth_ok, admission_ok), issue_ok)

    death_day = pc.cast(pc.cast(death, pa.date32()), pa.timestamp("s"))
    lag = pc.divide(pc.cast(pc.subtract(pc.cast(issue, pa.timestamp("s")), death_day), pa.int64()), SECONDS_PER_DAY)

    # Identity (D8) and personal-ID structure (P1).
    id_number = table.column("deceased_id_number")
    id_type = effective_id_type(table.column("id_document_type"), id_number)
    cccd = pc.if_else(pc.fill_null(pc.equal(id_type, ID_TYPE_CCCD), False), id_number, _null(n))
    name_unknown = pc.fill_null(pc.is_in(table.column("deceased_full_name"), value_set=pa.array(UNKNOWN_NAMES)), False)
    identity_known = pc.and_(pc.invert(name_unknown), pc.is_valid(id_number))
    _, female, year_ok = cccd_checks(cccd, birth_year)

    # D5: ICD-10 codes valid on the death date, per the configured list.
    icd = check_codes(table.column("icd10_codes"), pc.cast(death, pa.date32()), table.column("deceased_sex"),
                      resolve_list(os.environ.get(ICD10_LIST_ENV) or None))

    # X1: the person's death is already recorded (registry, or another notice already loaded).
    if context is not None:
        # The registry's own record, or a *different* notice: this notice itself, loaded by an
        # earlier run of the night or re-issued later, is not "already recorded".
        recorded = context.registry_death_dates(cccd)
        other_notice = context.death_notice_codes(cccd)
        other = pc.and_(pc.is_valid(other_notice), pc.not_equal(pc.fill_null(other_notice, ""), pc.fill_null(code, "")))
        already = pc.or_(pc.is_valid(recorded), pc.fill_null(other, False))
        not_recorded = pc.if_else(pc.is_valid(cccd), pc.invert(already), pa.scalar(None, pa.bool_()))
    else:
        not_recorded = _null(n, pa.bool_())

    extra = {
        "code_facility": parts["facility"],
        "code_year": parts["yy"],
        "facility_code": facility_column(facility_code, n),
        "issue_year_2d": pc.if_else(is_reissue, _null(n),
                                    pc.utf8_lpad(pc.cast(pc.remainder(pc.year(issue), 100), pa.string()), 2, "0")),
        "batch_cutoff": constant(cutoff.replace(tzinfo=None), pa.timestamp("s"), n),
        "is_reissue": is_reissue,
        "first_issue": pc.invert(is_reissue),
        "date_chain_ok": chain_ok,
        "issue_lag_days": lag,
        "deceased_cccd": cccd,
        "deceased_cccd_sex_ok": pc.if_else(
            pc.is_in(table.column("deceased_sex"), value_set=pa.array([1, 2], pa.int32())),
            pc.equal(female, pc.equal(table.column("deceased_sex"), 2)), _null(n, pa.bool_())),
        "deceased_cccd_year_ok": year_ok,
        "identity_known": identity_known,
        "commune_in_province": commune_in_province(
            table.column("residence_province_code"), table.column("residence_commune_code"), death
        ),
        "icd10_valid": icd.valid,
        "icd10_usable": icd.usable,
        "icd10_sex_ok": icd.sex_ok,
        "icd10_code_list": icd.list_name,
        "death_not_recorded": not_recorded,
    }
    return set_columns(table, extra)

"""Expectation suite ``death_notices.conformed``: row-level rules for death notices.

Runs on the validation frame built by ``transforms/deaths.py``. Rules (DOMAIN.md §4.3, §9):

* ``REQ`` required fields (error); ``CODE`` coded values (error);
* ``D1`` notice code ``NNNNN.GBT.FFFFF.YY``, facility part = issuing facility, YY = issue year
  for first issues (error);
* ``D2`` date chain birth ≤ admission ≤ death ≤ issue, admission after death allowed when the
  person died en route (``D4``) (error);
* ``D3`` death after the batch cut-off (error); issue more than N days after death, unless a
  re-issue (warning);
* ``D5`` ICD-10 codes not in the configured list for the death date or flagged "do not use"
  (error); a sex-specific code contradicting the recorded sex (warning);
* ``D7`` a second first issue of the same code with different content (error);
* ``D8`` unknown identity: allowed, flagged for a later merge (warning);
* ``P1`` the deceased's personal ID: 12 digits with a known province prefix (error), sex and
  year digits consistent (warning); ``A3`` commune in province (error);
* ``X1`` cross-dataset: the person's death is already recorded (warning).

Importing this module does not import Great Expectations; :func:`build_suite` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from expectations.common import merge_options, meta, with_gx_severity
from expectations.reference import cccd_province_prefixes

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

DATASET = "death_notices"
SUITE_NAME = "death_notices.conformed"

REQUIRED_COLUMNS: tuple[str, ...] = (
    "notice_code",
    "deceased_full_name",
    "deceased_birth_year",
    "deceased_sex",
    "admission_datetime",
    "death_datetime",
    "issue_date",
    "issuing_facility_code",
)

COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(("notice_code", "code_facility", "code_year", "facility_code", "issue_year_2d",
                     "issuing_facility_code", "deceased_full_name", "deceased_ethnicity_code", "id_document_type",
                     "deceased_cccd"), "string"),
    **dict.fromkeys(("admission_datetime", "death_datetime", "issue_date", "batch_cutoff"), "datetime"),
    **dict.fromkeys(("deceased_sex", "deceased_birth_year"), "integer"),
    "issue_lag_days": "number",
    **dict.fromkeys(("is_reissue", "date_chain_ok", "deceased_cccd_sex_ok", "deceased_cccd_year_ok", "identity_known",
                     "commune_in_province", "icd10_valid", "icd10_usable", "icd10_sex_ok", "duplicate_first_issue",
                     "death_not_recorded"), "boolean"),
}

DEFAULT_OPTIONS: dict[str, Any] = {
    # D1: 18-char notice code (DOMAIN §4.1; official confirmation pending [U]).
    "notice_code_regex": r"^[0-9]{5}\.GBT\.[0-9A-Z]{5}\.[0-9]{2}\Z",
    # D3 (warning): longest delay from death to a first issue, days (DOMAIN §4.3).
    "max_issue_lag_days": 30,
    # CODE: sex (XML130/PL02: 1 male, 2 female, 3 undetermined), ethnicity 01-54 ([U] values),
    # ID document type (PL02 LOAI_GIAYTO 0-4, DOMAIN §7.5 [C-impl]).
    "sex_codes": (1, 2, 3),
    "ethnicity_codes": tuple(f"{code:02d}" for code in range(1, 55)),
    "id_document_types": ("0", "1", "2", "3", "4"),
    # P1: allowed personal-ID prefixes; None = the packaged 63-province list.
    "cccd_province_prefixes": None,
}


def resolve_options(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults merged with overrides (unknown keys rejected)."""
    merged = merge_options(DATASET, DEFAULT_OPTIONS, options)
    if merged["cccd_province_prefixes"] is None:
        merged["cccd_province_prefixes"] = cccd_province_prefixes()
    for key in ("sex_codes", "ethnicity_codes", "id_document_types", "cccd_province_prefixes"):
        merged[key] = tuple(merged[key])
    return merged


def _expectations(o: Mapping[str, Any]) -> list[Expectation]:
    import great_expectations as gx

    from expectations.custom import ExpectColumnPairValuesAToBeAtMostUnlessB, ExpectColumnValuesToBeValidPersonalId

    E = gx.expectations
    missing = "either_value_is_missing"
    rules: list[Expectation] = [
        E.ExpectColumnValuesToNotBeNull(column=c, meta=meta("REQ", "completeness", "error", f"{c} is missing"))
        for c in REQUIRED_COLUMNS
    ]
    rules += [
        # D1 — notice code.
        E.ExpectColumnValuesToMatchRegex(
            column="notice_code", regex=o["notice_code_regex"],
            meta=meta("D1", "conformance", "error", "notice_code does not match NNNNN.GBT.FFFFF.YY")),
        E.ExpectColumnPairValuesToBeEqual(
            column_A="code_facility", column_B="facility_code", ignore_row_if=missing,
            meta=meta("D1", "conformance", "error", "facility part of notice_code differs from the issuing facility",
                      column="notice_code")),
        E.ExpectColumnPairValuesToBeEqual(
            column_A="code_year", column_B="issue_year_2d", ignore_row_if=missing,
            meta=meta("D1", "conformance", "error", "year part of notice_code differs from the issue year",
                      column="notice_code")),
        # D2 (+D4) — the date chain.
        E.ExpectColumnValuesToNotBeInSet(
            column="date_chain_ok", value_set=[False],
            meta=meta("D2", "plausibility", "error",
                      "dates out of order: birth <= admission <= death <= issue (admission may follow death "
                      "only when died en route)", column="death_datetime")),
        # D3 — death not in the future (error); timely issue (warning).
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="batch_cutoff", column_B="death_datetime", or_equal=True, ignore_row_if=missing,
            meta=meta("D3", "plausibility", "error", "death_datetime is after the batch cut-off",
                      column="death_datetime")),
        ExpectColumnPairValuesAToBeAtMostUnlessB(
            column_A="issue_lag_days", column_B="is_reissue", max_value=o["max_issue_lag_days"],
            meta=meta("D3", "plausibility", "warning",
                      f"first issue more than {o['max_issue_lag_days']} days after the death")),
        # CODE — coded values.
        E.ExpectColumnValuesToBeInSet(
            column="deceased_sex", value_set=list(o["sex_codes"]),
            meta=meta("CODE", "conformance", "error", "deceased_sex not in the sex code list")),
        E.ExpectColumnValuesToBeInSet(
            column="deceased_ethnicity_code", value_set=list(o["ethnicity_codes"]),
            meta=meta("CODE", "conformance", "error", "deceased_ethnicity_code not in the configured code list")),
        E.ExpectColumnValuesToBeInSet(
            column="id_document_type", value_set=list(o["id_document_types"]),
            meta=meta("CODE", "conformance", "error", "id_document_type not in the configured code list")),
        # D5 — ICD-10 causes of death.
        E.ExpectColumnValuesToNotBeInSet(
            column="icd10_valid", value_set=[False],
            meta=meta("D5", "conformance", "error",
                      "icd10_codes holds a code not in the ICD-10 list valid on the death date", column="icd10_codes")),
        E.ExpectColumnValuesToNotBeInSet(
            column="icd10_usable", value_set=[False],
            meta=meta("D5", "conformance", "error", "icd10_codes holds a code the list marks 'do not use'",
                      column="icd10_codes")),
        E.ExpectColumnValuesToNotBeInSet(
            column="icd10_sex_ok", value_set=[False],
            meta=meta("D5", "plausibility", "warning", "a sex-specific ICD-10 code contradicts deceased_sex",
                      column="icd10_codes")),
        # D7 — conflicting first issues of one code.
        E.ExpectColumnValuesToNotBeInSet(
            column="duplicate_first_issue", value_set=[True],
            meta=meta("D7", "conformance", "error", "notice_code already issued as a first issue with different content",
                      column="notice_code")),
        # D8 — unknown identity is allowed, flagged for a later merge.
        E.ExpectColumnValuesToNotBeInSet(
            column="identity_known", value_set=[False],
            meta=meta("D8", "completeness", "warning", "deceased identity unknown (no name or no ID document)",
                      column="deceased_id_number")),
        # P1 — the deceased's personal ID.
        ExpectColumnValuesToBeValidPersonalId(
            column="deceased_cccd", prefixes=list(o["cccd_province_prefixes"]),
            meta=meta("P1", "conformance", "error", "deceased personal ID is not 12 digits with a known province prefix",
                      column="deceased_id_number")),
        E.ExpectColumnValuesToNotBeInSet(
            column="deceased_cccd_sex_ok", value_set=[False],
            meta=meta("P1", "conformance", "warning", "personal ID sex digit contradicts deceased_sex",
                      column="deceased_id_number")),
        E.ExpectColumnValuesToNotBeInSet(
            column="deceased_cccd_year_ok", value_set=[False],
            meta=meta("P1", "conformance", "warning", "personal ID century/year digits contradict the birth year",
                      column="deceased_id_number")),
        # A3 — residence commune in the residence province.
        E.ExpectColumnValuesToNotBeInSet(
            column="commune_in_province", value_set=[False],
            meta=meta("A3", "conformance", "error", "residence commune is not in the residence province")),
        # X1 — cross-dataset: the death is already recorded.
        E.ExpectColumnValuesToNotBeInSet(
            column="death_not_recorded", value_set=[False],
            meta=meta("X1", "plausibility", "warning",
                      "the person's death is already recorded (citizen registry or another notice)",
                      column="deceased_id_number")),
    ]
    return with_gx_severity(rules)


def build_suite(options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
    """Build the ``death_notices.conformed`` suite (not attached to any data context)."""
    import great_expectations as gx

    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=_expectations(resolve_options(options)),
        meta={"dataset": DATASET, "source": "DOMAIN.md §4.3, §7.1, §9; config/datasets/death_notices.yaml"},
    )

"""Expectation suite ``birth_certificates.conformed``: row-level rules for birth certificates.

The suite runs on the *validation frame* that the normalizer builds for each batch (one row per
received record, typed nullable pandas columns; see ``expectations/README.md``). Every rule of
DOMAIN.md §3.4 (plus REQ for required fields and A3 for addresses) becomes one or more
expectations in :func:`_expectations`, which is meant to be read top to bottom in a review.

Each expectation carries ``meta``:

* ``rule_id``  — DOMAIN rule id (``B1`` … ``B10``, ``A3``) or ``REQ`` for required fields;
* ``category`` — ``conformance`` | ``completeness`` | ``plausibility``;
* ``severity`` — ``error`` (the row is quarantined) | ``warning`` (the row is flagged, still loads);
* ``reason``   — fixed human text; it may name thresholds from the options, never data values;
* ``column``   — optional: the column to report when it is not the first column the
  expectation checks (pair expectations whose first column is a reference value).

Importing this module does not import Great Expectations; :func:`build_suite` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from expectations.reference import cccd_province_prefixes

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.metadata_types import FailureSeverity

DATASET = "birth_certificates"
SUITE_NAME = "birth_certificates.conformed"

#: Columns that must be present and non-null in every record (config ``required: true`` plus the
#: facts the rules depend on).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "certificate_code",
    "mother_full_name",
    "mother_birth_year",
    "child_sex",
    "children_in_delivery",
    "birth_datetime",
    "issue_date",
)

#: The validation frame's contract, by kind of dtype (the normalizer uses nullable pandas dtypes;
#: NumPy ``int64``/``bool`` are accepted too). The runner rejects a frame whose column has another
#: kind: a string ``child_sex`` would otherwise quarantine every row instead of failing loudly.
COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "certificate_code",
            "code_facility",
            "code_year",
            "facility_code",
            "issue_year_2d",
            "mother_ethnicity_code",
            "mother_cccd",
            "mother_social_insurance_no",
            "mother_health_card_no",
            "mother_full_name",
        ),
        "string",
    ),
    **dict.fromkeys(("birth_datetime", "issue_date", "batch_cutoff"), "datetime"),
    **dict.fromkeys(
        (
            "child_sex",
            "caesarean",
            "under_32_weeks",
            "children_in_delivery",
            "birth_order",
            "living_children",
            "birth_weight_g",
            "episode_size",
            "mother_birth_year",
        ),
        "integer",
    ),
    **dict.fromkeys(("issue_lag_days", "mother_age_at_birth"), "number"),
    **dict.fromkeys(
        (
            "is_reissue",
            "mother_cccd_female",
            "mother_cccd_year_ok",
            "commune_in_province",
            "surrogate_complete",
            "duplicate_first_issue",
            "mother_alive_at_birth",
            "mother_registry_female",
        ),
        "boolean",
    ),
}

# Thresholds and code lists. Several are unverified domain facts (DOMAIN.md tags them [U]), so
# every value can be overridden per call (``options=``), e.g. from the facility registry.
# Regexes are written with ``[0-9]`` and ``\Z`` rather than ``\d`` and ``$`` so that they mean
# the same thing under Python ``re`` and pyarrow's RE2 (``\d`` is Unicode-aware in Python, and
# ``$`` also matches before a trailing newline there); pandas translates ``\Z`` for RE2.
DEFAULT_OPTIONS: dict[str, Any] = {
    # B1: 18-char certificate code XXXXX.GCS.ZZZZZ.YY (DOMAIN §3.1, [C] TT 22/2025).
    "certificate_code_regex": r"^[0-9]{5}\.GCS\.[0-9A-Z]{5}\.[0-9]{2}\Z",
    # B2: longest delay from birth to a *first* issue, in days; re-issues are exempt
    # (DOMAIN §3.4 says "~1 year" — the exact limit is not in the sources).
    "max_issue_lag_days": 365,
    # B3: mother's ethnicity codes (QĐ 121-TCTK/PPCĐ, 54 groups "01".."54"; how foreign
    # mothers are coded is unverified, so extend the list per source if needed).
    "ethnicity_codes": tuple(f"{code:02d}" for code in range(1, 55)),
    # B4 (error): hard plausibility range of birth weight in grams, inclusive (DOMAIN §3.4).
    "weight_min_g": 300,
    "weight_max_g": 7000,
    # B4 (warning): weights outside this inclusive range are flagged (DOMAIN §3.4 "flag < 500 /
    # > 6000"). A weight outside the hard range also gets this warning.
    "weight_warn_min_g": 500,
    "weight_warn_max_g": 6000,
    # B6 (warning): plausible mother's age at birth in years, inclusive (DOMAIN §3.4).
    "mother_age_min": 10,
    "mother_age_max": 60,
    # B7 (error): allowed 3-digit personal-ID prefixes; None = the packaged pre-2025 63-province
    # list (transforms/data/cccd_province_prefixes.csv, DOMAIN §7.1).
    "cccd_province_prefixes": None,
    # B8 (error): social-insurance code, 10 digits (DOMAIN §7.3; "0000000000" is normalised
    # to NULL upstream).
    "social_insurance_regex": r"^[0-9]{10}\Z",
    # B8 (error): health-insurance card, 15 chars XX Y ZZ NNNNNNNNNN or the bare 10-digit code
    # shown on newer cards (DOMAIN §7.4; the 10-digit form is [U]).
    "health_card_regex": r"^(?:[A-Z]{2}[1-5][0-9]{12}|[0-9]{10})\Z",
}


def resolve_options(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge per-call overrides into :data:`DEFAULT_OPTIONS`.

    Args:
        options: Overrides; keys must exist in :data:`DEFAULT_OPTIONS`.

    Returns:
        A new dict with every option set.

    Raises:
        ValueError: On an unknown key (a typo would otherwise silently keep the default) or an
            inverted range.
    """
    unknown = sorted(set(options or {}) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown expectation options for {DATASET}: {unknown}")
    merged = {**DEFAULT_OPTIONS, **(options or {})}
    for low, high in (
        ("weight_min_g", "weight_max_g"),
        ("weight_warn_min_g", "weight_warn_max_g"),
        ("mother_age_min", "mother_age_max"),
    ):
        if merged[low] > merged[high]:
            raise ValueError(f"option {low} must not exceed {high}")
    if merged["cccd_province_prefixes"] is None:
        merged["cccd_province_prefixes"] = cccd_province_prefixes()
    merged["ethnicity_codes"] = tuple(merged["ethnicity_codes"])
    merged["cccd_province_prefixes"] = tuple(merged["cccd_province_prefixes"])
    return merged


def _meta(rule_id: str, category: str, severity: str, reason: str, **extra: str) -> dict[str, str]:
    """Build the ``meta`` block every expectation carries (see the module docstring)."""
    return {"rule_id": rule_id, "category": category, "severity": severity, "reason": reason, **extra}


def _gx_severity(severity: str) -> FailureSeverity:
    """Map our severity onto GX's own expectation ``severity`` field (shown in Data Docs)."""
    from great_expectations.expectations.metadata_types import FailureSeverity

    return {"error": FailureSeverity.CRITICAL, "warning": FailureSeverity.WARNING}[severity]


def _expectations(o: Mapping[str, Any]) -> list[Expectation]:
    """The rules, in review order. ``o`` is a resolved options dict."""
    import great_expectations as gx

    from expectations.custom import (
        ExpectColumnPairValuesAToBeAtMostUnlessB,
        ExpectColumnValuesToBeValidPersonalId,
    )

    E = gx.expectations
    either_missing: Final = "either_value_is_missing"
    rules: list[Expectation] = []

    # REQ — required fields present (completeness, error).
    for column in REQUIRED_COLUMNS:
        rules.append(
            E.ExpectColumnValuesToNotBeNull(
                column=column,
                meta=_meta("REQ", "completeness", "error", f"{column} is missing"),
            )
        )

    rules += [
        # B1 — certificate code format, facility part and year part (conformance, error).
        E.ExpectColumnValuesToMatchRegex(
            column="certificate_code",
            regex=o["certificate_code_regex"],
            meta=_meta("B1", "conformance", "error", "certificate_code does not match NNNNN.GCS.FFFFF.YY"),
        ),
        E.ExpectColumnPairValuesToBeEqual(
            column_A="code_facility",
            column_B="facility_code",
            ignore_row_if=either_missing,
            meta=_meta(
                "B1", "conformance", "error", "facility part of certificate_code differs from the issuing facility"
            ),
        ),
        E.ExpectColumnPairValuesToBeEqual(
            column_A="code_year",
            column_B="issue_year_2d",
            ignore_row_if=either_missing,
            meta=_meta("B1", "conformance", "error", "year part of certificate_code differs from the issue year"),
        ),
        # B2 — birth not after the batch cut-off; issued on/after birth; a first issue within the
        # limit. The limit applies unless the record is known to be a re-issue (is_reissue True);
        # NULL is_reissue (formats without CAP_LAN_DAU) counts as a first issue. A custom pair
        # expectation rather than a GX row_condition: the row condition copied the frame through
        # DataFrame.query per metric (~0.27 s per 200k rows for this one rule).
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="batch_cutoff",
            column_B="birth_datetime",
            or_equal=True,
            ignore_row_if=either_missing,
            meta=_meta(
                "B2", "plausibility", "error", "birth_datetime is after the batch cut-off", column="birth_datetime"
            ),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="issue_lag_days",
            min_value=0,
            meta=_meta("B2", "plausibility", "error", "issue_date is before the birth date"),
        ),
        ExpectColumnPairValuesAToBeAtMostUnlessB(
            column_A="issue_lag_days",
            column_B="is_reissue",
            max_value=o["max_issue_lag_days"],
            meta=_meta(
                "B2",
                "plausibility",
                "error",
                f"first issue more than {o['max_issue_lag_days']} days after birth",
            ),
        ),
        # B3 — coded values (conformance, error).
        E.ExpectColumnValuesToBeInSet(
            column="child_sex",
            value_set=[1, 2, 3],
            meta=_meta("B3", "conformance", "error", "child_sex not in {1,2,3}"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="caesarean",
            value_set=[0, 1],
            meta=_meta("B3", "conformance", "error", "caesarean not in {0,1}"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="under_32_weeks",
            value_set=[0, 1],
            meta=_meta("B3", "conformance", "error", "under_32_weeks not in {0,1}"),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="children_in_delivery",
            min_value=1,
            meta=_meta("B3", "conformance", "error", "children_in_delivery < 1"),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="birth_order",
            min_value=1,
            meta=_meta("B3", "conformance", "error", "birth_order < 1"),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="living_children",
            min_value=0,
            meta=_meta("B3", "conformance", "error", "living_children < 0"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="mother_ethnicity_code",
            value_set=list(o["ethnicity_codes"]),
            meta=_meta("B3", "conformance", "error", "mother_ethnicity_code not in the configured code list"),
        ),
        # B4 — birth weight: hard range (error) and flag range (warning).
        E.ExpectColumnValuesToBeBetween(
            column="birth_weight_g",
            min_value=o["weight_min_g"],
            max_value=o["weight_max_g"],
            meta=_meta(
                "B4",
                "plausibility",
                "error",
                f"birth_weight_g outside {o['weight_min_g']}-{o['weight_max_g']} g",
            ),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="birth_weight_g",
            min_value=o["weight_warn_min_g"],
            max_value=o["weight_warn_max_g"],
            meta=_meta(
                "B4",
                "plausibility",
                "warning",
                f"birth_weight_g outside {o['weight_warn_min_g']}-{o['weight_warn_max_g']} g",
            ),
        ),
        # B5 — records per delivery episode = number of children in the delivery (warning).
        E.ExpectColumnPairValuesToBeEqual(
            column_A="episode_size",
            column_B="children_in_delivery",
            ignore_row_if=either_missing,
            meta=_meta("B5", "plausibility", "warning", "records in the episode differ from children_in_delivery"),
        ),
        # B6 — mother's age at birth (warning).
        E.ExpectColumnValuesToBeBetween(
            column="mother_age_at_birth",
            min_value=o["mother_age_min"],
            max_value=o["mother_age_max"],
            meta=_meta(
                "B6",
                "plausibility",
                "warning",
                f"mother_age_at_birth outside {o['mother_age_min']}-{o['mother_age_max']} years",
            ),
        ),
        # B7 — mother's personal ID: structure (error), sex and birth-year digits (warning).
        ExpectColumnValuesToBeValidPersonalId(
            column="mother_cccd",
            prefixes=list(o["cccd_province_prefixes"]),
            meta=_meta("B7", "conformance", "error", "mother_cccd is not 12 digits with a known province prefix"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="mother_cccd_female",
            value_set=[True],
            meta=_meta("B7", "conformance", "warning", "mother_cccd sex digit is not female"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="mother_cccd_year_ok",
            value_set=[True],
            meta=_meta(
                "B7", "conformance", "warning", "mother_cccd century/year digits disagree with the mother's birth year"
            ),
        ),
        # B8 — insurance numbers (conformance, error).
        E.ExpectColumnValuesToMatchRegex(
            column="mother_social_insurance_no",
            regex=o["social_insurance_regex"],
            meta=_meta("B8", "conformance", "error", "mother_social_insurance_no is not 10 digits"),
        ),
        E.ExpectColumnValuesToMatchRegex(
            column="mother_health_card_no",
            regex=o["health_card_regex"],
            meta=_meta(
                "B8", "conformance", "error", "mother_health_card_no is not a 15-char card number or a 10-digit code"
            ),
        ),
        # A3 — residence commune belongs to the residence province (conformance, error).
        E.ExpectColumnValuesToBeInSet(
            column="commune_in_province",
            value_set=[True],
            meta=_meta("A3", "conformance", "error", "residence commune is not in the residence province"),
        ),
        # B9 — a second first issue of the same code with different content (error).
        E.ExpectColumnValuesToNotBeInSet(
            column="duplicate_first_issue",
            value_set=[True],
            meta=_meta(
                "B9", "conformance", "error", "certificate_code already issued as a first issue with different content"
            ),
        ),
        # B10 — surrogacy block complete (warning).
        E.ExpectColumnValuesToBeInSet(
            column="surrogate_complete",
            value_set=[True],
            meta=_meta("B10", "completeness", "warning", "surrogacy data lacks the surrogate's name or ID"),
        ),
        # X3, X4 — cross-dataset plausibility against the citizen registry and loaded death
        # notices (warnings: the registry may lag, and never silently drop a birth).
        E.ExpectColumnValuesToNotBeInSet(
            column="mother_alive_at_birth",
            value_set=[False],
            meta=_meta("X3", "plausibility", "warning", "birth dated after the mother's recorded death",
                       column="mother_id_number"),
        ),
        E.ExpectColumnValuesToNotBeInSet(
            column="mother_registry_female",
            value_set=[False],
            meta=_meta("X4", "plausibility", "warning", "the mother's registry sex is male", column="mother_id_number"),
        ),
    ]
    for expectation in rules:
        expectation.severity = _gx_severity((expectation.meta or {})["severity"])
    return rules


def build_suite(options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
    """Build the ``birth_certificates.conformed`` suite.

    The suite is not added to any data context; the runner validates it directly.

    Args:
        options: Overrides for :data:`DEFAULT_OPTIONS`.

    Returns:
        A new ``gx.ExpectationSuite`` named :data:`SUITE_NAME`.
    """
    import great_expectations as gx

    resolved = resolve_options(options)
    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=_expectations(resolved),
        meta={"dataset": DATASET, "source": "DOMAIN.md §3.4, §7.1; config/datasets/birth_certificates.yaml"},
    )

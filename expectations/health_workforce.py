"""Expectation suite ``health_workforce.conformed``: row-level rules for the practitioner register.

Runs on the validation frame built by ``transforms/workforce.py`` (one row per register row
received). Rules come from the shared dataset spec (health_workforce) and DOMAIN.md §6.2:

* REQ (error) — required fields present;
* W1 (error) — title in the title list (compared after NFC and Vietnamese-aware upper-casing);
* W2 (warning) — licence number matches the loose pattern (the raw value is kept);
* W3 (error) — personal ID, when present, is 12 digits with a known province prefix;
* W4 (warning) — facility code is 5 digits;
* W5 (warning) — practice periods of one person at two facilities overlap (flag on the
  later-registered record; derived column ``overlapping_practice``);
* DATE (error) — period end before period start, last change after the batch cut-off
  (impossible dates are the normalizer's parse failures, reported with the same rule id);
* CODE (error) — sex in {1, 2};
* X5 (warning) — personal ID not in the citizen registry (lookup-derived ``in_registry``).

Each expectation carries ``meta`` (``rule_id``, ``category``, ``severity``, ``reason``; see
``expectations/birth_certificates.py``). Importing this module does not import Great Expectations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from expectations.common import merge_options, meta, with_gx_severity
from expectations.reference import cccd_province_prefixes

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

DATASET = "health_workforce"
SUITE_NAME = "health_workforce.conformed"

#: Columns that must be present and non-null in every record (contract ``required: true``).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "full_name",
    "title",
    "licence_number",
    "licence_issuer",
    "practice_facility_code",
    "period_start",
    "last_change_date",
)

#: The validation frame's contract, by kind of dtype (see ``expectations/runner.py``).
COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "personal_id",
            "full_name",
            "title",
            "title_key",
            "licence_number",
            "licence_issuer",
            "practice_facility_code",
        ),
        "string",
    ),
    **dict.fromkeys(("period_start", "period_end", "last_change_date", "batch_cutoff"), "datetime"),
    "sex": "integer",
    **dict.fromkeys(("overlapping_practice", "in_registry"), "boolean"),
}

# Thresholds and code lists; every value can be overridden per call (``options=``). Regexes use
# ``[0-9]`` and ``\Z`` (same meaning under Python ``re`` and RE2, see birth_certificates.py).
DEFAULT_OPTIONS: dict[str, Any] = {
    # W1: professional titles (DOMAIN §6.1 [C] S13: the eight GPHN titles of Luật KCB 2023 /
    # NĐ 96/2023, lương y, and dược sĩ under the Pharmacy Law). NFC; compared case-insensitively.
    "titles": (
        "Bác sĩ",
        "Y sĩ",
        "Điều dưỡng",
        "Hộ sinh",
        "Kỹ thuật y",
        "Dinh dưỡng lâm sàng",
        "Cấp cứu viên ngoại viện",
        "Tâm lý lâm sàng",
        "Lương y",
        "Dược sĩ",
    ),
    # W2 (warning): licence / practice-certificate number. No official pattern exists (DOMAIN
    # §6.1 [C-impl] S12); this is the loose form seen in practice, e.g. 000123/BYT-GPHN.
    "licence_number_regex": r"^[0-9]{5,7}/[A-ZĐ]{2,4}-(?:CCHN|GPHN|CCHND)\Z",
    # W3 (error): allowed 3-digit personal-ID prefixes; None = the packaged pre-2025 63-province
    # list (transforms/data/cccd_province_prefixes.csv, DOMAIN §7.1).
    "cccd_province_prefixes": None,
    # W4 (warning): 5-char BHXH facility code, digits expected (DOMAIN §6.2 W4: "warn if
    # non-digit"; the code structure itself is [U]).
    "facility_code_regex": r"^[0-9]{5}\Z",
    # CODE (error): sex codes of the register exports (1 male, 2 female; spec health_workforce).
    "sex_codes": (1, 2),
}


def resolve_options(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge per-call overrides into :data:`DEFAULT_OPTIONS`.

    Raises:
        ValueError: On an unknown key or an empty title list.
    """
    merged = merge_options(DATASET, DEFAULT_OPTIONS, options)
    if merged["cccd_province_prefixes"] is None:
        merged["cccd_province_prefixes"] = cccd_province_prefixes()
    merged["titles"] = tuple(merged["titles"])
    if not merged["titles"]:
        raise ValueError("option titles must not be empty")
    merged["cccd_province_prefixes"] = tuple(merged["cccd_province_prefixes"])
    merged["sex_codes"] = tuple(int(c) for c in merged["sex_codes"])
    return merged


def title_keys(titles: tuple[str, ...]) -> list[str]:
    """The comparison form of titles: NFC, collapsed spaces, Vietnamese-aware upper case."""
    from transforms.text import upper_vi_str

    return sorted({upper_vi_str(t) for t in titles})


def _expectations(o: Mapping[str, Any]) -> list[Expectation]:
    """The rules, in review order. ``o`` is a resolved options dict."""
    import great_expectations as gx

    from expectations.custom import ExpectColumnValuesToBeValidPersonalId

    E = gx.expectations
    either_missing: Final = "either_value_is_missing"
    rules: list[Expectation] = [
        # REQ — required fields present (completeness, error).
        E.ExpectColumnValuesToNotBeNull(
            column=column, meta=meta("REQ", "completeness", "error", f"{column} is missing")
        )
        for column in REQUIRED_COLUMNS
    ]
    rules += [
        # W1 — title in the title list; only case and Unicode composition differences are
        # forgiven ("Bac si" without diacritics is not a title).
        E.ExpectColumnValuesToBeInSet(
            column="title_key",
            value_set=title_keys(o["titles"]),
            meta=meta("W1", "conformance", "error", "title not in the configured title list", column="title"),
        ),
        # W2 — licence number loose pattern (warning; the raw value is kept).
        E.ExpectColumnValuesToMatchRegex(
            column="licence_number",
            regex=o["licence_number_regex"],
            meta=meta("W2", "conformance", "warning", "licence_number does not match NNNNN[NN]/ISSUER-CCHN|GPHN|CCHND"),
        ),
        # W3 — personal ID structure when present (error).
        ExpectColumnValuesToBeValidPersonalId(
            column="personal_id",
            prefixes=list(o["cccd_province_prefixes"]),
            meta=meta("W3", "conformance", "error", "personal_id is not 12 digits with a known province prefix"),
        ),
        # W4 — facility code of 5 digits (warning).
        E.ExpectColumnValuesToMatchRegex(
            column="practice_facility_code",
            regex=o["facility_code_regex"],
            meta=meta("W4", "conformance", "warning", "practice_facility_code is not 5 digits"),
        ),
        # W5 — overlapping practice periods at two facilities (warning, on the later record).
        E.ExpectColumnValuesToNotBeInSet(
            column="overlapping_practice",
            value_set=[True],
            meta=meta(
                "W5", "plausibility", "warning",
                "practice period overlaps the same person's period at another facility",
            ),
        ),
        # DATE — period end not before its start; last change not after the batch cut-off.
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="period_end",
            column_B="period_start",
            or_equal=True,
            ignore_row_if=either_missing,
            meta=meta("DATE", "plausibility", "error", "period_end is before period_start"),
        ),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="batch_cutoff",
            column_B="last_change_date",
            or_equal=True,
            ignore_row_if=either_missing,
            meta=meta(
                "DATE", "plausibility", "error", "last_change_date is after the batch cut-off", column="last_change_date"
            ),
        ),
        # CODE — sex code (conformance, error).
        E.ExpectColumnValuesToBeInSet(
            column="sex",
            value_set=list(o["sex_codes"]),
            meta=meta("CODE", "conformance", "error", "sex not in the configured code list"),
        ),
        # X5 — personal ID known to the citizen registry (cross-dataset, warning). NULL (no ID,
        # no registry configured) is ignored.
        E.ExpectColumnValuesToBeInSet(
            column="in_registry",
            value_set=[True],
            meta=meta("X5", "conformance", "warning", "personal_id not found in the citizen registry"),
        ),
    ]
    return with_gx_severity(rules)


def build_suite(options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
    """Build the ``health_workforce.conformed`` suite (not attached to any data context).

    Args:
        options: Overrides for :data:`DEFAULT_OPTIONS`.
    """
    import great_expectations as gx

    resolved = resolve_options(options)
    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=_expectations(resolved),
        meta={"dataset": DATASET, "source": "DOMAIN.md §6, §7.1; config/datasets/health_workforce.yaml"},
    )

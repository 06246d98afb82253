"""Expectation suite ``driver_health_checks.conformed``: row-level rules for driver health certificates.

Runs on the validation frame built by ``transforms/drivers.py`` (see ``expectations/README.md``
for the frame, the ``meta`` block and how findings become quarantine/flags). The rule ids,
categories and severities are those of the shared source spec (DOMAIN.md §5.5 K1–K7, P1 for the
personal ID, CODE for code systems, REQ for required fields, X2 cross-dataset):

* REQ  error   — certificate number, name, birth date, ID number, conclusion date, conclusion,
  licence class or STATE missing;
* K1   error   — licence class neither a 2024 class nor a legacy class; warning — a legacy class;
* K2   warning — age at the exam below the class's minimum age (legacy classes: the mapped class);
* K3   error   — group-3 class without a drug-test result;
* K4   error   — positive drug test with a "fit" conclusion;
* K6   error   — exam after the conclusion, or conclusion after the batch cut-off (impossible
  dates are the normalizer's K6 parse failures);
* K7   error   — EDIT of a key that is neither in staging nor ADDed earlier; a second ADD of a key
  with different content (``duplicate_first_issue``, set by the batch runner);
* CODE error   — sex, conclusion, STATE, drug-test codes outside their code lists;
* P1   error   — personal ID (an all-digit, non-CMND ID number) not 12 digits with a known prefix;
* X2   warning — the registry (or a loaded death notice) records the person's death before the exam.

K5 (validity end) is a derivation, not a check. Importing this module does not import Great
Expectations; :func:`build_suite` does, and defines this suite's one custom expectation then.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from expectations.common import merge_options, meta, with_gx_severity
from expectations.reference import cccd_province_prefixes

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

DATASET = "driver_health_checks"
SUITE_NAME = "driver_health_checks.conformed"

#: Columns that must be present and non-null in every record (spec REQ list).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "certificate_number",
    "full_name",
    "birth_date",
    "id_number",
    "conclusion_date",
    "conclusion_code",
    "licence_class",
    "state",
)

#: The validation frame's contract, by kind of dtype (checked by the runner).
COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "certificate_number",
            "full_name",
            "id_number",
            "conclusion_code",
            "licence_class",
            "state",
            "licence_class_mapped",
            "personal_id",
        ),
        "string",
    ),
    **dict.fromkeys(("birth_date", "conclusion_date", "exam_date", "batch_cutoff"), "datetime"),
    **dict.fromkeys(("sex", "drug_test_result", "drug_tested", "drug_test_positive", "age_at_exam"), "integer"),
    **dict.fromkeys(("duplicate_first_issue", "edit_unmatched", "died_before_exam"), "boolean"),
}

# Thresholds and code lists. Several are unverified domain facts (DOMAIN.md tags them [U]), so
# every value can be overridden per call (``options=``). The derivation's own [U] defaults (the
# legacy-class mapping, validity months) live in transforms/drivers.py.
DEFAULT_OPTIONS: dict[str, Any] = {
    # K1: licence classes of the Road Traffic Order & Safety Law 2024 (DOMAIN §5.1 [C]).
    "new_classes": ("A1", "A", "B1", "B", "C1", "C", "D1", "D2", "D", "BE", "C1E", "CE", "D1E", "D2E", "DE"),
    # K1 (warning): pre-2025 classes still accepted, stored with the mapped new class (DOMAIN §5.1).
    "legacy_classes": ("A2", "A3", "A4", "B2", "E", "F", "FB2", "FC", "FD", "FE"),
    # K2: minimum age per (new) class, in completed years on the exam day ([U] recollection of
    # the 2024 law, DOMAIN §5.5). A class missing from the table is not checked.
    "min_age_by_class": {
        "A1": 18,
        "A": 18,
        "B1": 18,
        "B": 18,
        "C1": 18,
        "C": 21,
        "BE": 21,
        "D1": 24,
        "D2": 24,
        "C1E": 24,
        "CE": 24,
        "D": 27,
        "D1E": 27,
        "D2E": 27,
        "DE": 27,
    },
    # K3: health group 3 (TT 36/2024, DOMAIN §5.1 [C]) requires a drug-test result ([U] scope).
    "group3_classes": ("C1", "C", "D1", "D2", "D", "BE", "C1E", "CE", "D1E", "D2E", "DE"),
    # K4 and CODE: conclusion codes A0-1 fit, A0-2 unfit, A0-3 fit with re-exam (DOMAIN §5.2,
    # meanings [U]); a positive drug test must not come with a "fit" conclusion.
    "conclusion_codes": ("A0-1", "A0-2", "A0-3"),
    # K4: the conclusion codes that mean "fit" without reservation.
    "fit_conclusion_codes": ("A0-1",),
    # CODE: canonical sex codes after the per-source code map (1 male, 2 female; DOMAIN §10, K8).
    "sex_codes": (1, 2),
    # CODE: drug-test result codes (0 negative, 1 positive; empty = not tested).
    "drug_test_codes": (0, 1),
    # CODE: STATE values (ADD first submission, EDIT correction; DOMAIN §5.3).
    "state_codes": ("ADD", "EDIT", "DELETE"),
    # P1: allowed 3-digit personal-ID prefixes; None = the packaged pre-2025 63-province list
    # (transforms/data/cccd_province_prefixes.csv, DOMAIN §7.1).
    "cccd_province_prefixes": None,
}


def resolve_options(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge per-call overrides into :data:`DEFAULT_OPTIONS`.

    Raises:
        ValueError: on an unknown key, a fit code that is not a conclusion code, or a negative
            minimum age.
    """
    merged = merge_options(DATASET, DEFAULT_OPTIONS, options)
    for key in (
        "new_classes",
        "legacy_classes",
        "group3_classes",
        "conclusion_codes",
        "fit_conclusion_codes",
        "sex_codes",
        "drug_test_codes",
        "state_codes",
    ):
        merged[key] = tuple(merged[key])
    merged["min_age_by_class"] = dict(merged["min_age_by_class"])
    if any(v < 0 for v in merged["min_age_by_class"].values()):
        raise ValueError("option min_age_by_class holds a negative age")
    if not set(merged["fit_conclusion_codes"]) <= set(merged["conclusion_codes"]):
        raise ValueError("option fit_conclusion_codes must be a subset of conclusion_codes")
    if merged["cccd_province_prefixes"] is None:
        merged["cccd_province_prefixes"] = cccd_province_prefixes()
    merged["cccd_province_prefixes"] = tuple(merged["cccd_province_prefixes"])
    return merged


from expectations.reference import within_bounds_for  # noqa: E402,F401 - moved


def bounds_expectation() -> type:
    """The custom expectation (moved to expectations.custom)."""
    from expectations.custom import ExpectColumnPairValuesAToBeWithinBoundsForB

    return ExpectColumnPairValuesAToBeWithinBoundsForB


def _expectations(o: Mapping[str, Any]) -> list[Expectation]:
    """The rules, in review order. ``o`` is a resolved options dict."""
    import great_expectations as gx

    from expectations.custom import ExpectColumnValuesToBeValidPersonalId

    E = gx.expectations
    Bounds = bounds_expectation()
    either_missing: Final = "either_value_is_missing"
    rules: list[Expectation] = []

    # REQ — required fields present (completeness, error).
    for column in REQUIRED_COLUMNS:
        rules.append(
            E.ExpectColumnValuesToNotBeNull(
                column=column, meta=meta("REQ", "completeness", "error", f"{column} is missing")
            )
        )

    rules += [
        # K1 — licence class: a 2024 class or a legacy one (error); a legacy class is flagged
        # (warning) and loads with the mapped class in licence_class_mapped.
        E.ExpectColumnValuesToBeInSet(
            column="licence_class",
            value_set=[*o["new_classes"], *o["legacy_classes"]],
            meta=meta("K1", "conformance", "error", "licence_class is neither a 2024 class nor a legacy class"),
        ),
        E.ExpectColumnValuesToNotBeInSet(
            column="licence_class",
            value_set=list(o["legacy_classes"]),
            meta=meta("K1", "conformance", "warning", "licence_class is a legacy (pre-2025) class"),
        ),
        # K2 — age on the exam day at least the class minimum (warning). The class is the mapped
        # 2024 class, so legacy classes are judged by their successor.
        Bounds(
            column_A="age_at_exam",
            column_B="licence_class_mapped",
            bounds={c: [age, None] for c, age in o["min_age_by_class"].items()},
            meta=meta(
                "K2", "plausibility", "warning", "age at the exam is below the minimum age for the licence class"
            ),
        ),
        # K3 — group-3 classes carry a drug-test result (error).
        Bounds(
            column_A="drug_tested",
            column_B="licence_class",
            bounds={c: [1, None] for c in o["group3_classes"]},
            meta=meta(
                "K3",
                "completeness",
                "error",
                "group-3 licence class without a drug-test result",
                column="drug_test_result",
            ),
        ),
        # K4 — a positive drug test cannot come with a "fit" conclusion (error).
        Bounds(
            column_A="drug_test_positive",
            column_B="conclusion_code",
            bounds={c: [None, 0] for c in o["fit_conclusion_codes"]},
            meta=meta(
                "K4", "plausibility", "error", "positive drug test with a fit conclusion", column="drug_test_result"
            ),
        ),
        # K6 — exam on/before the conclusion; conclusion not after the batch cut-off (error).
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="conclusion_date",
            column_B="exam_date",
            or_equal=True,
            ignore_row_if=either_missing,
            meta=meta("K6", "plausibility", "error", "exam_date is after conclusion_date", column="exam_date"),
        ),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="batch_cutoff",
            column_B="conclusion_date",
            or_equal=True,
            ignore_row_if=either_missing,
            meta=meta(
                "K6", "plausibility", "error", "conclusion_date is after the batch cut-off", column="conclusion_date"
            ),
        ),
        # K7 — an EDIT must reference a known key; a second ADD of a key must not change it.
        E.ExpectColumnValuesToNotBeInSet(
            column="edit_unmatched",
            value_set=[True],
            meta=meta("K7", "conformance", "error", "EDIT of a certificate/class key that was never submitted"),
        ),
        E.ExpectColumnValuesToNotBeInSet(
            column="duplicate_first_issue",
            value_set=[True],
            meta=meta(
                "K7", "conformance", "error", "certificate/class key already submitted as ADD with different content"
            ),
        ),
        # CODE — coded values in their code lists (conformance, error).
        E.ExpectColumnValuesToBeInSet(
            column="sex",
            value_set=list(o["sex_codes"]),
            meta=meta("CODE", "conformance", "error", "sex not in the canonical code list"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="conclusion_code",
            value_set=list(o["conclusion_codes"]),
            meta=meta("CODE", "conformance", "error", "conclusion_code not in the configured code list"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="state",
            value_set=list(o["state_codes"]),
            meta=meta("CODE", "conformance", "error", "state is not ADD, EDIT or DELETE"),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="drug_test_result",
            value_set=list(o["drug_test_codes"]),
            meta=meta("CODE", "conformance", "error", "drug_test_result not in the configured code list"),
        ),
        # P1 — personal ID structure (error).
        ExpectColumnValuesToBeValidPersonalId(
            column="personal_id",
            prefixes=list(o["cccd_province_prefixes"]),
            meta=meta(
                "P1",
                "conformance",
                "error",
                "personal ID is not 12 digits with a known province prefix",
                column="id_number",
            ),
        ),
        # X2 — cross-dataset: the person's recorded death precedes the exam (warning).
        E.ExpectColumnValuesToNotBeInSet(
            column="died_before_exam",
            value_set=[True],
            meta=meta("X2", "plausibility", "warning", "a death is recorded for the person before the exam date"),
        ),
    ]
    return with_gx_severity(rules)


def build_suite(options: Mapping[str, Any] | None = None) -> gx.ExpectationSuite:
    """Build the ``driver_health_checks.conformed`` suite (not attached to a data context).

    Args:
        options: Overrides for :data:`DEFAULT_OPTIONS`.
    """
    import great_expectations as gx

    resolved = resolve_options(options)
    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=_expectations(resolved),
        meta={"dataset": DATASET, "source": "DOMAIN.md §5.5, §7.1; config/datasets/driver_health_checks.yaml"},
    )

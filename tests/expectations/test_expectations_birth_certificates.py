"""Tests for the ``birth_certificates.conformed`` suite and the ``expectations`` runner (P11).

Fast by design: the rule cases (one mutated cell or two per case) are stacked into one frame —
8 rows per case — and validated with a single ``validate_frame`` call; each parametrised case
then checks its own block. Every row-level rule is independent of other rows, so blocks cannot
interfere. The GX context is created once per process by the runner and reused.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import expectations
from expectations import DEFAULT_OPTIONS, REQUIRED_COLUMNS, SUITE_NAME, Finding, validate_frame
from expectations.reference import cccd_province_prefixes, personal_id_is_valid
from expectations.runner import RESULT_FORMAT, validate_with_suite
from expectations.testing import BATCH_CUTOFF, valid_frame

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_CASE = 8
ROW = 2  # the mutated row inside a case block (row 4 holds the frame's NULLs)

NOT_NULL = "expect_column_values_to_not_be_null"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
NOT_IN_SET = "expect_column_values_to_not_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
PAIR_EQUAL = "expect_column_pair_values_to_be_equal"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
PAIR_AT_MOST_UNLESS = "expect_column_pair_values_a_to_be_at_most_unless_b"
PERSONAL_ID = "expect_column_values_to_be_valid_personal_id"

# A finding's identity in these tests: (rule_id, severity, expectation, column).
Key = tuple[str, str, str, str]


def err(rule: str, expectation: str, column: str) -> Key:
    return (rule, "error", expectation, column)


def warn(rule: str, expectation: str, column: str) -> Key:
    return (rule, "warning", expectation, column)


def case(case_id: str, changes: Mapping[str, Any], *expected: Key) -> Any:
    """One rule case: set ``changes`` on row ``ROW`` and expect exactly ``expected`` there."""
    return pytest.param(dict(changes), set(expected), id=case_id)


LATE = BATCH_CUTOFF + pd.Timedelta(minutes=1)

CASES = [
    # REQ — required fields (one expectation per column); other rules ignore the NULL.
    *[case(f"REQ-{c}", {c: None}, err("REQ", NOT_NULL, c)) for c in REQUIRED_COLUMNS],
    # B1 — certificate code.
    case("B1-code-short-year", {"certificate_code": "12345.GCS.01929.2"}, err("B1", REGEX, "certificate_code")),
    case("B1-code-lowercase", {"certificate_code": "12345.gcs.01929.25"}, err("B1", REGEX, "certificate_code")),
    case(
        "B1-code-trailing-newline", {"certificate_code": "12345.GCS.01929.25\n"}, err("B1", REGEX, "certificate_code")
    ),
    case(
        "B1-code-fullwidth-digits",
        {"certificate_code": "１２３４５.GCS.01929.25"},
        err("B1", REGEX, "certificate_code"),
    ),
    case("B1-code-ok-other-number", {"certificate_code": "99999.GCS.01929.25"}),
    case("B1-facility-mismatch", {"code_facility": "01930"}, err("B1", PAIR_EQUAL, "code_facility")),
    case("B1-facility-missing-ignored", {"code_facility": None}),
    case("B1-year-mismatch", {"code_year": "24"}, err("B1", PAIR_EQUAL, "code_year")),
    case("B1-year-missing-ignored", {"issue_year_2d": None}),
    # B2 — dates.
    case("B2-born-after-cutoff", {"birth_datetime": LATE}, err("B2", PAIR_GREATER, "birth_datetime")),
    case("B2-born-at-cutoff-ok", {"birth_datetime": BATCH_CUTOFF}),
    case("B2-issued-before-birth", {"issue_lag_days": -0.5}, err("B2", BETWEEN, "issue_lag_days")),
    case("B2-issued-same-day-ok", {"issue_lag_days": 0.0}),
    case("B2-lag-at-limit-ok", {"issue_lag_days": 365.0, "is_reissue": False}),
    case(
        "B2-lag-over-limit",
        {"issue_lag_days": 365.5, "is_reissue": False},
        err("B2", PAIR_AT_MOST_UNLESS, "issue_lag_days"),
    ),
    case(
        "B2-lag-over-limit-reissue-unknown",
        {"issue_lag_days": 400.0, "is_reissue": None},
        err("B2", PAIR_AT_MOST_UNLESS, "issue_lag_days"),
    ),
    case("B2-lag-over-limit-reissue-exempt", {"issue_lag_days": 4000.0, "is_reissue": True}),
    case("B2-lag-missing-ignored", {"issue_lag_days": None}),
    # B3 — coded values.
    case("B3-child_sex-0", {"child_sex": 0}, err("B3", IN_SET, "child_sex")),
    case("B3-child_sex-4", {"child_sex": 4}, err("B3", IN_SET, "child_sex")),
    case("B3-child_sex-3-ok", {"child_sex": 3}),
    case("B3-caesarean", {"caesarean": 2}, err("B3", IN_SET, "caesarean")),
    case("B3-under_32_weeks", {"under_32_weeks": -1}, err("B3", IN_SET, "under_32_weeks")),
    case(
        "B3-children_in_delivery-0",  # also breaks B5: the episode holds one record
        {"children_in_delivery": 0},
        err("B3", BETWEEN, "children_in_delivery"),
        warn("B5", PAIR_EQUAL, "episode_size"),
    ),
    case("B3-birth_order-0", {"birth_order": 0}, err("B3", BETWEEN, "birth_order")),
    case("B3-birth_order-1-ok", {"birth_order": 1}),
    case("B3-living_children--1", {"living_children": -1}, err("B3", BETWEEN, "living_children")),
    case("B3-living_children-0-ok", {"living_children": 0}),
    case("B3-ethnicity-55", {"mother_ethnicity_code": "55"}, err("B3", IN_SET, "mother_ethnicity_code")),
    case("B3-ethnicity-00", {"mother_ethnicity_code": "00"}, err("B3", IN_SET, "mother_ethnicity_code")),
    case("B3-ethnicity-unpadded", {"mother_ethnicity_code": "1"}, err("B3", IN_SET, "mother_ethnicity_code")),
    case("B3-ethnicity-54-ok", {"mother_ethnicity_code": "54"}),
    # B4 — birth weight: hard range 300..7000 (error), flag range 500..6000 (warning).
    case(
        "B4-weight-299",
        {"birth_weight_g": 299},
        err("B4", BETWEEN, "birth_weight_g"),
        warn("B4", BETWEEN, "birth_weight_g"),
    ),
    case("B4-weight-300", {"birth_weight_g": 300}, warn("B4", BETWEEN, "birth_weight_g")),
    case("B4-weight-499", {"birth_weight_g": 499}, warn("B4", BETWEEN, "birth_weight_g")),
    case("B4-weight-500-ok", {"birth_weight_g": 500}),
    case("B4-weight-6000-ok", {"birth_weight_g": 6000}),
    case("B4-weight-6001", {"birth_weight_g": 6001}, warn("B4", BETWEEN, "birth_weight_g")),
    case("B4-weight-7000", {"birth_weight_g": 7000}, warn("B4", BETWEEN, "birth_weight_g")),
    case(
        "B4-weight-7001",
        {"birth_weight_g": 7001},
        err("B4", BETWEEN, "birth_weight_g"),
        warn("B4", BETWEEN, "birth_weight_g"),
    ),
    case("B4-weight-not-weighed-ok", {"birth_weight_g": None}),
    # B5 — records in the episode vs children in the delivery.
    case("B5-episode-size", {"episode_size": 2}, warn("B5", PAIR_EQUAL, "episode_size")),
    case("B5-twins-ok", {"episode_size": 2, "children_in_delivery": 2}),
    # B6 — mother's age.
    case("B6-age-9.9", {"mother_age_at_birth": 9.9}, warn("B6", BETWEEN, "mother_age_at_birth")),
    case("B6-age-10-ok", {"mother_age_at_birth": 10.0}),
    case("B6-age-60-ok", {"mother_age_at_birth": 60.0}),
    case("B6-age-60.1", {"mother_age_at_birth": 60.1}, warn("B6", BETWEEN, "mother_age_at_birth")),
    # B7 — mother's personal ID.
    case("B7-cccd-11-digits", {"mother_cccd": "00119501234"}, err("B7", PERSONAL_ID, "mother_cccd")),
    case("B7-cccd-13-digits", {"mother_cccd": "0011950123456"}, err("B7", PERSONAL_ID, "mother_cccd")),
    case("B7-cccd-bad-prefix", {"mother_cccd": "003195012345"}, err("B7", PERSONAL_ID, "mother_cccd")),
    case("B7-cccd-non-digit", {"mother_cccd": "0011950123a5"}, err("B7", PERSONAL_ID, "mother_cccd")),
    case("B7-cccd-ok-last-province", {"mother_cccd": "096195012345"}),
    case("B7-cccd-missing-ignored", {"mother_cccd": None}),
    case("B7-cccd-not-female", {"mother_cccd_female": False}, warn("B7", NOT_IN_SET, "mother_cccd_female")),
    case("B7-cccd-year-mismatch", {"mother_cccd_year_ok": False}, warn("B7", NOT_IN_SET, "mother_cccd_year_ok")),
    # B8 — insurance numbers.
    case(
        "B8-social-9-digits",
        {"mother_social_insurance_no": "123456789"},
        err("B8", REGEX, "mother_social_insurance_no"),
    ),
    case(
        "B8-social-11-digits",
        {"mother_social_insurance_no": "12345678901"},
        err("B8", REGEX, "mother_social_insurance_no"),
    ),
    case(
        "B8-social-letter", {"mother_social_insurance_no": "12345678X1"}, err("B8", REGEX, "mother_social_insurance_no")
    ),
    case("B8-card-level-6", {"mother_health_card_no": "DN6010123456789"}, err("B8", REGEX, "mother_health_card_no")),
    case("B8-card-lowercase", {"mother_health_card_no": "dn4010123456789"}, err("B8", REGEX, "mother_health_card_no")),
    case("B8-card-14-chars", {"mother_health_card_no": "DN401012345678"}, err("B8", REGEX, "mother_health_card_no")),
    case("B8-card-10-digit-code-ok", {"mother_health_card_no": "0123456789"}),
    # A3 — residence commune in province.
    case("A3-commune-not-in-province", {"commune_in_province": False}, err("A3", NOT_IN_SET, "commune_in_province")),
    # B9 — second first issue of a code.
    case("B9-duplicate-first-issue", {"duplicate_first_issue": True}, err("B9", NOT_IN_SET, "duplicate_first_issue")),
    # B10 — surrogacy block.
    case("B10-surrogate-incomplete", {"surrogate_complete": False}, warn("B10", NOT_IN_SET, "surrogate_complete")),
    # X3, X4 — cross-dataset lookups (reported on the mother's ID column).
    case("X3-mother-dead-before-birth", {"mother_alive_at_birth": False}, warn("X3", NOT_IN_SET, "mother_id_number")),
    case("X4-mother-registry-male", {"mother_registry_female": False}, warn("X4", NOT_IN_SET, "mother_id_number")),
    case("X3-X4-unknown-does-not-fire", {"mother_alive_at_birth": None, "mother_registry_female": None}),
]


def _key(finding: Finding) -> Key:
    return (finding.rule_id, finding.severity, finding.expectation, finding.column)


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return valid_frame(ROWS_PER_CASE)


@pytest.fixture(scope="module")
def stacked_results(base: pd.DataFrame) -> dict[str, dict[int, set[Key]]]:
    """Validate every case in one call; return case id → {row in block: finding keys}."""
    blocks = []
    for param in CASES:
        changes, _ = param.values
        block = base.copy()
        for column, value in changes.items():
            block.loc[ROW, column] = value
        blocks.append(block)
    frame = pd.concat(blocks, ignore_index=True)
    findings, _ = validate_frame(frame)
    by_case: dict[str, dict[int, set[Key]]] = {param.id: {} for param in CASES}
    for finding in findings:
        param = CASES[finding.row // ROWS_PER_CASE]
        by_case[param.id].setdefault(finding.row % ROWS_PER_CASE, set()).add(_key(finding))
    return by_case


# ---------------------------------------------------------------------------------------------
# the suite


def test_importing_the_package_does_not_import_great_expectations() -> None:
    # DAG files import the package at parse time: neither GX (~4.5 s) nor pandas may come with it.
    code = "import sys, expectations; sys.exit('great_expectations' in sys.modules or 'pandas' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=False)
    assert completed.returncode == 0


def test_suite_is_named_and_every_expectation_has_meta() -> None:
    suite = expectations.build_suite()
    assert suite.name == SUITE_NAME == "birth_certificates.conformed"
    keys = set()
    for expectation in suite.expectations:
        meta = expectation.meta or {}
        assert set(meta) >= {"rule_id", "category", "severity", "reason"}
        assert meta["severity"] in {"error", "warning"}
        assert meta["category"] in {"conformance", "completeness", "plausibility"}
        assert expectation.severity == {"error": "critical", "warning": "warning"}[meta["severity"]]
        keys.add((expectation.expectation_type, meta["rule_id"], meta["reason"]))
    assert len(keys) == len(suite.expectations), "reasons must tell expectations apart"


def test_valid_frame_has_no_findings(base: pd.DataFrame) -> None:
    findings, summary = validate_frame(base)
    assert findings == []
    assert summary["expectation_count"] == summary["evaluated"] == summary["success_count"]
    assert set(summary["per_rule"].values()) == {0}


def test_every_expectation_has_a_failing_case() -> None:
    suite = expectations.build_suite()
    in_suite = set()
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        meta = expectation.meta or {}
        column = meta.get("column") or kwargs.get("column") or kwargs.get("column_A")
        in_suite.add((meta["rule_id"], meta["severity"], expectation.expectation_type, column))
    covered = set().union(*(param.values[1] for param in CASES))
    assert in_suite == covered


@pytest.mark.parametrize(("changes", "expected"), CASES)
def test_rule_case(
    stacked_results: dict[str, dict[int, set[Key]]], request: pytest.FixtureRequest, changes: dict, expected: set[Key]
) -> None:
    case_id = request.node.callspec.id
    rows = stacked_results[case_id]
    assert rows.get(ROW, set()) == expected
    assert set(rows) <= {ROW}, f"unexpected findings on other rows: {rows}"


def test_finding_fields_come_from_the_suite_meta() -> None:
    frame = valid_frame(ROWS_PER_CASE)
    frame.loc[ROW, "birth_datetime"] = LATE
    findings, summary = validate_frame(frame)
    assert findings == [
        Finding(
            row=ROW,
            rule_id="B2",
            severity="error",
            category="plausibility",
            expectation=PAIR_GREATER,
            column="birth_datetime",
            reason="birth_datetime is after the batch cut-off",
        )
    ]
    assert summary["per_rule"]["B2"] == 1
    assert summary["success_count"] == summary["expectation_count"] - 1


def test_findings_are_sorted_by_row_then_suite_order() -> None:
    frame = valid_frame(ROWS_PER_CASE)
    frame.loc[5, "surrogate_complete"] = False  # B10, last in the suite
    frame.loc[5, "child_sex"] = None  # REQ, first in the suite
    frame.loc[1, "birth_weight_g"] = 100  # B4 error then B4 warning
    findings, _ = validate_frame(frame)
    assert [(f.row, f.rule_id, f.severity) for f in findings] == [
        (1, "B4", "error"),
        (1, "B4", "warning"),
        (5, "REQ", "error"),
        (5, "B10", "warning"),
    ]


def test_rows_are_positions_whatever_the_index() -> None:
    frame = valid_frame(ROWS_PER_CASE)
    frame.index = pd.Index([f"r{i}" for i in range(ROWS_PER_CASE)])
    frame.iloc[6, frame.columns.get_loc("child_sex")] = 9
    findings, _ = validate_frame(frame)
    assert [(f.row, f.rule_id) for f in findings] == [(6, "B3")]


def test_every_failing_row_is_reported_not_a_sample() -> None:
    frame = valid_frame(1000)
    frame.loc[frame.index % 3 == 0, "child_sex"] = 7
    findings, summary = validate_frame(frame)
    assert [f.row for f in findings] == list(range(0, 1000, 3))
    assert summary["per_rule"]["B3"] == 334


def test_extra_columns_are_ignored_and_missing_ones_rejected() -> None:
    frame = valid_frame(ROWS_PER_CASE).assign(unrelated=np.arange(ROWS_PER_CASE))
    assert validate_frame(frame)[0] == []
    with pytest.raises(ValueError, match="mother_cccd"):
        validate_frame(frame.drop(columns=["mother_cccd"]))


def test_wrong_dtype_is_rejected_not_quarantined() -> None:
    frame = valid_frame(ROWS_PER_CASE)
    frame["child_sex"] = frame["child_sex"].astype(str)
    with pytest.raises(ValueError, match=r"child_sex \(str, expected integer\)"):
        validate_frame(frame)


def test_numpy_dtypes_are_accepted() -> None:
    frame = valid_frame(ROWS_PER_CASE).astype(
        {"child_sex": "int64", "mother_full_name": object, "duplicate_first_issue": bool}
    )
    assert validate_frame(frame)[0] == []


def test_empty_frame() -> None:
    findings, summary = validate_frame(valid_frame(0))
    assert findings == []
    assert summary["rows"] == 0


def test_unknown_dataset_is_rejected() -> None:
    with pytest.raises(ValueError, match="no expectation suite"):
        validate_frame(valid_frame(2), dataset="marriage_certificates")


def test_gx_batch_fingerprint_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    from great_expectations.execution_engine import pandas_execution_engine as engine

    def fail(df: pd.DataFrame) -> str:
        raise AssertionError("GX hashed the frame")

    monkeypatch.setattr(engine, "hash_pandas_dataframe", fail)
    before = engine.HASH_THRESHOLD
    assert validate_frame(valid_frame(ROWS_PER_CASE))[0] == []
    assert before == engine.HASH_THRESHOLD  # restored for any other GX user in the process


# ---------------------------------------------------------------------------------------------
# options


@pytest.mark.parametrize(
    ("options", "changes", "before", "after"),
    [
        pytest.param(
            {"weight_min_g": 200, "weight_warn_min_g": 250},
            {"birth_weight_g": 260},
            {("B4", "error"), ("B4", "warning")},
            set(),
            id="weight-ranges",
        ),
        pytest.param(
            {"weight_warn_max_g": 6500}, {"birth_weight_g": 6400}, {("B4", "warning")}, set(), id="weight-warn-max"
        ),
        pytest.param(
            {"mother_age_min": 12}, {"mother_age_at_birth": 11.0}, set(), {("B6", "warning")}, id="mother-age-min"
        ),
        pytest.param(
            {"mother_age_max": 55}, {"mother_age_at_birth": 56.0}, set(), {("B6", "warning")}, id="mother-age-max"
        ),
        pytest.param(
            {"ethnicity_codes": [f"{c:02d}" for c in range(1, 56)]},
            {"mother_ethnicity_code": "55"},
            {("B3", "error")},
            set(),
            id="ethnicity-list",
        ),
        pytest.param(
            {"max_issue_lag_days": 30}, {"issue_lag_days": 31.0}, set(), {("B2", "error")}, id="max-issue-lag"
        ),
        pytest.param(
            {"cccd_province_prefixes": [p for p in cccd_province_prefixes() if p != "096"]},
            {"mother_cccd": "096195012345"},
            set(),
            {("B7", "error")},
            id="cccd-prefixes",
        ),
        pytest.param(
            {"health_card_regex": r"^[A-Z]{2}[1-5][0-9]{12}\Z"},
            {"mother_health_card_no": "0123456789"},
            set(),
            {("B8", "error")},
            id="health-card-regex",
        ),
        pytest.param(
            {"social_insurance_regex": r"^[0-9]{10,12}\Z"},
            {"mother_social_insurance_no": "123456789012"},
            {("B8", "error")},
            set(),
            id="social-regex",
        ),
        pytest.param(
            {"certificate_code_regex": r"^[0-9]{5,6}\.GCS\.[0-9A-Z]{5}\.[0-9]{2}\Z"},
            {"certificate_code": "123456.GCS.01929.25"},
            {("B1", "error")},
            set(),
            id="certificate-regex",
        ),
    ],
)
def test_options_change_behaviour(options: dict, changes: dict, before: set, after: set) -> None:
    frame = valid_frame(ROWS_PER_CASE)
    for column, value in changes.items():
        frame.loc[ROW, column] = value
    default_findings, _ = validate_frame(frame)
    assert {(f.rule_id, f.severity) for f in default_findings} == before
    findings, _ = validate_frame(frame, options=options)
    assert {(f.rule_id, f.severity) for f in findings} == after
    assert {f.row for f in findings} <= {ROW}


def test_options_show_in_the_reason_text() -> None:
    frame = valid_frame(ROWS_PER_CASE)
    frame.loc[ROW, "birth_weight_g"] = 5000
    findings, _ = validate_frame(frame, options={"weight_warn_max_g": 4000})
    assert [f.reason for f in findings] == ["birth_weight_g outside 500-4000 g"]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"weight_min": 100}, id="unknown-key"),
        pytest.param({"weight_min_g": 8000}, id="inverted-range"),
        pytest.param({"mother_age_min": 70}, id="inverted-age-range"),
    ],
)
def test_bad_options_are_rejected(options: dict) -> None:
    with pytest.raises(ValueError):
        expectations.build_suite(options=options)
    with pytest.raises(ValueError):
        validate_frame(valid_frame(2), options=options)


def test_defaults_are_documented_and_not_mutated() -> None:
    from tests.expectations.contract_options import assert_options_documented

    assert_options_documented("birth_certificates")
    assert DEFAULT_OPTIONS["cccd_province_prefixes"] is None
    expectations.build_suite(options={"max_issue_lag_days": 10})
    assert DEFAULT_OPTIONS["max_issue_lag_days"] == 365


# ---------------------------------------------------------------------------------------------
# custom expectations on their own


def test_packaged_personal_id_prefixes() -> None:
    prefixes = cccd_province_prefixes()
    assert len(prefixes) == len(set(prefixes)) == 63
    assert {"001", "079", "096"} <= set(prefixes)
    assert not {"000", "003", "097"} & set(prefixes)
    assert all(len(p) == 3 and p.isdigit() for p in prefixes)


PERSONAL_IDS = [
    ("001195012345", True),
    ("096300000001", True),
    ("00119501234", False),  # 11 digits
    ("0011950123456", False),  # 13 digits
    ("003195012345", False),  # 003 is not a province prefix
    ("0011950123a5", False),  # non-digit
    (" 01195012345", False),  # whitespace
    ("００１１９５０１２３４５", False),  # full-width digits
    ("001195012345\n", False),  # trailing newline
]


def test_personal_id_function() -> None:
    values = pd.Series([v for v, _ in PERSONAL_IDS] + [None], dtype="string")
    result = personal_id_is_valid(values, cccd_province_prefixes())
    assert result.tolist() == [ok for _, ok in PERSONAL_IDS] + [False]
    assert result.dtype == bool


def test_personal_id_expectation_alone() -> None:
    import great_expectations as gx

    from expectations.custom import ExpectColumnValuesToBeValidPersonalId

    suite = gx.ExpectationSuite(
        name="test.personal_id",
        expectations=[
            ExpectColumnValuesToBeValidPersonalId(
                column="id",
                meta={"rule_id": "T", "category": "conformance", "severity": "error", "reason": "bad id"},
            )
        ],
    )
    frame = pd.DataFrame({"id": pd.Series([v for v, _ in PERSONAL_IDS] + [None], dtype="string")})
    findings, summary = validate_with_suite(frame, suite, dataset="test_personal_id")
    bad_rows = [n for n, (_, ok) in enumerate(PERSONAL_IDS) if not ok]
    assert [f.row for f in findings] == bad_rows  # the NULL (last row) is ignored
    assert {f.expectation for f in findings} == {PERSONAL_ID}
    assert summary["per_rule"] == {"T": len(bad_rows)}


def test_row_conditions_are_rejected() -> None:
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    suite = gx.ExpectationSuite(
        name="test.row_condition",
        expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="a", row_condition=Column("b") == 1)],
    )
    with pytest.raises(ValueError, match="row conditions"):
        validate_with_suite(pd.DataFrame({"a": [1], "b": [1]}), suite)


def test_at_most_unless_expectation_alone() -> None:
    import great_expectations as gx

    from expectations.custom import ExpectColumnPairValuesAToBeAtMostUnlessB

    suite = gx.ExpectationSuite(
        name="test.at_most_unless",
        expectations=[
            ExpectColumnPairValuesAToBeAtMostUnlessB(
                column_A="a",
                column_B="b",
                max_value=10,
                meta={"rule_id": "T", "category": "plausibility", "severity": "error", "reason": "too big"},
            )
        ],
    )
    frame = pd.DataFrame(
        {
            "a": pd.array([10, 11, 11, 11, None, None], dtype="Float64"),
            "b": pd.array([False, False, True, None, True, None], dtype="boolean"),
        }
    )
    findings, _ = validate_with_suite(frame, suite, dataset="test_at_most_unless")
    assert [f.row for f in findings] == [1, 3]


# ---------------------------------------------------------------------------------------------
# privacy


PERSONAL_LOOKING = {
    "mother_full_name": "TRẦN THỊ BÍCH NGỌC",
    "mother_cccd": "07919501234",  # 11 digits → B7 fails
    "mother_social_insurance_no": "79123X5678",  # → B8 fails
    "mother_health_card_no": "HC7791234567890",  # level 7 → B8 fails
    "certificate_code": "PRIVATE-79-0042",  # → B1 fails
    "mother_ethnicity_code": "97",  # → B3 fails
    "birth_weight_g": 98765,  # → B4 fails
    "mother_age_at_birth": 87.25,  # → B6 fails
}


def test_no_data_value_leaves_the_runner(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    frame = valid_frame(ROWS_PER_CASE)
    for column, value in PERSONAL_LOOKING.items():
        frame.loc[ROW, column] = value
    with caplog.at_level(logging.DEBUG):
        findings, summary = validate_frame(frame)
    assert {f.rule_id for f in findings} == {"B1", "B3", "B4", "B6", "B7", "B8"}
    captured = capsys.readouterr()
    published = [repr(findings), repr(summary), json.dumps(summary), caplog.text, captured.out, captured.err]
    published += [str(getattr(f, name)) for f in findings for name in Finding.__dataclass_fields__]
    needles = {str(v) for v in PERSONAL_LOOKING.values()} | {"BÍCH NGỌC", "07919501234", "79123X5678", "98765", "87.25"}
    for text in published:
        for needle in needles:
            assert needle not in text


def test_summary_holds_counts_only() -> None:
    frame = valid_frame(ROWS_PER_CASE)
    frame.loc[ROW, "child_sex"] = 5
    _, summary = validate_frame(frame)
    assert set(summary) == {"rows", "expectation_count", "evaluated", "success_count", "per_rule"}
    assert all(isinstance(v, int) for k, v in summary.items() if k != "per_rule")
    assert all(isinstance(k, str) and isinstance(v, int) for k, v in summary["per_rule"].items())
    assert summary["per_rule"]["B3"] == 1
    json.dumps(summary)


def test_result_format_keeps_values_out() -> None:
    assert RESULT_FORMAT["result_format"] == "COMPLETE"
    assert RESULT_FORMAT["exclude_unexpected_values"] is True
    assert RESULT_FORMAT["partial_unexpected_count"] == 0
    assert RESULT_FORMAT["return_unexpected_index_query"] is False

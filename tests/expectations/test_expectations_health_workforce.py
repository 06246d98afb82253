"""Tests for the ``health_workforce.conformed`` suite (imitates the birth-certificate suite tests).

The rule cases (one or two mutated cells each) are stacked into one frame, 8 rows per case, and
validated with a single ``validate_frame`` call; every rule is row-level, so blocks cannot
interfere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from expectations import Finding, validate_frame
from expectations.compile import compiled
from expectations.reference import cccd_province_prefixes

_SUITE = compiled("health_workforce")
DEFAULT_OPTIONS = _SUITE.DEFAULT_OPTIONS
REQUIRED_COLUMNS = _SUITE.REQUIRED_COLUMNS
SUITE_NAME = _SUITE.SUITE_NAME
build_suite = _SUITE.build_suite
resolve_options = _SUITE.resolve_options


def title_keys(titles: tuple[str, ...]) -> list[str]:
    """The comparison form of titles (what the W1 rule's ``normalize: upper_vi`` makes of them)."""
    from transforms.text import upper_vi_str

    return sorted({upper_vi_str(t) for t in titles})

DATASET = "health_workforce"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_CASE = 8
ROW = 2  # the mutated row inside a case block (row 4 holds the frame's NULLs)
BATCH_CUTOFF = pd.Timestamp("2026-11-22 06:00")

NOT_NULL = "expect_column_values_to_not_be_null"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
NOT_IN_SET = "expect_column_values_to_not_be_in_set"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
PERSONAL_ID = "expect_column_values_to_be_valid_personal_id"

#: The spec's rule ids and severities (shared spec, section health_workforce).
SPEC_SEVERITIES = {
    "REQ": {"error"}, "W1": {"error"}, "W2": {"warning"}, "W3": {"error"}, "W4": {"warning"},
    "W5": {"warning"}, "DATE": {"error"}, "CODE": {"error"}, "X5": {"warning"},
}

Key = tuple[str, str, str, str]


def err(rule: str, expectation: str, column: str) -> Key:
    return (rule, "error", expectation, column)


def warn(rule: str, expectation: str, column: str) -> Key:
    return (rule, "warning", expectation, column)


def case(case_id: str, changes: Mapping[str, Any], *expected: Key) -> Any:
    return pytest.param(dict(changes), set(expected), id=case_id)


def valid_frame(rows: int = ROWS_PER_CASE) -> pd.DataFrame:
    """A workforce validation frame in which every row passes every rule (synthetic values).

    Optional columns are NULL on every fifth row so that "NULL is ignored" is covered too.
    """
    i = np.arange(rows)
    every_fifth = (i % 5) == 4
    prefixes = cccd_province_prefixes()
    titles = list(DEFAULT_OPTIONS["titles"])
    start = pd.Timestamp("2015-01-01") + pd.to_timedelta(i % 3000, unit="D")

    def nullable(values: object, dtype: str, null_mask: np.ndarray | None = None) -> pd.Series:
        series = pd.Series(values, dtype=dtype)
        return series.mask(null_mask) if null_mask is not None else series

    return pd.DataFrame(
        {
            "personal_id": nullable([f"{prefixes[n % len(prefixes)]}190{n:06d}" for n in i], "string", every_fifth),
            "full_name": nullable(["NGUYỄN VĂN MẪU"] * rows, "string"),
            "sex": nullable(1 + i % 2, "Int64", every_fifth),
            "title": nullable([titles[n % len(titles)] for n in i], "string"),
            "title_key": nullable(
                [titles[n % len(titles)].upper() for n in i], "string"
            ),
            "licence_number": nullable([f"{n:06d}/BYT-GPHN" for n in i], "string"),
            "licence_issuer": nullable(["Bộ Y tế"] * rows, "string"),
            "practice_facility_code": nullable(["79034"] * rows, "string"),
            "period_start": pd.Series(start, dtype="datetime64[ns]"),
            "period_end": pd.Series(start + pd.Timedelta(days=400), dtype="datetime64[ns]").mask(every_fifth),
            "last_change_date": pd.Series([pd.Timestamp("2026-11-20")] * rows, dtype="datetime64[ns]"),
            "batch_cutoff": pd.Series([BATCH_CUTOFF] * rows, dtype="datetime64[ns]"),
            "overlapping_practice": nullable([False] * rows, "boolean", every_fifth),
            "in_registry": nullable([True] * rows, "boolean", every_fifth),
        }
    )


CASES = [
    # REQ — required fields.
    *[case(f"REQ-{c}", {c: None}, err("REQ", NOT_NULL, c)) for c in REQUIRED_COLUMNS],
    # W1 — title list, after NFC + upper-casing (the frame carries the upper-cased title_key).
    case("W1-not-a-title", {"title_key": "PHÙ THỦY"}, err("W1", IN_SET, "title")),
    case("W1-without-diacritics", {"title_key": "BAC SI"}, err("W1", IN_SET, "title")),
    case("W1-lower-case-key-is-not-normalised", {"title_key": "bác sĩ"}, err("W1", IN_SET, "title")),
    case("W1-pharmacist-ok", {"title_key": "DƯỢC SĨ"}),
    case("W1-emergency-ok", {"title_key": "CẤP CỨU VIÊN NGOẠI VIỆN"}),
    case("W1-missing-ignored", {"title_key": None}),
    # W2 — licence number loose pattern.
    case("W2-letters-first", {"licence_number": "GP-12345"}, warn("W2", REGEX, "licence_number")),
    case("W2-eight-digits", {"licence_number": "00012345/BYT-GPHN"}, warn("W2", REGEX, "licence_number")),
    case("W2-four-digits", {"licence_number": "1234/BYT-GPHN"}, warn("W2", REGEX, "licence_number")),
    case("W2-lower-case", {"licence_number": "000123/byt-gphn"}, warn("W2", REGEX, "licence_number")),
    case("W2-unknown-suffix", {"licence_number": "000123/BYT-GPX"}, warn("W2", REGEX, "licence_number")),
    case("W2-trailing-newline", {"licence_number": "000123/BYT-GPHN\n"}, warn("W2", REGEX, "licence_number")),
    case("W2-old-certificate-ok", {"licence_number": "012345/HCM-CCHN"}),
    case("W2-pharmacist-ok", {"licence_number": "12345/HNO-CCHND"}),
    case("W2-seven-digits-ok", {"licence_number": "1234567/BYT-GPHN"}),
    case("W2-issuer-with-d-stroke-ok", {"licence_number": "000123/ĐNA-CCHN"}),
    # W3 — personal ID structure when present.
    case("W3-11-digits", {"personal_id": "00119001234"}, err("W3", PERSONAL_ID, "personal_id")),
    case("W3-bad-prefix", {"personal_id": "003190012345"}, err("W3", PERSONAL_ID, "personal_id")),
    case("W3-letter", {"personal_id": "0011900123a5"}, err("W3", PERSONAL_ID, "personal_id")),
    case("W3-ok", {"personal_id": "096190012345"}),
    case("W3-missing-ignored", {"personal_id": None}),
    # W4 — facility code of 5 digits.
    case("W4-letter", {"practice_facility_code": "7903A"}, warn("W4", REGEX, "practice_facility_code")),
    case("W4-four-digits", {"practice_facility_code": "7903"}, warn("W4", REGEX, "practice_facility_code")),
    case("W4-ok-leading-zero", {"practice_facility_code": "01929"}),
    # W5 — overlapping practice periods (derived flag).
    case("W5-overlap", {"overlapping_practice": True}, warn("W5", NOT_IN_SET, "overlapping_practice")),
    case("W5-not-checkable-ignored", {"overlapping_practice": None}),
    # DATE — period end before start; last change after the cut-off.
    case(
        "DATE-end-before-start",
        {"period_start": pd.Timestamp("2022-01-02"), "period_end": pd.Timestamp("2022-01-01")},
        err("DATE", PAIR_GREATER, "period_end"),
    ),
    case("DATE-end-on-start-ok", {"period_start": pd.Timestamp("2022-01-01"), "period_end": pd.Timestamp("2022-01-01")}),
    case("DATE-open-end-ok", {"period_end": None}),
    case(
        "DATE-changed-after-cutoff",
        {"last_change_date": BATCH_CUTOFF + pd.Timedelta(days=1)},
        err("DATE", PAIR_GREATER, "last_change_date"),
    ),
    case("DATE-changed-on-the-night-ok", {"last_change_date": BATCH_CUTOFF.normalize()}),
    # CODE — sex.
    case("CODE-sex-3", {"sex": 3}, err("CODE", IN_SET, "sex")),
    case("CODE-sex-0", {"sex": 0}, err("CODE", IN_SET, "sex")),
    case("CODE-sex-2-ok", {"sex": 2}),
    # X5 — not in the citizen registry.
    case("X5-not-in-registry", {"in_registry": False}, warn("X5", NOT_IN_SET, "in_registry")),
    case("X5-unknown-ignored", {"in_registry": None}),
]


def _key(finding: Finding) -> Key:
    return (finding.rule_id, finding.severity, finding.expectation, finding.column)


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return valid_frame(ROWS_PER_CASE)


@pytest.fixture(scope="module")
def stacked_results(base: pd.DataFrame) -> dict[str, dict[int, set[Key]]]:
    blocks = []
    for param in CASES:
        changes, _ = param.values
        block = base.copy()
        for column, value in changes.items():
            block.loc[ROW, column] = value
        blocks.append(block)
    frame = pd.concat(blocks, ignore_index=True)
    findings, _ = validate_frame(frame, DATASET)
    by_case: dict[str, dict[int, set[Key]]] = {param.id: {} for param in CASES}
    for finding in findings:
        param = CASES[finding.row // ROWS_PER_CASE]
        by_case[param.id].setdefault(finding.row % ROWS_PER_CASE, set()).add(_key(finding))
    return by_case


def _in_suite(options: dict | None = None) -> set[Key]:
    out = set()
    for expectation in build_suite(options).expectations:
        kwargs = expectation.configuration.kwargs
        meta = expectation.meta or {}
        column = meta.get("column") or kwargs.get("column") or kwargs.get("column_A")
        out.add((meta["rule_id"], meta["severity"], expectation.expectation_type, column))
    return out


def test_suite_is_named_and_every_expectation_has_meta() -> None:
    suite = build_suite()
    assert suite.name == SUITE_NAME == "health_workforce.conformed"
    keys = set()
    for expectation in suite.expectations:
        meta = expectation.meta or {}
        assert set(meta) >= {"rule_id", "category", "severity", "reason"}
        assert meta["category"] in {"conformance", "completeness", "plausibility"}
        assert expectation.severity == {"error": "critical", "warning": "warning"}[meta["severity"]]
        keys.add((expectation.expectation_type, meta["rule_id"], meta["reason"]))
    assert len(keys) == len(suite.expectations), "reasons must tell expectations apart"


def test_rule_ids_and_severities_are_the_spec_s() -> None:
    got: dict[str, set[str]] = {}
    for rule, severity, *_ in _in_suite():
        got.setdefault(rule, set()).add(severity)
    assert got == SPEC_SEVERITIES


def test_valid_frame_has_no_findings(base: pd.DataFrame) -> None:
    findings, summary = validate_frame(base, DATASET)
    assert findings == []
    assert summary["expectation_count"] == summary["evaluated"] == summary["success_count"]


def test_every_expectation_has_a_failing_case() -> None:
    covered = set().union(*(param.values[1] for param in CASES))
    assert _in_suite() == covered


@pytest.mark.parametrize(("changes", "expected"), CASES)
def test_rule_case(
    stacked_results: dict[str, dict[int, set[Key]]], request: pytest.FixtureRequest, changes: dict, expected: set[Key]
) -> None:
    rows = stacked_results[request.node.callspec.id]
    assert rows.get(ROW, set()) == expected
    assert set(rows) <= {ROW}, f"unexpected findings on other rows: {rows}"


def test_every_title_of_the_default_list_passes() -> None:
    frame = valid_frame(len(DEFAULT_OPTIONS["titles"]))
    frame["title_key"] = pd.Series(title_keys(DEFAULT_OPTIONS["titles"]), dtype="string")
    assert validate_frame(frame, DATASET)[0] == []


def test_title_keys_are_nfc_upper_case() -> None:
    import unicodedata

    keys = title_keys((unicodedata.normalize("NFD", "điều  dưỡng"), "Điều dưỡng"))
    assert keys == ["ĐIỀU DƯỠNG"]
    assert unicodedata.is_normalized("NFC", keys[0])


def test_wrong_dtype_is_rejected_not_quarantined() -> None:
    frame = valid_frame()
    frame["sex"] = frame["sex"].astype(str)
    with pytest.raises(ValueError, match=r"sex \(str, expected integer\)"):
        validate_frame(frame, DATASET)


def test_missing_column_is_rejected() -> None:
    with pytest.raises(ValueError, match="in_registry"):
        validate_frame(valid_frame().drop(columns=["in_registry"]), DATASET)


# ------------------------------------------------------------------------------------------------
# options


@pytest.mark.parametrize(
    ("options", "changes", "before", "after"),
    [
        pytest.param(
            {"titles": [*DEFAULT_OPTIONS["titles"], "Y tá"]}, {"title_key": "Y TÁ"},
            {("W1", "error")}, set(), id="titles",
        ),
        pytest.param(
            {"licence_number_regex": r"^[0-9]{5,8}/[A-ZĐ]{2,4}-(?:CCHN|GPHN|CCHND)\Z"},
            {"licence_number": "00012345/BYT-GPHN"}, {("W2", "warning")}, set(), id="licence-regex",
        ),
        pytest.param(
            {"cccd_province_prefixes": [p for p in cccd_province_prefixes() if p != "096"]},
            {"personal_id": "096190012345"}, set(), {("W3", "error")}, id="cccd-prefixes",
        ),
        pytest.param(
            {"facility_code_regex": r"^[0-9A-Z]{5}\Z"}, {"practice_facility_code": "7903A"},
            {("W4", "warning")}, set(), id="facility-regex",
        ),
        pytest.param({"sex_codes": [1, 2, 3]}, {"sex": 3}, {("CODE", "error")}, set(), id="sex-codes"),
    ],
)
def test_options_change_behaviour(options: dict, changes: dict, before: set, after: set) -> None:
    frame = valid_frame()
    for column, value in changes.items():
        frame.loc[ROW, column] = value
    assert {(f.rule_id, f.severity) for f in validate_frame(frame, DATASET)[0]} == before
    findings, _ = validate_frame(frame, DATASET, options=options)
    assert {(f.rule_id, f.severity) for f in findings} == after


@pytest.mark.parametrize("options", [{"title_list": []}, {"titles": []}])
def test_bad_options_are_rejected(options: dict) -> None:
    with pytest.raises(ValueError):
        build_suite(options)


def test_defaults_are_documented_and_not_mutated() -> None:
    from tests.expectations.contract_options import assert_options_documented

    assert_options_documented(DATASET)
    resolve_options({"sex_codes": [1]})
    assert DEFAULT_OPTIONS["cccd_province_prefixes"] is None
    assert DEFAULT_OPTIONS["sex_codes"] == (1, 2)


# ------------------------------------------------------------------------------------------------
# privacy


def test_no_data_value_leaves_the_runner(capsys: pytest.CaptureFixture[str]) -> None:
    personal = {
        "personal_id": "07919001234",  # 11 digits -> W3
        "licence_number": "LICENCE-PRIVATE-42",  # -> W2
        "practice_facility_code": "ZZ99Q",  # -> W4
        "title_key": "PHÙ THỦY BÍ MẬT",  # -> W1
    }
    frame = valid_frame()
    for column, value in personal.items():
        frame.loc[ROW, column] = value
    findings, summary = validate_frame(frame, DATASET)
    assert {f.rule_id for f in findings} == {"W1", "W2", "W3", "W4"}
    captured = capsys.readouterr()
    published = [repr(findings), json.dumps(summary), captured.out, captured.err]
    for text in published:
        for needle in personal.values():
            assert needle not in text

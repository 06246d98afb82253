"""Tests for the ``driver_health_checks.conformed`` suite (shared spec rules REQ, K1–K7, CODE, P1, X2).

Same layout as the birth-certificate suite tests: every rule case mutates row ``ROW`` of an
8-row block of a frame that passes every rule; the blocks are stacked and validated with one
``validate_frame`` call.
"""

from __future__ import annotations

import datetime as dt
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

from expectations import Finding, validate_frame
from expectations.compile import compiled
from expectations.reference import cccd_province_prefixes, within_bounds_for

_SUITE = compiled("driver_health_checks")
COLUMN_KINDS = _SUITE.COLUMN_KINDS
DEFAULT_OPTIONS = _SUITE.DEFAULT_OPTIONS
REQUIRED_COLUMNS = _SUITE.REQUIRED_COLUMNS
SUITE_NAME = _SUITE.SUITE_NAME
build_suite = _SUITE.build_suite
resolve_options = _SUITE.resolve_options

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATASET = "driver_health_checks"
ROWS_PER_CASE = 8
ROW = 2
CUTOFF = pd.Timestamp("2026-01-06 00:00")

NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
NOT_IN_SET = "expect_column_values_to_not_be_in_set"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
BOUNDS = "expect_column_pair_values_a_to_be_within_bounds_for_b"
PERSONAL_ID = "expect_column_values_to_be_valid_personal_id"

#: Rule ids and severities of the shared spec for this dataset.
SPEC_SEVERITIES = {
    "REQ": {"error"},
    "K1": {"error", "warning"},
    "K2": {"warning"},
    "K3": {"error"},
    "K4": {"error"},
    "K6": {"error"},
    "K7": {"error"},
    "CODE": {"error"},
    "P1": {"error"},
    "X2": {"warning"},
}

Key = tuple[str, str, str, str]


def valid_frame(rows: int = ROWS_PER_CASE) -> pd.DataFrame:
    """A driver validation frame in which every row passes every rule (synthetic values)."""
    i = np.arange(rows)
    prefixes = cccd_province_prefixes()
    classes = np.array(["B", "C", "A1", "D", "B"])[i % 5]
    every_fifth = (i % 5) == 4
    conclusion = pd.Timestamp("2026-01-05") - pd.to_timedelta(i % 30, unit="D")
    exam = conclusion - pd.to_timedelta(i % 2, unit="D")

    def s(values: Any, dtype: str, null_mask: np.ndarray | None = None) -> pd.Series:
        series = pd.Series(values, dtype=dtype)
        return series.mask(null_mask) if null_mask is not None else series

    return pd.DataFrame(
        {
            "certificate_number": s([f"{k:05d}/GKSKLX/24009/26" for k in i], "string"),
            "full_name": s(["NGUYỄN VĂN MẪU"] * rows, "string"),
            "birth_date": pd.Series([pd.Timestamp("1990-06-15")] * rows, dtype="datetime64[ns]"),
            "id_number": s([f"{prefixes[k % len(prefixes)]}090{k:06d}" for k in i], "string"),
            "conclusion_date": pd.Series(conclusion, dtype="datetime64[ns]"),
            "conclusion_code": s(np.array(["A0-1", "A0-2", "A0-3"])[i % 3], "string"),
            "licence_class": s(classes, "string"),
            "state": s(np.where(i % 6 == 5, "EDIT", "ADD"), "string"),
            "sex": s(1 + i % 2, "Int64", every_fifth),
            "drug_test_result": s([0] * rows, "Int64", every_fifth & ~np.isin(classes, ["C", "D"])),
            "drug_tested": s([1] * rows, "Int64"),
            "drug_test_positive": s([0] * rows, "Int64", every_fifth & ~np.isin(classes, ["C", "D"])),
            "exam_date": pd.Series(exam, dtype="datetime64[ns]").mask(every_fifth),
            "batch_cutoff": pd.Series([CUTOFF] * rows, dtype="datetime64[ns]"),
            "licence_class_mapped": s(classes, "string"),
            "age_at_exam": s(35 + i % 3, "Int64"),
            "personal_id": s([f"{prefixes[k % len(prefixes)]}090{k:06d}" for k in i], "string", every_fifth),
            "duplicate_first_issue": s([False] * rows, "boolean"),
            "edit_unmatched": s([False] * rows, "boolean", every_fifth),
            "died_before_exam": s([False] * rows, "boolean", ~(i % 3 == 0)),
        }
    )


def err(rule: str, expectation: str, column: str) -> Key:
    return (rule, "error", expectation, column)


def warn(rule: str, expectation: str, column: str) -> Key:
    return (rule, "warning", expectation, column)


def case(case_id: str, changes: Mapping[str, Any], *expected: Key) -> Any:
    return pytest.param(dict(changes), set(expected), id=case_id)


LATE = CUTOFF + pd.Timedelta(days=1)

CASES = [
    # REQ
    *[case(f"REQ-{c}", {c: None}, err("REQ", NOT_NULL, c)) for c in REQUIRED_COLUMNS],
    # K1 — class sets; a legacy class is flagged, an unknown class quarantined.
    case("K1-unknown-class", {"licence_class": "Z9", "licence_class_mapped": None}, err("K1", IN_SET, "licence_class")),
    case(
        "K1-lower-case-not-normalised",
        {"licence_class": "b", "licence_class_mapped": None},
        err("K1", IN_SET, "licence_class"),
    ),
    case("K1-legacy-B2", {"licence_class": "B2", "licence_class_mapped": "B"}, warn("K1", NOT_IN_SET, "licence_class")),
    case("K1-legacy-E", {"licence_class": "E", "licence_class_mapped": "D"}, warn("K1", NOT_IN_SET, "licence_class")),
    case("K1-new-DE-ok", {"licence_class": "DE", "licence_class_mapped": "DE"}),
    # K2 — minimum age by (mapped) class.
    case(
        "K2-19-for-D",
        {"licence_class": "D", "licence_class_mapped": "D", "age_at_exam": 19},
        warn("K2", BOUNDS, "age_at_exam"),
    ),
    case(
        "K2-26-for-D",
        {"licence_class": "D", "licence_class_mapped": "D", "age_at_exam": 26},
        warn("K2", BOUNDS, "age_at_exam"),
    ),
    case("K2-27-for-D-ok", {"licence_class": "D", "licence_class_mapped": "D", "age_at_exam": 27}),
    case("K2-17-for-A1", {"age_at_exam": 17}, warn("K2", BOUNDS, "age_at_exam")),
    case("K2-18-for-A1-ok", {"licence_class": "A1", "licence_class_mapped": "A1", "age_at_exam": 18}),
    case(
        "K2-20-for-C",
        {"licence_class": "C", "licence_class_mapped": "C", "age_at_exam": 20},
        warn("K2", BOUNDS, "age_at_exam"),
    ),
    case(
        "K2-legacy-E-judged-as-D",
        {"licence_class": "E", "licence_class_mapped": "D", "age_at_exam": 25},
        warn("K1", NOT_IN_SET, "licence_class"),
        warn("K2", BOUNDS, "age_at_exam"),
    ),
    case(
        "K2-unmapped-class-not-judged",
        {"licence_class": "A4", "licence_class_mapped": None, "age_at_exam": 16},
        warn("K1", NOT_IN_SET, "licence_class"),
    ),
    case("K2-age-unknown-ignored", {"age_at_exam": None}),
    # K3 — group-3 class without a drug test.
    case(
        "K3-C-untested",
        {"licence_class": "C", "licence_class_mapped": "C", "drug_tested": 0, "drug_test_result": None},
        err("K3", BOUNDS, "drug_test_result"),
    ),
    case(
        "K3-DE-untested",
        {"licence_class": "DE", "licence_class_mapped": "DE", "drug_tested": 0, "drug_test_result": None},
        err("K3", BOUNDS, "drug_test_result"),
    ),
    case(
        "K3-B-untested-ok",
        {"licence_class": "B", "licence_class_mapped": "B", "drug_tested": 0, "drug_test_result": None},
    ),
    case(
        "K3-legacy-E-not-group-3-as-sent",
        {"licence_class": "E", "licence_class_mapped": "D", "drug_tested": 0, "drug_test_result": None},
        warn("K1", NOT_IN_SET, "licence_class"),
    ),
    # K4 — positive drug test with a fit conclusion.
    case(
        "K4-positive-fit",
        {"drug_test_result": 1, "drug_test_positive": 1, "conclusion_code": "A0-1"},
        err("K4", BOUNDS, "drug_test_result"),
    ),
    case("K4-positive-unfit-ok", {"drug_test_result": 1, "drug_test_positive": 1, "conclusion_code": "A0-2"}),
    case("K4-positive-reexam-ok", {"drug_test_result": 1, "drug_test_positive": 1, "conclusion_code": "A0-3"}),
    case("K4-negative-fit-ok", {"drug_test_result": 0, "drug_test_positive": 0, "conclusion_code": "A0-1"}),
    case(
        "K4-code-2-is-not-positive",
        {"drug_test_result": 2, "drug_test_positive": None, "conclusion_code": "A0-1"},
        err("CODE", IN_SET, "drug_test_result"),
    ),
    # K6 — exam <= conclusion <= cut-off.
    case(
        "K6-exam-after-conclusion",
        {"exam_date": pd.Timestamp("2026-01-06"), "conclusion_date": pd.Timestamp("2026-01-05")},
        err("K6", PAIR_GREATER, "exam_date"),
    ),
    case(
        "K6-exam-same-day-ok", {"exam_date": pd.Timestamp("2026-01-05"), "conclusion_date": pd.Timestamp("2026-01-05")}
    ),
    case("K6-exam-missing-ok", {"exam_date": None}),
    case(
        "K6-conclusion-after-cutoff",
        {"conclusion_date": LATE, "exam_date": None},
        err("K6", PAIR_GREATER, "conclusion_date"),
    ),
    case("K6-conclusion-at-cutoff-ok", {"conclusion_date": CUTOFF, "exam_date": None}),
    # K7 — EDIT of an unknown key; a second, different ADD.
    case("K7-edit-unmatched", {"state": "EDIT", "edit_unmatched": True}, err("K7", NOT_IN_SET, "edit_unmatched")),
    case("K7-edit-matched-ok", {"state": "EDIT", "edit_unmatched": False}),
    case("K7-edit-unknown-ok", {"state": "EDIT", "edit_unmatched": None}),
    case("K7-duplicate-add", {"duplicate_first_issue": True}, err("K7", NOT_IN_SET, "duplicate_first_issue")),
    # CODE — code lists.
    case("CODE-sex-0", {"sex": 0}, err("CODE", IN_SET, "sex")),
    case("CODE-sex-3", {"sex": 3}, err("CODE", IN_SET, "sex")),
    case("CODE-conclusion", {"conclusion_code": "A0-4"}, err("CODE", IN_SET, "conclusion_code")),
    case("CODE-conclusion-lower", {"conclusion_code": "a0-1"}, err("CODE", IN_SET, "conclusion_code")),
    case("CODE-state", {"state": "REMOVE"}, err("CODE", IN_SET, "state")),
    case("CODE-state-delete-ok", {"state": "DELETE"}),
    # P1 — personal ID structure.
    case("P1-bad-prefix", {"personal_id": "003090012345"}, err("P1", PERSONAL_ID, "id_number")),
    case("P1-11-digits", {"personal_id": "00109001234"}, err("P1", PERSONAL_ID, "id_number")),
    case("P1-10-digits", {"personal_id": "0010900123"}, err("P1", PERSONAL_ID, "id_number")),
    case("P1-13-digits", {"personal_id": "0010900123456"}, err("P1", PERSONAL_ID, "id_number")),
    case("P1-ok", {"personal_id": "096090012345"}),
    case("P1-not-a-personal-id-ignored", {"personal_id": None, "id_number": "B1234567"}),
    # X2 — cross-dataset death before the exam.
    case("X2-died-before-exam", {"died_before_exam": True}, warn("X2", NOT_IN_SET, "died_before_exam")),
    case("X2-unknown-ok", {"died_before_exam": None}),
]


@pytest.fixture(scope="module")
def stacked_results() -> dict[str, dict[int, set[Key]]]:
    blocks = []
    for param in CASES:
        changes, _ = param.values
        block = valid_frame()
        for column, value in changes.items():
            block.loc[ROW, column] = value
        blocks.append(block)
    frame = pd.concat(blocks, ignore_index=True)
    findings, _ = validate_frame(frame, DATASET)
    results: dict[str, dict[int, set[Key]]] = {param.id: {} for param in CASES}
    for f in findings:
        param = CASES[f.row // ROWS_PER_CASE]
        results[param.id].setdefault(f.row % ROWS_PER_CASE, set()).add((f.rule_id, f.severity, f.expectation, f.column))
    return results


@pytest.mark.parametrize(("changes", "expected"), CASES)
def test_rule_case(stacked_results, request, changes, expected) -> None:
    rows = stacked_results[request.node.callspec.id]
    assert rows.get(ROW, set()) == expected
    assert set(rows) <= {ROW}, f"unexpected findings on other rows: {rows}"


def test_valid_frame_has_no_findings() -> None:
    findings, summary = validate_frame(valid_frame(40), DATASET)
    assert findings == []
    assert summary["expectation_count"] == summary["evaluated"] == summary["success_count"]


def test_every_expectation_has_a_failing_case() -> None:
    in_suite = set()
    for expectation in build_suite().expectations:
        kwargs = expectation.configuration.kwargs
        m = expectation.meta or {}
        column = m.get("column") or kwargs.get("column") or kwargs.get("column_A")
        in_suite.add((m["rule_id"], m["severity"], expectation.expectation_type, column))
    covered = set().union(*(param.values[1] for param in CASES))
    assert in_suite == covered


def test_rule_ids_and_severities_are_the_spec_ones() -> None:
    suite = build_suite()
    assert suite.name == SUITE_NAME
    found: dict[str, set[str]] = {}
    keys = set()
    for expectation in suite.expectations:
        m = expectation.meta
        found.setdefault(m["rule_id"], set()).add(m["severity"])
        assert m["category"] in {"conformance", "completeness", "plausibility"}
        assert expectation.severity == {"error": "critical", "warning": "warning"}[m["severity"]]
        keys.add((expectation.expectation_type, m["rule_id"], m["reason"]))
    assert found == SPEC_SEVERITIES
    assert len(keys) == len(suite.expectations), "reasons must tell expectations apart"


def test_frame_kinds_cover_every_column_the_suite_reads() -> None:
    from expectations.runner import plan_frame

    assert set(plan_frame(build_suite()).columns) == set(COLUMN_KINDS)
    assert set(valid_frame().columns) == set(COLUMN_KINDS)


def test_wrong_dtype_is_rejected() -> None:
    frame = valid_frame()
    frame["age_at_exam"] = frame["age_at_exam"].astype(str)
    with pytest.raises(ValueError, match="age_at_exam"):
        validate_frame(frame, DATASET)


# ------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("options", "changes", "before", "after"),
    [
        pytest.param(
            {"min_age_by_class": {**DEFAULT_OPTIONS["min_age_by_class"], "D": 24}},
            {"licence_class": "D", "licence_class_mapped": "D", "age_at_exam": 25},
            {("K2", "warning")},
            set(),
            id="min-age-table",
        ),
        pytest.param(
            {"group3_classes": ["C"]},
            {"licence_class": "D", "licence_class_mapped": "D", "drug_tested": 0, "drug_test_result": None},
            {("K3", "error")},
            set(),
            id="group3-list",
        ),
        pytest.param(
            {"legacy_classes": ["B2", "E"]},
            {"licence_class": "FE", "licence_class_mapped": "DE"},
            {("K1", "warning")},
            {("K1", "error")},
            id="legacy-list",
        ),
        pytest.param(
            {"new_classes": [*DEFAULT_OPTIONS["new_classes"], "B2"], "legacy_classes": ["E"]},
            {"licence_class": "B2"},
            {("K1", "warning")},
            set(),
            id="new-list",
        ),
        pytest.param(
            {"fit_conclusion_codes": ["A0-1", "A0-3"]},
            {"drug_test_result": 1, "drug_test_positive": 1, "conclusion_code": "A0-3"},
            set(),
            {("K4", "error")},
            id="fit-codes",
        ),
        pytest.param(
            {"cccd_province_prefixes": [p for p in cccd_province_prefixes() if p != "096"]},
            {"personal_id": "096090012345"},
            set(),
            {("P1", "error")},
            id="cccd-prefixes",
        ),
        pytest.param(
            {"state_codes": ["ADD", "EDIT"]},
            {"state": "DELETE"},
            set(),
            {("CODE", "error")},
            id="state-codes",
        ),
    ],
)
def test_options_change_behaviour(options, changes, before, after) -> None:
    frame = valid_frame()
    for column, value in changes.items():
        frame.loc[ROW, column] = value
    assert {(f.rule_id, f.severity) for f in validate_frame(frame, DATASET)[0]} == before
    findings, _ = validate_frame(frame, DATASET, options=options)
    assert {(f.rule_id, f.severity) for f in findings} == after
    assert {f.row for f in findings} <= {ROW}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"min_age": 18}, id="unknown-key"),
        pytest.param({"fit_conclusion_codes": ["A0-9"]}, id="fit-code-not-a-conclusion"),
        pytest.param({"min_age_by_class": {"B": -1}}, id="negative-age"),
    ],
)
def test_bad_options_are_rejected(options) -> None:
    with pytest.raises(ValueError):
        build_suite(options)
    with pytest.raises(ValueError):
        validate_frame(valid_frame(2), DATASET, options=options)


def test_defaults_are_documented_and_not_mutated() -> None:
    from tests.expectations.contract_options import assert_options_documented

    assert_options_documented(DATASET)
    resolve_options({"min_age_by_class": {"B": 30}})
    assert DEFAULT_OPTIONS["min_age_by_class"]["B"] == 18
    assert DEFAULT_OPTIONS["cccd_province_prefixes"] is None


def test_class_lists_agree_with_the_derivation_defaults() -> None:
    from transforms.drivers import LEGACY_CLASS_MAP, LEGACY_CLASSES, NEW_CLASSES

    assert tuple(DEFAULT_OPTIONS["new_classes"]) == NEW_CLASSES
    assert tuple(DEFAULT_OPTIONS["legacy_classes"]) == LEGACY_CLASSES
    assert set(LEGACY_CLASS_MAP) <= set(LEGACY_CLASSES)
    assert set(LEGACY_CLASS_MAP.values()) <= set(NEW_CLASSES) == set(DEFAULT_OPTIONS["min_age_by_class"])
    assert set(DEFAULT_OPTIONS["group3_classes"]) <= set(NEW_CLASSES)


# ------------------------------------------------------------------------------ custom expectation


def test_within_bounds_function() -> None:
    values = pd.Series([17, 18, 30, None, 5, 2], dtype="Int64")
    selectors = pd.Series(["B", "B", "D", "D", None, "X"], dtype="string")
    got = within_bounds_for(values, selectors, {"B": (18, None), "D": (27, 40)})
    assert got.tolist() == [False, True, True, True, True, True]
    high = within_bounds_for(pd.Series([0.0, 1.0, 1.0]), pd.Series(["A0-1", "A0-1", "A0-2"]), {"A0-1": (None, 0)})
    assert high.tolist() == [True, False, True]


def test_bounds_expectation_alone_and_on_categoricals() -> None:
    import great_expectations as gx

    from expectations.custom import ExpectColumnPairValuesAToBeWithinBoundsForB as Bounds
    from expectations.runner import validate_with_suite

    suite = gx.ExpectationSuite(
        name="test.bounds",
        expectations=[
            Bounds(
                column_A="a",
                column_B="b",
                bounds={"x": [1, 2]},
                meta={"rule_id": "T", "category": "plausibility", "severity": "error", "reason": "out of bounds"},
            )
        ],
    )
    frame = pd.DataFrame({"a": [0.0, 1.0, 3.0, np.nan, 9.0], "b": pd.Categorical(["x", "x", "x", "x", None])})
    findings, _ = validate_with_suite(frame, suite, dataset="test_bounds")
    assert [f.row for f in findings] == [0, 2]


# ------------------------------------------------------------------------------ privacy, laziness


def test_no_data_value_leaves_the_runner(caplog, capsys) -> None:
    frame = valid_frame()
    personal = {
        "full_name": "TRẦN VĂN BÍ MẬT",
        "personal_id": "07909001234",
        "licence_class": "Q7Q",
        "conclusion_code": "ZZ-9",
        "age_at_exam": 13,
    }
    for column, value in personal.items():
        frame.loc[ROW, column] = value
    with caplog.at_level(logging.DEBUG):
        findings, summary = validate_frame(frame, DATASET)
    assert {f.rule_id for f in findings} == {"K1", "CODE", "P1", "K2"}
    captured = capsys.readouterr()
    published = [repr(findings), json.dumps(summary), caplog.text, captured.out, captured.err]
    published += [str(getattr(f, name)) for f in findings for name in Finding.__dataclass_fields__]
    for text in published:
        for needle in ("BÍ MẬT", "07909001234", "Q7Q", "ZZ-9"):
            assert needle not in text


def test_importing_the_suite_compiler_does_not_import_gx() -> None:
    code = (
        "import sys, expectations.compile as m; m.compiled('driver_health_checks').COLUMN_KINDS; "
        "print('great_expectations' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert out.stdout.split() == ["False", "False"]


def test_derived_frame_end_to_end() -> None:
    """Raw gksk records -> normalize -> derive -> the batch runner's frame -> findings."""
    import pyarrow as pa

    from config.contracts import load_contract
    from pipeline.stages.judge import validation_frame as _validation_frame
    from transforms.drivers import derive_validation_columns
    from transforms.normalize import normalize

    good = {
        "SO": "00001/GKSKLX/24009/26",
        "HOTEN": "Lê Văn Hải",
        "GIOITINHVAL": "0",
        "NGAYSINH": "15/06/1990",
        "SOCMND_PASSPORT": "001090012345",
        "NGAYKHAM": "04/01/2026",
        "MATUY": "0",
        "NGAYKETLUAN": "05/01/2026",
        "KETLUAN": "A0-1",
        "HANGBANGLAI": "C",
        "STATE": "ADD",
    }
    rows = [
        good,
        good | {"SO": "00002/GKSKLX/24009/26", "HANGBANGLAI": "b2"},  # K1 warning
        good | {"SO": "00003/GKSKLX/24009/26", "MATUY": None},  # K3
        good | {"SO": "00004/GKSKLX/24009/26", "MATUY": "1"},  # K4
        good | {"SO": "00005/GKSKLX/24009/26", "NGAYSINH": "15/06/2005", "HANGBANGLAI": "D"},  # K2
        good | {"SO": "00006/GKSKLX/24009/26", "STATE": "EDIT"},  # K7 (staging says unknown)
        good | {"SO": "00007/GKSKLX/24009/26", "SOCMND_PASSPORT": "00109001234"},  # P1
        good | {"SO": "00008/GKSKLX/24009/26", "SOCMND_PASSPORT": "001090099999"},  # X2
        good | {"SO": "00009/GKSKLX/24009/26", "NGAYKETLUAN": "07/01/2026", "NGAYKHAM": None},  # K6 future
    ]
    names = sorted({k for r in rows for k in r})
    raw = pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in names})
    contract = load_contract(DATASET)

    class Ctx:
        def death_dates(self, ids: pa.Array) -> pa.Array:
            return pa.array(
                [dt.date(2025, 12, 1) if i == "001090099999" else None for i in ids.to_pylist()], pa.date32()
            )

        def existing_keys(self, dataset: str, keys: pa.Array) -> pa.Array:
            return pa.array([False] * len(keys))

    table = derive_validation_columns(
        normalize(raw, contract, "gksk_jsonl").table, "24009", dt.datetime(2026, 1, 6), Ctx()
    )
    table = table.append_column("duplicate_first_issue", pa.array([False] * len(rows)))
    frame = _validation_frame(table, contract.validation_columns, {n for n, c in contract.columns.items() if c.type == "bool"})
    findings, _ = validate_frame(frame, DATASET)
    assert sorted((f.row, f.rule_id, f.severity) for f in findings) == [
        (1, "K1", "warning"),
        (2, "K3", "error"),
        (3, "K4", "error"),
        (4, "K2", "warning"),
        (5, "K7", "error"),
        (6, "P1", "error"),
        (7, "X2", "warning"),
        (8, "K6", "error"),
    ]

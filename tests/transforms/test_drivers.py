"""Driver health certificates: contract-driven normalization and the derivations of transforms/drivers.py."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from config.contracts import load_contract
from transforms.drivers import (
    FIRST_ISSUE_COLUMN,
    add_earlier_in_chunk,
    add_months,
    completed_years,
    derive_validation_columns,
    edit_unmatched,
    map_licence_class,
    validity_end,
)
from transforms.normalize import normalize

DATASET = "driver_health_checks"
VALIDATION_COLUMNS = load_contract(DATASET).validation_columns
FACILITY = "24009"
CUTOFF = dt.datetime(2026, 1, 6)
GOOD = {
    "SO": "00001/GKSKLX/24009/26",
    "HOTEN": "Nguyễn Văn An",
    "GIOITINHVAL": "0",
    "NGAYSINH": "15/06/1990",
    "SOCMND_PASSPORT": "001090012345",
    "NGAYKHAM": "04/01/2026",
    "MATUY": "0",
    "NGAYKETLUAN": "05/01/2026",
    "KETLUAN": "A0-1",
    "HANGBANGLAI": "B",
    "STATE": "ADD",
}


def _raw(rows: list[dict[str, str | None]], fmt: str = "gksk_jsonl") -> pa.Table:
    lower = fmt == "csv"
    names = sorted({k for r in rows for k in r})
    cols = {(k.lower() if lower else k): [r.get(k) for r in rows] for k in names}
    cols["_source_ref"] = [f"line {i + 1}" for i in range(len(rows))]
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})


def _normalize(rows: list[dict[str, str | None]], fmt: str = "gksk_jsonl"):
    return normalize(_raw(rows, fmt), load_contract(DATASET), fmt)


def _derive(rows: list[dict[str, str | None]], context=None, fmt: str = "gksk_jsonl", **kwargs) -> list[dict]:
    table = _normalize(rows, fmt).table
    return derive_validation_columns(table, FACILITY, CUTOFF, context, **kwargs).to_pylist()


def _failures(norm) -> dict[str, tuple[str, list[int]]]:
    return {f.column: (f.rule_id, np.flatnonzero(f.rows).tolist()) for f in norm.failures}


class FakeContext:
    """An in-memory LookupContext: death dates and current staging keys."""

    def __init__(
        self, deaths: dict[str, dt.date] | None = None, keys: set[str] | None = None, unknown_keys: bool = False
    ) -> None:
        self.deaths = deaths or {}
        self.keys = keys or set()
        self.unknown_keys = unknown_keys
        self.asked: list[list[str]] = []

    def death_dates(self, person_ids: pa.Array) -> pa.Array:
        return pa.array([self.deaths.get(p) for p in person_ids.to_pylist()], pa.date32())

    def death_notice_codes(self, person_ids: pa.Array) -> pa.Array:
        return pa.nulls(len(person_ids), pa.string())

    def registry_sex(self, person_ids: pa.Array) -> pa.Array:
        return pa.nulls(len(person_ids), pa.int32())

    def in_registry(self, person_ids: pa.Array) -> pa.Array:
        return pa.nulls(len(person_ids), pa.bool_())

    def existing_keys(self, dataset: str, keys: pa.Array) -> pa.Array:
        assert dataset == DATASET
        self.asked.append(keys.to_pylist())
        if self.unknown_keys:
            return pa.nulls(len(keys), pa.bool_())
        return pa.array([k in self.keys for k in keys.to_pylist()], pa.bool_())


# ------------------------------------------------------------------------------ normalization


@pytest.mark.parametrize(
    ("fmt", "raw_sex", "expected", "failed"),
    [
        pytest.param("gksk_jsonl", "0", 1, False, id="jsonl-0-male"),
        pytest.param("gksk_jsonl", "1", 2, False, id="jsonl-1-female"),
        pytest.param("gksk_jsonl", "2", None, True, id="jsonl-2-outside"),
        pytest.param("gksk_api", "0", 1, False, id="api-uses-gksk-codes"),
        pytest.param("gksk_api", "2", None, True, id="api-2-outside"),
        pytest.param("csv", "1", 1, False, id="csv-1-male"),
        pytest.param("csv", "2", 2, False, id="csv-2-female"),
        pytest.param("csv", "0", None, True, id="csv-0-outside"),
    ],
)
def test_sex_code_system_per_source(fmt, raw_sex, expected, failed):
    norm = _normalize([GOOD | {"GIOITINHVAL": raw_sex}], fmt)
    assert norm.table.column("sex").to_pylist() == [expected]
    assert _failures(norm).get("sex") == (("CODE", [0]) if failed else None)


def test_api_and_csv_read_the_same_fields_as_jsonl():
    jsonl = _normalize([GOOD]).table.drop_columns(["_source_ref"])
    api = _normalize([GOOD], "gksk_api").table.drop_columns(["_source_ref"])
    csv = _normalize([GOOD | {"GIOITINHVAL": "1"}], "csv").table.drop_columns(["_source_ref"])
    assert jsonl.equals(api) and jsonl.equals(csv)
    row = jsonl.to_pylist()[0]
    assert row["certificate_number"] == GOOD["SO"] and row["full_name"] == "NGUYỄN VĂN AN"


@pytest.mark.parametrize(
    ("column", "tag", "value"),
    [
        pytest.param("birth_date", "NGAYSINH", "31/02/1990", id="birth-31-feb"),
        pytest.param("conclusion_date", "NGAYKETLUAN", "31/02/2026", id="conclusion-31-feb"),
        pytest.param("exam_date", "NGAYKHAM", "32/01/2026", id="exam-day-32"),
        pytest.param("reexam_date", "NGAYKHAMLAI", "01/13/2026", id="reexam-month-13"),
        pytest.param("id_issue_date", "NGAYTHANGNAMCAPCMND", "2026-01-01", id="iso-not-a-gksk-form"),
    ],
)
def test_impossible_dates_are_k6_parse_failures(column, tag, value):
    norm = _normalize([GOOD | {tag: value}])
    assert norm.table.column(column).to_pylist() == [None]
    assert _failures(norm) == {column: ("K6", [0])}


def test_dates_parse_dd_mm_yyyy():
    row = _normalize([GOOD]).table.to_pylist()[0]
    assert (row["birth_date"], row["exam_date"], row["conclusion_date"]) == (
        dt.date(1990, 6, 15),
        dt.date(2026, 1, 4),
        dt.date(2026, 1, 5),
    )


@pytest.mark.parametrize(
    ("raw", "value", "failed"),
    [("0", 0, False), ("1", 1, False), ("2", 2, False), (None, None, False), ("x", None, True)],
)
def test_drug_test_result_is_an_int_code(raw, value, failed):
    norm = _normalize([GOOD | {"MATUY": raw}])
    assert norm.table.column("drug_test_result").to_pylist() == [value]
    assert ("drug_test_result" in _failures(norm)) is failed


def test_derived_contract_columns_are_null_after_normalize_and_filled_by_derive():
    norm = _normalize([GOOD | {"HANGBANGLAI": "b2"}])
    assert norm.table.column("valid_until").to_pylist() == [None]
    assert norm.table.column("licence_class_mapped").to_pylist() == [None]
    assert norm.failures == []
    out = derive_validation_columns(norm.table, FACILITY, CUTOFF)
    assert out.column_names[: norm.table.num_columns] == norm.table.column_names  # overwritten in place
    row = out.to_pylist()[0]
    assert (row["licence_class"], row["licence_class_mapped"], row["valid_until"]) == ("B2", "B", dt.date(2027, 1, 5))


def test_derived_columns_are_stored_contract_columns():
    from loaders.schema import data_columns

    contract = load_contract(DATASET)
    stored = [n for n, _ in data_columns(contract)]
    assert {"valid_until", "licence_class_mapped", "facility_code"} <= set(stored)
    assert not contract.columns["valid_until"].sources and not contract.columns["licence_class_mapped"].sources
    out = derive_validation_columns(_normalize([GOOD]).table, FACILITY, CUTOFF)
    assert set(stored) - {
        "source_format",
        "spec_version",
        "source_file",
        "source_ref",
        "batch_id",
        "record_hash",
        "version_key",
        "record_status",
    } <= set(out.column_names)


def test_contract_shape():
    contract = load_contract(DATASET)
    assert contract.natural_key == ("certificate_number", "licence_class")
    assert contract.event_date == "conclusion_date" and contract.columns["conclusion_date"].type == "date"
    assert contract.partition_by == ("conclusion_year", "conclusion_month")
    assert set(contract.source_formats) == {"gksk_jsonl", "csv", "gksk_api"}
    assert contract.source_formats["gksk_api"].columns_as == "gksk_jsonl"
    assert contract.columns["id_number"].pseudonym_domain == "person"
    assert contract.columns["birth_date"].curated == "year"
    assert all(contract.columns[c].pii == "direct" for c in ("full_name", "id_number", "concluding_doctor"))


# ------------------------------------------------------------------------------ K1, K5, K2


@pytest.mark.parametrize(
    ("sent", "mapped"),
    [
        ("B", "B"),
        ("DE", "DE"),
        ("B2", "B"),
        ("E", "D"),
        ("FC", "CE"),
        ("A4", None),
        ("F", None),
        ("Z9", None),
        (None, None),
    ],
)
def test_map_licence_class(sent, mapped):
    assert map_licence_class(pa.array([sent], pa.string())).to_pylist() == [mapped]


def test_legacy_class_map_is_an_option():
    got = _derive([GOOD | {"HANGBANGLAI": "B2"}], legacy_class_map={"B2": "C1"})
    assert got[0]["licence_class_mapped"] == "C1"


def test_licence_class_key_is_upper_cased_and_trimmed():
    got = _derive([GOOD | {"HANGBANGLAI": "  c1e "}])
    assert got[0]["licence_class"] == "C1E"


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (dt.date(2026, 3, 15), 12, dt.date(2027, 3, 15)),
        (dt.date(2024, 8, 31), 6, dt.date(2025, 2, 28)),
        (dt.date(2023, 8, 31), 6, dt.date(2024, 2, 29)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
        (dt.date(2025, 12, 31), 12, dt.date(2026, 12, 31)),
        (None, 12, None),
    ],
)
def test_add_months_clips_to_month_end(start, months, end):
    assert add_months(pa.array([start], pa.date32()), months).to_pylist() == [end]


def test_validity_end_is_12_months_or_6_before_2025():
    got = validity_end(pa.array([dt.date(2024, 12, 31), dt.date(2025, 1, 1), dt.date(2024, 3, 15), None], pa.date32()))
    assert got.to_pylist() == [dt.date(2025, 6, 30), dt.date(2026, 1, 1), dt.date(2024, 9, 15), None]


def test_validity_periods_are_options():
    got = _derive([GOOD], validity_months=24)
    assert got[0]["valid_until"] == dt.date(2028, 1, 5)


def test_completed_years():
    born = pa.array([dt.date(2000, 6, 15), dt.date(2000, 6, 15), dt.date(2000, 6, 15), None], pa.date32())
    on = pa.array([dt.date(2018, 6, 14), dt.date(2018, 6, 15), dt.date(2026, 1, 1), dt.date(2026, 1, 1)], pa.date32())
    assert completed_years(born, on).to_pylist() == [17, 18, 25, None]


def test_age_uses_the_exam_day_else_the_conclusion_day():
    got = _derive(
        [
            GOOD | {"NGAYSINH": "05/01/2008", "NGAYKHAM": "04/01/2026"},
            GOOD | {"NGAYSINH": "05/01/2008", "NGAYKHAM": None},
        ]
    )
    assert [r["age_at_exam"] for r in got] == [17, 18]


# ------------------------------------------------------------------------------ K3, P1


@pytest.mark.parametrize(
    ("matuy", "tested", "positive"), [("0", 1, 0), ("1", 1, 1), ("2", 1, None), (None, 0, None), ("x", 0, None)]
)
def test_drug_test_flags(matuy, tested, positive):
    row = _derive([GOOD | {"MATUY": matuy}])[0]
    assert (row["drug_tested"], row["drug_test_positive"]) == (tested, positive)


@pytest.mark.parametrize(
    ("number", "personal"),
    [
        pytest.param("001090012345", "001090012345", id="12-digits-checked"),
        pytest.param("00109001234", "00109001234", id="11-digits-checked"),
        pytest.param("0010900123", "0010900123", id="10-digits-checked"),
        pytest.param("0010900123456", "0010900123456", id="13-digits-checked"),
        pytest.param("012345678", None, id="9-digit-cmnd-not-checked"),
        pytest.param("B1234567", None, id="passport-not-checked"),
        pytest.param(None, None, id="missing"),
    ],
)
def test_personal_id_column(number, personal):
    assert _derive([GOOD | {"SOCMND_PASSPORT": number}])[0]["personal_id"] == personal


# ------------------------------------------------------------------------------ K7, STATE


def test_state_columns_and_first_issue_column():
    got = _derive([GOOD, GOOD | {"STATE": "EDIT"}, GOOD | {"STATE": None}, GOOD | {"STATE": "X"}])
    assert [r["is_edit"] for r in got] == [False, True, False, False]
    assert [r[FIRST_ISSUE_COLUMN] for r in got] == [True, False, None, True]


def test_add_earlier_in_chunk():
    keys = pa.array(["a", "a", "b", "a", "c", None, "c"])
    state = pa.array(["EDIT", "ADD", "EDIT", "EDIT", "ADD", "ADD", "EDIT"])
    assert add_earlier_in_chunk(keys, state).to_pylist() == [False, False, False, True, False, False, True]


def test_edit_matched_by_an_earlier_add_in_the_chunk_needs_no_lookup():
    ctx = FakeContext()
    got = _derive([GOOD, GOOD | {"STATE": "EDIT", "NGAYKETLUAN": "06/01/2026"}], ctx)
    assert [r["edit_unmatched"] for r in got] == [False, False]
    assert ctx.asked == []


def test_edit_before_its_add_in_the_chunk_is_unmatched():
    got = _derive([GOOD | {"STATE": "EDIT"}, GOOD], FakeContext())
    assert [r["edit_unmatched"] for r in got] == [True, False]


def test_edit_of_a_key_in_staging_is_matched_and_only_edits_are_looked_up():
    other = GOOD | {"SO": "00002/GKSKLX/24009/26", "STATE": "EDIT"}
    third = GOOD | {"SO": "00003/GKSKLX/24009/26", "STATE": "EDIT"}
    ctx = FakeContext(keys={"00002/GKSKLX/24009/26|B"})
    got = _derive([GOOD, other, third], ctx)
    assert [r["edit_unmatched"] for r in got] == [False, False, True]
    assert ctx.asked == [["00002/GKSKLX/24009/26|B", "00003/GKSKLX/24009/26|B"]]


def test_same_certificate_other_class_is_another_key():
    got = _derive([GOOD, GOOD | {"HANGBANGLAI": "C", "STATE": "EDIT"}], FakeContext())
    assert [r["edit_unmatched"] for r in got] == [False, True]


@pytest.mark.parametrize("ctx", [None, FakeContext(unknown_keys=True)], ids=["no-context", "context-does-not-know"])
def test_edit_unmatched_unknown_without_a_staging_answer(ctx):
    got = _derive([GOOD | {"STATE": "EDIT"}, GOOD, GOOD | {"STATE": "EDIT"}], ctx)
    assert [r["edit_unmatched"] for r in got] == [None, False, False]


def test_edit_unmatched_function_on_arrays():
    keys = pa.array(["k1", "k2", None])
    state = pa.array(["EDIT", "EDIT", "EDIT"])
    got = edit_unmatched(keys, state, FakeContext(keys={"k1"}))
    assert got.to_pylist() == [False, True, None]


def test_dedup_treats_edit_as_a_new_version_and_a_second_add_as_a_conflict():
    from transforms.dedup import SeenKeys
    from transforms.records import natural_key_array, record_hash

    rows = [GOOD, GOOD | {"STATE": "EDIT", "KETLUAN": "A0-3"}, GOOD | {"KETLUAN": "A0-2"}, GOOD]
    table = derive_validation_columns(_normalize(rows).table, FACILITY, CUTOFF)
    contract = load_contract(DATASET)
    hashes = record_hash(table, list(contract.columns))
    reissue = np.asarray(table.column(FIRST_ISSUE_COLUMN).to_pylist()) == False  # noqa: E712
    exact, conflict = SeenKeys().mark(natural_key_array(table, contract.natural_key), hashes, reissue)
    assert exact.tolist() == [False, False, False, True]
    assert conflict.tolist() == [False, False, True, False]


def test_version_order_prefers_later_conclusion_then_edit():
    from transforms.records import version_key

    contract = load_contract(DATASET)
    rows = [GOOD | {"STATE": "EDIT"}, GOOD, GOOD | {"STATE": "ADD", "NGAYKETLUAN": "04/01/2026"}]
    table = derive_validation_columns(_normalize(rows).table, FACILITY, CUTOFF)
    keys = version_key(table, list(contract.version_order), "20260105T0000", 0).to_pylist()
    # the EDIT (row 0) beats the ADD of the same day sent after it (row 1); an earlier date loses
    assert keys[0] > keys[1] > keys[2]


# ------------------------------------------------------------------------------ X2


def test_death_before_exam_uses_the_registry_lookup():
    ctx = FakeContext(
        deaths={
            "001090012345": dt.date(2026, 1, 3),
            "001090054321": dt.date(2026, 1, 4),
            "001090099999": dt.date(2026, 1, 4),
        }
    )
    got = _derive(
        [
            GOOD,  # died 3/1, exam 4/1 -> True
            GOOD | {"SOCMND_PASSPORT": "001090054321"},  # died on the exam day -> False
            GOOD | {"SOCMND_PASSPORT": "001090099999", "NGAYKHAM": None},  # no exam date: conclusion 5/1 -> True
            GOOD | {"SOCMND_PASSPORT": "001090011111"},  # no death recorded -> NULL
        ],
        ctx,
    )
    assert [r["died_before_exam"] for r in got] == [True, False, True, None]


def test_without_context_lookup_columns_are_null():
    got = _derive([GOOD, GOOD | {"STATE": "EDIT", "SO": "x"}])
    assert [r["died_before_exam"] for r in got] == [None, None]
    assert [r["edit_unmatched"] for r in got] == [False, None]


# ------------------------------------------------------------------------------ frame


def test_lineage_and_cutoff_columns():
    row = _derive([GOOD])[0]
    assert row["facility_code"] == FACILITY and row["batch_cutoff"] == CUTOFF
    assert row["_source_ref"] == "line 1"


def test_empty_chunk():
    table = _normalize([GOOD]).table.slice(0, 0)
    out = derive_validation_columns(table, FACILITY, CUTOFF, FakeContext())
    assert out.num_rows == 0 and set(VALIDATION_COLUMNS) - {"duplicate_first_issue"} <= set(out.column_names)




def test_pipeline_hooks():
    from pipeline.datasets import hooks_for

    hooks = hooks_for(DATASET)
    assert hooks.derive.func is derive_validation_columns  # with the contract's derivation options bound
    assert hooks.derive.keywords["validity_months"] == 12
    assert hooks.first_issue_column == FIRST_ISSUE_COLUMN
    assert hooks.validation_columns == VALIDATION_COLUMNS


def test_vectorised_on_a_large_chunk():
    n = 200_000
    i = np.arange(n)
    raw = pa.table(
        {
            "SO": pa.array([f"{k % 150_000:05d}/GKSKLX/24009/26" for k in i]),
            "HANGBANGLAI": pa.array(np.where(i % 3 == 0, "B", "C")),
            "STATE": pa.array(np.where(i % 4 == 0, "EDIT", "ADD")),
            "NGAYSINH": pa.array(["15/06/1990"] * n),
            "NGAYKHAM": pa.array(["04/01/2026"] * n),
            "NGAYKETLUAN": pa.array(["05/01/2026"] * n),
            "SOCMND_PASSPORT": pa.array([f"001090{k:06d}" for k in i]),
            "_source_ref": pa.array([f"line {k}" for k in i]),
        }
    )
    table = normalize(raw, load_contract(DATASET), "gksk_jsonl").table
    import time

    t0 = time.perf_counter()
    out = derive_validation_columns(table, FACILITY, CUTOFF, FakeContext(keys=set()))
    assert out.num_rows == n
    assert time.perf_counter() - t0 < 10  # about 0.5 s on the 2-core project machine

"""Vaccination records: ISO/FHIR dates, the hook's derivations (antigen, V1, V5 within the chunk
and against staging, V6, V7, X6) and the compiled rules on both sides of every threshold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from config.contracts import load_contract
from expectations import validate_frame
from pipeline.stages.judge import validation_frame
from transforms.dates import parse_dates
from transforms.normalize import normalize
from transforms.vaccination import (
    HISTORY_COLUMNS,
    antigen_of,
    code_list_version,
    days_since_previous_dose,
    derive_validation_columns,
    vaccine_codes,
)

CONTRACT = load_contract("vaccination_records")
CUTOFF = dt.datetime(2026, 11, 22, 0, 0)
FAC = "NIPVN"
CVX = "http://hl7.org/fhir/sid/cvx"
VN = "http://fhir.hl7.org.vn/core/CodeSystem/vn-vaccine-type-cs"
CHILD = "001226012345"


def csv_row(**changes: str) -> dict[str, str]:
    row = {
        "ma_mui_tiem": "TC1", "ngay_cap_nhat": "21/11/2026 10:00:00", "trang_thai": "completed",
        "ly_do_khong_tiem": "", "ma_vac_xin": "102", "he_ma_vac_xin": CVX, "loai_chuong_trinh": "tcmr",
        "ngay_tiem": "21/11/2026 09:00:00", "so_lo": "L1", "han_dung": "01/06/2027", "ma_co_so_tiem": "01001",
        "nguon_kinh_phi": "public", "mui_thu": "2", "so_mui_phac_do": "4", "phac_do": "DPT-VGB-Hib",
        "ma_doi_tuong": "pat-1", "so_dinh_danh": CHILD, "ngay_sinh": "01/08/2026", "gioi_tinh": "1", "ma_tinh": "01",
    }
    row.update(changes)
    return row


def canonical(rows: list[dict[str, str]]) -> pa.Table:
    raw = pa.Table.from_pylist(rows).append_column("_source_ref", pa.array([f"row {i}" for i in range(len(rows))]))
    norm = normalize(raw, CONTRACT, "csv")
    assert not [f.column for f in norm.failures if f.rows.any()]
    return norm.table


class History:
    """An in-memory lookup context: staged doses and recorded deaths."""

    def __init__(self, staged: list[dict] | None = None, deaths: dict[str, dt.date] | None = None) -> None:
        self.staged = staged or []
        self.deaths = deaths or {}
        self.asked: list[tuple[str, str]] = []

    def current_rows(self, dataset, column, values, columns):
        self.asked.append((dataset, column))
        wanted = set(values.to_pylist())
        types = {"occurrence_datetime": pa.timestamp("s")}
        schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
        return pa.Table.from_pylist([r for r in self.staged if r[column] in wanted], schema=schema)

    def death_dates(self, person_ids):
        return pa.array([self.deaths.get(p) for p in person_ids.to_pylist()], pa.date32())


def derive(rows, context=None) -> pa.Table:
    return derive_validation_columns(canonical(rows), FAC, CUTOFF, context)


def findings(table: pa.Table, options: dict | None = None) -> list[tuple[int, str, str]]:
    table = table.append_column("duplicate_first_issue", pa.array([False] * table.num_rows))
    flags = {n for n, c in CONTRACT.columns.items() if c.type == "bool" and c.sources}
    frame = validation_frame(table, CONTRACT.validation_columns, flags)
    found, _ = validate_frame(frame, "vaccination_records", options)
    return [(f.row, f.rule_id, f.severity) for f in found]


# ---------------------------------------------------------------------------- dates


def test_iso_dates_of_fhir_sources_become_local_wall_clock_time():
    values = pa.array(["2026-11-21T09:15:00+07:00", "2026-11-21T02:15:00Z", "2026-11-21", "2026-11", "21/11/2026",
                       "2026-02-30T10:00:00+07:00", "2026-11-21T09:15:00+15:00"])
    got = parse_dates(values, with_time=True, iso=True, timezone="Asia/Ho_Chi_Minh", year_only_allowed=True)
    assert got.values.to_pylist()[:3] == [dt.datetime(2026, 11, 21, 9, 15), dt.datetime(2026, 11, 21, 9, 15),
                                          dt.datetime(2026, 11, 21)]
    assert got.year.to_pylist()[3] == 2026 and got.values[3].as_py() is None  # a partial date is year-only
    assert list(got.failed) == [False, False, False, False, True, True, True]  # VN form, 30 Feb, bad offset
    vn = parse_dates(values, with_time=True)
    assert list(vn.failed)[:4] == [True, True, True, True]  # the Vietnamese parser still refuses ISO


def test_a_fhir_format_declares_its_date_style():
    assert CONTRACT.source_formats["fhir_ndjson"].date_style == "iso8601"
    assert CONTRACT.source_formats["csv"].date_style == "vn"
    raw = pa.table({"occurrence": ["2026-11-20T20:00:00-03:00"], "birth_date": ["2026-08-01"], "_source_ref": ["l1"]})
    table = normalize(raw, CONTRACT, "fhir_search").table  # columns_as fhir_ndjson, its own date style
    assert table.column("occurrence_datetime").to_pylist() == [dt.datetime(2026, 11, 21, 6, 0)]
    assert table.column("birth_date").to_pylist() == [dt.date(2026, 8, 1)]


# ---------------------------------------------------------------------------- derivations


def test_code_list_is_versioned_and_maps_codes_to_antigens():
    assert code_list_version() == "2026-11-30"
    assert vaccine_codes()[(CVX, "102")] == "dtp" and vaccine_codes()[(VN, "hepb")] == "hepb"
    got = antigen_of(pa.array([CVX, CVX, VN, None, "x"]), pa.array(["08", "999", "dpt", "08", "08"]))
    assert got.to_pylist() == ["hepb", None, "dtp", None, None]


def test_derived_columns():
    table = derive([
        csv_row(),
        csv_row(ma_mui_tiem="TC2", so_dinh_danh="", ngay_sinh="21/11/2026", ma_vac_xin="08", mui_thu="1",
                so_mui_phac_do="1"),
        csv_row(ma_mui_tiem="TC3", so_dinh_danh="", ngay_sinh="01/06/2026", ma_vac_xin="999"),
        csv_row(ma_mui_tiem="TC4", trang_thai="not-done", ly_do_khong_tiem=""),
        csv_row(ma_mui_tiem="TC5", trang_thai="not-done", ly_do_khong_tiem="OSTOCK", ngay_sinh="18/11/2026",
                ma_vac_xin="08", mui_thu="1"),
    ])
    col = lambda name: table.column(name).to_pylist()  # noqa: E731
    assert col("source_system") == [FAC] * 5 and col("facility_code") == [FAC] * 5
    assert col("antigen") == ["dtp", "hepb", None, "dtp", "hepb"]
    assert col("age_at_dose_days") == [112, 0, 173, 112, 3]
    assert col("personal_id_present") == [True, False, False, True, True]
    assert col("days_without_id") == [None, 0, 173, None, None]
    assert col("vaccine_code_known") == [True, True, False, True, True]
    assert col("birth_dose_age_days") == [None, 0, None, None, None]  # a not-done birth dose is no birth dose
    assert col("not_done_reason_given") == [None, None, None, False, True]
    assert col("died_before_dose") == [None] * 5  # no context: X6 not checked
    assert col("first_record_version") == [False] * 5
    assert col("occurrence_day")[0] == dt.datetime(2026, 11, 21)


def test_interval_since_the_previous_dose_within_the_chunk():
    table = derive([
        csv_row(ma_mui_tiem="A", ngay_tiem="01/10/2026 09:00:00", mui_thu="1"),
        csv_row(ma_mui_tiem="B", ngay_tiem="20/10/2026 09:00:00", mui_thu="2"),
        csv_row(ma_mui_tiem="C", ngay_tiem="21/11/2026 09:00:00", mui_thu="3"),
        csv_row(ma_mui_tiem="D", ngay_tiem="21/11/2026 09:00:00", ma_vac_xin="178", mui_thu="1"),  # polio
        csv_row(ma_mui_tiem="E", ngay_tiem="25/10/2026 09:00:00", trang_thai="not-done", ly_do_khong_tiem="OSTOCK"),
        csv_row(ma_mui_tiem="F", ngay_tiem="02/10/2026 09:00:00", so_dinh_danh="079226000001"),  # another child
        csv_row(ma_mui_tiem="G", ngay_tiem="21/11/2026 15:00:00", so_dinh_danh="", ma_doi_tuong="pat-9"),
        csv_row(ma_mui_tiem="H", ngay_tiem="21/11/2026 16:00:00", so_dinh_danh="", ma_doi_tuong="pat-9"),
    ])
    # A first; B 19 days after A; C 32 after B; D another series; E not done; F another person;
    # G and H the same ID-less patient of one system, on the same day: only the later key is measured
    assert table.column("days_since_previous_dose").to_pylist() == [None, 19, 32, None, None, None, None, 0]


def test_interval_against_staging_ignores_the_doses_own_earlier_versions():
    staged = [
        {"personal_id": CHILD, "antigen": "dtp", "occurrence_datetime": dt.datetime(2026, 11, 1, 9),
         "source_system": "01920", "immunization_id": "imm-1", "status": "completed"},
        {"personal_id": CHILD, "antigen": "dtp", "occurrence_datetime": dt.datetime(2026, 11, 15, 9),
         "source_system": FAC, "immunization_id": "TC1", "status": "completed"},  # an earlier version of TC1
        {"personal_id": CHILD, "antigen": "dtp", "occurrence_datetime": dt.datetime(2026, 11, 18, 9),
         "source_system": "79530", "immunization_id": "x", "status": "not-done"},
        {"personal_id": CHILD, "antigen": "polio", "occurrence_datetime": dt.datetime(2026, 11, 20, 9),
         "source_system": "79530", "immunization_id": "y", "status": "completed"},
        {"personal_id": CHILD, "antigen": "dtp", "occurrence_datetime": dt.datetime(2026, 12, 20, 9),
         "source_system": "79530", "immunization_id": "z", "status": "completed"},  # a later dose
    ]
    context = History(staged)
    table = derive([csv_row()], context)
    assert table.column("days_since_previous_dose").to_pylist() == [20]  # since 1 November
    assert context.asked == [("vaccination_records", "personal_id")]
    assert set(HISTORY_COLUMNS) <= set(CONTRACT.columns)


def test_the_interval_self_join_is_vectorised():
    n = 20_000
    table = pa.table({
        "personal_id": pa.array([f"0012260{i % 5000:05d}" for i in range(n)]),
        "patient_reference": pa.array(["p"] * n), "source_system": pa.array(["F"] * n),
        "antigen": pa.array(["dtp", "polio", "ipv", "measles"] * (n // 4)),
        "occurrence_datetime": pa.array([dt.datetime(2026, 1, 1) + dt.timedelta(days=i // 5000 * 30)
                                         for i in range(n)], pa.timestamp("s")),
        "immunization_id": pa.array([str(i) for i in range(n)]), "status": pa.array(["completed"] * n),
    })
    import time

    t0 = time.perf_counter()
    got = days_since_previous_dose(table)
    assert time.perf_counter() - t0 < 5
    values = np.array(got.to_pylist(), dtype=object)
    assert set(values[:5000]) == {None} and set(values[5000:]) == {30}


def test_dose_after_recorded_death():
    context = History(deaths={CHILD: dt.date(2026, 11, 20), "079226000001": dt.date(2026, 11, 21)})
    table = derive([csv_row(), csv_row(ma_mui_tiem="TC2", so_dinh_danh="079226000001"),
                    csv_row(ma_mui_tiem="TC3", so_dinh_danh="079226000002")], context)
    assert table.column("died_before_dose").to_pylist() == [True, False, None]


# ---------------------------------------------------------------------------- rules, both sides of each threshold


@pytest.mark.parametrize(("changes", "expected"), [
    pytest.param({}, [], id="clean"),
    pytest.param({"so_dinh_danh": "00122601234"}, [("V1", "error")], id="V1-malformed"),
    pytest.param({"so_dinh_danh": "", "ngay_sinh": "23/09/2026"}, [("V1", "warning")], id="V1-missing-day-59"),
    pytest.param({"so_dinh_danh": "", "ngay_sinh": "22/09/2026"}, [("V1", "warning")], id="V1-missing-day-60"),
    pytest.param({"so_dinh_danh": "", "ngay_sinh": "21/09/2026"}, [("V1", "error"), ("V1", "warning")],
                 id="V1-missing-day-61"),
    pytest.param({"ngay_tiem": "22/11/2026 00:00:01"}, [("V2", "error")], id="V2-after-cutoff"),
    pytest.param({"ngay_sinh": "22/11/2026"}, [("V2", "error")], id="V2-before-birth"),
    pytest.param({"han_dung": "21/11/2026"}, [], id="V2-expires-that-day"),
    pytest.param({"han_dung": "20/11/2026"}, [("V2", "error")], id="V2-expired"),
    pytest.param({"he_ma_vac_xin": "http://snomed.info/sct"}, [("V3", "error"), ("V3", "error")], id="V3-system"),
    pytest.param({"ma_vac_xin": "999"}, [("V3", "error")], id="V3-code"),
    pytest.param({"mui_thu": "4"}, [], id="V4-last-dose"),
    pytest.param({"mui_thu": "5"}, [("V4", "warning")], id="V4-beyond"),
    pytest.param({"mui_thu": "0"}, [("V4", "warning")], id="V4-zero"),
    pytest.param({"ma_vac_xin": "08", "mui_thu": "1", "so_mui_phac_do": "1", "ngay_sinh": "20/11/2026"}, [],
                 id="V6-next-day"),
    pytest.param({"ma_vac_xin": "08", "mui_thu": "1", "so_mui_phac_do": "1", "ngay_sinh": "19/11/2026"},
                 [("V6", "warning")], id="V6-late"),
    pytest.param({"trang_thai": "not-done"}, [("V7", "warning")], id="V7-no-reason"),
    pytest.param({"trang_thai": "entered-in-error"}, [], id="V7-entered-in-error"),
    pytest.param({"trang_thai": "done"}, [("CODE", "error")], id="CODE-status"),
    pytest.param({"loai_chuong_trinh": "tiem-le"}, [("CODE", "error")], id="CODE-programme"),
    pytest.param({"nguon_kinh_phi": "ngan-sach"}, [("CODE", "error")], id="CODE-funding"),
])
def test_rules(changes, expected):
    got = findings(derive([csv_row(**changes)]))
    assert sorted((r, s) for _row, r, s in got) == sorted(expected)


@pytest.mark.parametrize(("days", "flagged"), [(27, True), (28, False)])
def test_v5_minimum_interval_both_sides(days, flagged):
    second = (dt.datetime(2026, 10, 1, 9) + dt.timedelta(days=days)).strftime("%d/%m/%Y %H:%M:%S")
    table = derive([csv_row(ma_mui_tiem="A", ngay_tiem="01/10/2026 09:00:00", mui_thu="1"),
                    csv_row(ma_mui_tiem="B", ngay_tiem=second, mui_thu="2")])
    assert ("V5" in {r for row, r, _ in findings(table) if row == 1}) is flagged


def test_a_facility_override_moves_the_threshold():
    table = derive([csv_row(so_dinh_danh="", ngay_sinh="21/10/2026")])  # 31 days old, no ID
    assert ("V1", "error") not in {(r, s) for _, r, s in findings(table)}
    assert ("V1", "error") in {(r, s) for _, r, s in findings(table, {"newborn_id_grace_days": 30})}
    assert ("V5", "warning") not in {(r, s) for _, r, s in findings(table, {"min_interval_days": {"dtp": 0}})}


def test_the_patient_reference_rule_reads_the_reader_fact():
    raw = pa.table({"id": ["i1", "i2", "i3"], "status": ["completed"] * 3, "vaccine_code": ["102"] * 3,
                    "vaccine_system": [CVX] * 3, "occurrence": ["2026-11-21T09:00:00+07:00"] * 3,
                    "birth_date": ["2026-08-01"] * 3, "personal_id": [CHILD] * 3, "gender": ["female"] * 3,
                    "patient_in_export": ["1", "0", None], "_source_ref": ["line 1", "line 2", "line 3"]})
    norm = normalize(raw, CONTRACT, "fhir_ndjson")
    table = derive_validation_columns(norm.table, "01920", CUTOFF, None)
    got = findings(table)
    assert [(row, r) for row, r, _ in got if r == "REF"] == [(1, "REF")]
    assert table.column("sex").to_pylist() == [2, 2, 2]

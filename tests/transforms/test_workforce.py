"""Health-workforce contract normalisation and derivations (transforms/workforce.py)."""

import datetime as dt
import json
import time
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from config.contracts import load_contract
from transforms.dedup import SeenKeys
from transforms.normalize import normalize
from transforms.records import natural_key_array, record_hash
from transforms.workforce import (
    FIRST_ISSUE_COLUMN,
    PRACTICE_PERIOD_COLUMNS,
    derive_validation_columns,
    overlapping_practice,
    registry_membership,
)

CONTRACT = load_contract("health_workforce")
VALIDATION_COLUMNS = CONTRACT.validation_columns
CUTOFF = dt.datetime(2026, 11, 22, 6, 0)
FACILITY = "79034"
PID = "079190012345"

CLEAN_CSV = {
    "so_dinh_danh": PID,
    "ho_ten": "Nguyễn Văn An",
    "ngay_sinh": "19900115",
    "gioi_tinh": "1",
    "chuc_danh": "Bác sĩ",
    "so_giay_phep": "000123/BYT-GPHN",
    "noi_cap": "Bộ Y tế",
    "ngay_cap_gp": "20200301",
    "pham_vi": "Khám bệnh, chữa bệnh nội khoa",
    "ma_cskcb": FACILITY,
    "tu_ngay": "20200401",
    "den_ngay": "",
    "ngay_cap_nhat": "20261120",
}
#: The same record in the JSON export's camelCase tags.
CSV_TO_JSON = {
    "so_dinh_danh": "soDinhDanh", "ho_ten": "hoTen", "ngay_sinh": "ngaySinh", "gioi_tinh": "gioiTinh",
    "chuc_danh": "chucDanh", "so_giay_phep": "soGiayPhep", "noi_cap": "noiCap", "ngay_cap_gp": "ngayCapGP",
    "pham_vi": "phamVi", "ma_cskcb": "maCSKCB", "tu_ngay": "tuNgay", "den_ngay": "denNgay",
    "ngay_cap_nhat": "ngayCapNhat",
}


def _raw(rows, source_format="csv"):
    if source_format != "csv":
        rows = [{CSV_TO_JSON[k]: v for k, v in r.items()} for r in rows]
    refs = [f"row {i + 1}" for i in range(len(rows))]
    return pa.Table.from_pylist(rows).append_column("_source_ref", pa.array(refs, pa.string()))


def _normalize(rows, source_format="csv"):
    result = normalize(_raw(rows, source_format), CONTRACT, source_format)
    failures = {f.column: (f.rule_id, np.flatnonzero(f.rows).tolist()) for f in result.failures}
    return result.table, failures


def _row(**changes):
    return CLEAN_CSV | changes


class FakeContext:
    """In-memory LookupContext: a set of registry IDs and optional staged registrations."""

    def __init__(self, registry=(), staged=None):
        self.registry = set(registry)
        self.staged = staged
        self.asked = []

    def in_registry(self, person_ids):
        self.asked.append(person_ids.to_pylist())
        return pa.array([None if p is None else p in self.registry for p in person_ids.to_pylist()], pa.bool_())

    def death_dates(self, person_ids):  # pragma: no cover - not used by this dataset
        return pa.nulls(len(person_ids), pa.date32())

    def death_notice_codes(self, person_ids):  # pragma: no cover
        return pa.nulls(len(person_ids), pa.string())

    def registry_sex(self, person_ids):  # pragma: no cover
        return pa.nulls(len(person_ids), pa.int32())

    def existing_keys(self, dataset, keys):  # pragma: no cover
        return pa.nulls(len(keys), pa.bool_())


class FakeContextWithPeriods(FakeContext):
    def practice_periods(self, person_ids):
        wanted = set(person_ids.to_pylist())
        rows = [r for r in self.staged if r["personal_id"] in wanted]
        schema = pa.schema([(c, pa.date32() if c.startswith(("period", "last")) else pa.string())
                            for c in PRACTICE_PERIOD_COLUMNS])
        return pa.Table.from_pylist(rows, schema=schema)


# ------------------------------------------------------------------------------------------------
# contract and normalisation


def test_contract_shape():
    assert CONTRACT.natural_key == ("licence_number", "licence_issuer", "practice_facility_code")
    assert CONTRACT.version_order == ("last_change_date",)
    assert CONTRACT.event_date == "last_change_date"
    assert CONTRACT.partition_by == ("last_change_year", "last_change_month")
    assert set(CONTRACT.source_formats) == {"csv", "json", "json_api"}
    assert CONTRACT.source_formats["json"].reader_options == {"records_key": "nhanVien"}
    assert CONTRACT.source_tags("json_api") == CONTRACT.source_tags("json")
    assert set(CONTRACT.source_tags("csv")) == set(CLEAN_CSV)
    assert set(CONTRACT.source_tags("json")) == set(CSV_TO_JSON.values())
    # Lineage column of the sending facility must not be shadowed by a contract column.
    assert "facility_code" not in CONTRACT.columns
    assert CONTRACT.columns["personal_id"].pseudonym_domain == "person"
    assert CONTRACT.columns["birth_date"].curated == "year"
    required = {n for n, c in CONTRACT.columns.items() if c.required}
    assert required == {"full_name", "title", "licence_number", "licence_issuer", "practice_facility_code",
                        "period_start", "last_change_date"}


@pytest.mark.parametrize("source_format", ["csv", "json", "json_api"])
def test_clean_row_normalizes_in_every_format(source_format):
    table, failures = _normalize([CLEAN_CSV], source_format)
    row = table.to_pylist()[0]
    assert failures == {}
    assert row["personal_id"] == PID
    assert row["full_name"] == "NGUYỄN VĂN AN"
    assert row["sex"] == 1
    assert row["licence_number"] == "000123/BYT-GPHN"
    assert row["practice_facility_code"] == FACILITY
    assert row["period_start"] == dt.date(2020, 4, 1)
    assert row["period_end"] is None
    assert row["last_change_date"] == dt.date(2026, 11, 20)


def test_nfd_text_becomes_nfc():
    nfd = {k: unicodedata.normalize("NFD", v) for k, v in CLEAN_CSV.items()}
    table, failures = _normalize([nfd], "json")
    row = table.to_pylist()[0]
    assert failures == {}
    assert row["title"] == "Bác sĩ" and unicodedata.is_normalized("NFC", row["title"])
    assert row["licence_issuer"] == "Bộ Y tế"
    # The natural key (and so dedup and versions) is the same whichever form the facility sent.
    clean, _ = _normalize([CLEAN_CSV], "csv")
    assert natural_key_array(table, CONTRACT.natural_key) == natural_key_array(clean, CONTRACT.natural_key)


def test_json_export_read_with_the_contract_reader_options(tmp_path):
    from extractors.formats import reader

    fmt = CONTRACT.source_formats["json"]
    doc = {"maCSKCB": FACILITY, "ngayXuat": "20261121",
           "nhanVien": [{CSV_TO_JSON[k]: v for k, v in CLEAN_CSV.items()}, "not an object"]}
    path = tmp_path / "2026-11-21.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    raw = pa.concat_tables(reader(fmt.reader)(path, 100, **fmt.reader_options))
    assert raw.column("_source_ref").to_pylist() == ["nhanVien[1]", "nhanVien[2]"]
    table = normalize(raw, CONTRACT, "json").table
    assert table.column("licence_number").to_pylist() == ["000123/BYT-GPHN", None]


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        pytest.param("ngay_sinh", "19900231", "DATE", id="impossible-birth-date"),
        pytest.param("tu_ngay", "20260231", "DATE", id="impossible-start"),
        pytest.param("den_ngay", "20261301", "DATE", id="impossible-end-month"),
        pytest.param("ngay_cap_nhat", "2026-11-20", "DATE", id="iso-not-a-documented-form"),
        pytest.param("ngay_cap_gp", "20250229", "DATE", id="not-a-leap-year"),
        pytest.param("gioi_tinh", "Nam", "CODE", id="sex-not-a-number"),
    ],
)
def test_unparseable_values_are_reported_with_the_spec_rule(column, value, rule):
    table, failures = _normalize([CLEAN_CSV, _row(**{column: value})])
    canonical = CONTRACT.source_tags("csv")[column]
    assert failures == {canonical: (rule, [1])}
    assert table.column(canonical).to_pylist()[1] is None


def test_leap_day_and_open_end_parse():
    table, failures = _normalize([_row(tu_ngay="20240229", den_ngay="")])
    assert failures == {}
    assert table.column("period_start").to_pylist() == [dt.date(2024, 2, 29)]


def test_personal_id_separators_removed_and_licence_kept_raw():
    table, _ = _normalize([_row(so_dinh_danh="079 190 012 345", so_giay_phep=" GP-12345 ")])
    row = table.to_pylist()[0]
    assert row["personal_id"] == PID
    assert row["licence_number"] == "GP-12345"


# ------------------------------------------------------------------------------------------------
# derivations


def _derive(rows, context=None, source_format="csv"):
    table, _ = _normalize(rows, source_format)
    return derive_validation_columns(table, FACILITY, CUTOFF, context)


def test_derived_columns_without_context():
    out = _derive([CLEAN_CSV, _row(chuc_danh="điều  DƯỠNG"), _row(chuc_danh="Bac si")])
    assert out.column("facility_code").to_pylist() == [FACILITY] * 3
    assert out.column("batch_cutoff").to_pylist() == [CUTOFF] * 3
    assert out.column("title_key").to_pylist() == ["BÁC SĨ", "ĐIỀU DƯỠNG", "BAC SI"]
    assert out.column("in_registry").to_pylist() == [None, None, None]  # no context: not known
    assert out.column(FIRST_ISSUE_COLUMN).to_pylist() == [False, False, False]
    assert set(VALIDATION_COLUMNS) <= set(out.column_names)


def test_derive_replaces_existing_columns():
    table, _ = _normalize([CLEAN_CSV])
    once = derive_validation_columns(table, FACILITY, CUTOFF)
    twice = derive_validation_columns(once, "01929", CUTOFF)
    assert twice.column_names == once.column_names
    assert twice.column("facility_code").to_pylist() == ["01929"]


def test_x5_registry_membership_from_context():
    ctx = FakeContext(registry={PID})
    out = _derive([CLEAN_CSV, _row(so_dinh_danh="001190099999"), _row(so_dinh_danh="")], ctx)
    assert out.column("in_registry").to_pylist() == [True, False, None]


def test_registry_membership_skips_the_lookup_without_ids():
    ctx = FakeContext(registry={PID})
    assert registry_membership(pa.array([None, None], pa.string()), ctx).to_pylist() == [None, None]
    assert ctx.asked == []
    assert registry_membership(pa.array([PID], pa.string()), None).to_pylist() == [None]


def _period_table(rows):
    """Canonical rows with only what W5 reads: (pid, facility, start, end, last change[, licence])."""
    cols = {c: [] for c in PRACTICE_PERIOD_COLUMNS}
    for n, (pid, fac, start, end, changed, *licence) in enumerate(rows):
        cols["personal_id"].append(pid)
        cols["licence_number"].append(licence[0] if licence else f"{n:06d}/BYT-GPHN")
        cols["licence_issuer"].append("Bộ Y tế")
        cols["practice_facility_code"].append(fac)
        cols["period_start"].append(start)
        cols["period_end"].append(end)
        cols["last_change_date"].append(changed)
    types = {c: pa.date32() if c.startswith(("period", "last")) else pa.string() for c in cols}
    return pa.table({c: pa.array(v, types[c]) for c, v in cols.items()})


D = dt.date
CHANGED = D(2026, 11, 20)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), None, CHANGED), ("P1", "79034", D(2022, 1, 1), None, CHANGED)],
            [False, True], id="ongoing-vs-later-start-flags-the-later",
        ),
        pytest.param(
            [("P1", "79034", D(2022, 1, 1), None, CHANGED), ("P1", "01929", D(2020, 1, 1), None, CHANGED)],
            [True, False], id="order-in-the-chunk-does-not-matter",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), D(2021, 12, 31), CHANGED), ("P1", "79034", D(2022, 1, 1), None, CHANGED)],
            [False, False], id="consecutive-periods",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), D(2022, 1, 1), CHANGED), ("P1", "79034", D(2022, 1, 1), None, CHANGED)],
            [False, False], id="move-on-the-same-day-is-not-an-overlap",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), D(2022, 1, 2), CHANGED), ("P1", "79034", D(2022, 1, 1), None, CHANGED)],
            [False, True], id="one-shared-day",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), None, CHANGED), ("P1", "01929", D(2021, 1, 1), None, CHANGED)],
            [False, False], id="same-facility-is-not-w5",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), None, CHANGED), ("P2", "79034", D(2021, 1, 1), None, CHANGED)],
            [False, False], id="different-persons",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), None, D(2026, 1, 1)), ("P1", "79034", D(2020, 1, 1), None, CHANGED)],
            [False, True], id="same-start-later-change-is-the-later-registration",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), None, CHANGED), ("P1", "79034", D(2020, 1, 1), None, CHANGED)],
            [True, True], id="full-tie-flags-both",
        ),
        pytest.param(
            [(None, "01929", D(2020, 1, 1), None, CHANGED), ("P1", "79034", None, None, CHANGED),
             ("P1", None, D(2020, 1, 1), None, CHANGED)],
            [None, None, None], id="not-checkable-is-null",
        ),
        pytest.param(
            [("P1", "01929", D(2020, 1, 1), None, D(2025, 1, 1), "000001/BYT-GPHN"),
             ("P1", "01929", D(2020, 1, 1), D(2021, 6, 30), CHANGED, "000001/BYT-GPHN"),
             ("P1", "79034", D(2022, 1, 1), None, CHANGED)],
            [False, False, False], id="only-the-latest-version-of-a-key-counts",
        ),
    ],
)
def test_w5_overlap_within_the_chunk(rows, expected):
    assert overlapping_practice(_period_table(rows)).to_pylist() == expected


def test_w5_overlap_against_staging_through_the_context():
    staged = [
        # P1 is registered at 01929 since 2020 (ongoing); P2 left 01929 at the end of 2021.
        {"personal_id": "P1", "licence_number": "000001/BYT-GPHN", "licence_issuer": "Bộ Y tế",
         "practice_facility_code": "01929", "period_start": D(2020, 1, 1), "period_end": None,
         "last_change_date": D(2025, 1, 1)},
        {"personal_id": "P2", "licence_number": "000002/BYT-GPHN", "licence_issuer": "Bộ Y tế",
         "practice_facility_code": "01929", "period_start": D(2018, 1, 1), "period_end": D(2021, 12, 31),
         "last_change_date": D(2025, 1, 1)},
        # A registration that started later than the arriving one: the staged one is the later.
        {"personal_id": "P3", "licence_number": "000003/BYT-GPHN", "licence_issuer": "Bộ Y tế",
         "practice_facility_code": "01929", "period_start": D(2024, 1, 1), "period_end": None,
         "last_change_date": D(2025, 1, 1)},
    ]
    chunk = _period_table([
        ("P1", "79034", D(2023, 1, 1), None, CHANGED),
        ("P2", "79034", D(2022, 1, 1), None, CHANGED),
        ("P3", "79034", D(2020, 1, 1), None, CHANGED),
        ("P4", "79034", D(2020, 1, 1), None, CHANGED),
    ])
    assert overlapping_practice(chunk, FakeContextWithPeriods(staged=staged).practice_periods(
        pa.array(["P1", "P2", "P3", "P4"]))).to_pylist() == [True, False, False, False]


def test_w5_uses_staging_only_when_the_context_offers_it():
    staged = [{"personal_id": PID, "licence_number": "000009/BYT-GPHN", "licence_issuer": "Bộ Y tế",
               "practice_facility_code": "01929", "period_start": D(2019, 1, 1), "period_end": None,
               "last_change_date": D(2025, 1, 1)}]
    with_periods = _derive([CLEAN_CSV], FakeContextWithPeriods(registry={PID}, staged=staged))
    assert with_periods.column("overlapping_practice").to_pylist() == [True]
    plain = _derive([CLEAN_CSV], FakeContext(registry={PID}, staged=staged))
    assert plain.column("overlapping_practice").to_pylist() == [False]


def test_w5_is_vectorised_on_a_large_chunk():
    n = 200_000
    rng = np.random.default_rng(7)
    persons = rng.integers(0, 150_000, n)
    starts = D(2010, 1, 1) + (rng.integers(0, 5000, n) * dt.timedelta(days=1))
    table = pa.table({
        "personal_id": pa.array([f"P{p}" for p in persons]),
        "licence_number": pa.array([f"{i:06d}/BYT-GPHN" for i in range(n)]),
        "licence_issuer": pa.array(["Bộ Y tế"] * n),
        "practice_facility_code": pa.array([f"{f:05d}" for f in rng.integers(1000, 1200, n)]),
        "period_start": pa.array(starts, pa.date32()),
        "period_end": pa.nulls(n, pa.date32()),
        "last_change_date": pa.array([CHANGED] * n, pa.date32()),
    })
    t0 = time.perf_counter()
    flags = overlapping_practice(table)
    elapsed = time.perf_counter() - t0
    assert len(flags) == n and flags.null_count == 0
    # Every person with two ongoing registrations at different facilities has exactly one
    # flagged row per extra registration (except full ties); spot-check the count's order.
    assert 0 < pc.sum(pc.cast(flags, pa.int64())).as_py() < n
    assert elapsed < 10, f"W5 took {elapsed:.1f}s for {n} rows"


# ------------------------------------------------------------------------------------------------
# dedup semantics: snapshot versions, exact re-sends


def test_changed_registration_is_a_version_and_an_identical_resend_is_superseded():
    rows = [CLEAN_CSV, CLEAN_CSV, _row(pham_vi="Nội khoa, hồi sức", ngay_cap_nhat="20261121")]
    out = _derive(rows)
    keys = natural_key_array(out, CONTRACT.natural_key)
    hashes = record_hash(out, list(CONTRACT.columns))
    reissue = pc.equal(out.column(FIRST_ISSUE_COLUMN), False).to_numpy(zero_copy_only=False)
    exact, conflict = SeenKeys().mark(keys, hashes, reissue)
    assert exact.tolist() == [False, True, False]
    assert conflict.tolist() == [False, False, False]


# ------------------------------------------------------------------------------------------------
# the validation frame agrees with the suite




def test_raw_rows_to_findings_through_the_suite():
    """Raw register rows -> normalize -> derive (fake context) -> GX findings, by rule."""
    from expectations import validate_frame
    from pipeline.stages.judge import validation_frame as _validation_frame

    rows = [
        CLEAN_CSV,                                                     # 0 clean
        _row(chuc_danh="Phù thủy", so_giay_phep="000124/BYT-GPHN"),    # 1 W1
        _row(chuc_danh="bác  SĨ", so_giay_phep="000125/BYT-GPHN"),     # 2 clean (case/space only)
        _row(so_giay_phep="GP-12345"),                                 # 3 W2
        _row(so_dinh_danh="003190012345", so_giay_phep="000126/BYT-GPHN"),  # 4 W3 (+X5, dropped by batch)
        _row(ma_cskcb="7903A", so_dinh_danh=""),                       # 5 W4
        _row(den_ngay="20190101", so_giay_phep="000127/BYT-GPHN"),     # 6 DATE
        _row(gioi_tinh="3", so_giay_phep="000128/BYT-GPHN"),           # 7 CODE
        _row(so_dinh_danh="001190099999", so_giay_phep="000129/BYT-GPHN"),  # 8 X5
        _row(ho_ten="", so_giay_phep="000130/BYT-GPHN"),               # 9 REQ
        _row(so_dinh_danh="", so_giay_phep="000131/BYT-GPHN"),         # 10 clean: ID optional
        _row(ngay_cap_nhat="20261123", so_giay_phep="000132/BYT-GPHN"),  # 11 DATE (after cut-off)
        _row(ma_cskcb="01929", tu_ngay="20230101"),                     # 12 W5 (same person, later start)
    ]
    out = _derive(rows, FakeContext(registry={PID}))
    frame = _validation_frame(out, VALIDATION_COLUMNS, set())
    findings, _ = validate_frame(frame, "health_workforce")
    got = {}
    for f in findings:
        got.setdefault(f.row, set()).add((f.rule_id, f.severity))
    assert got == {
        1: {("W1", "error")},
        3: {("W2", "warning")},
        4: {("W3", "error"), ("X5", "warning")},
        5: {("W4", "warning")},
        6: {("DATE", "error")},
        7: {("CODE", "error")},
        8: {("X5", "warning")},
        9: {("REQ", "error")},
        11: {("DATE", "error")},
        12: {("W5", "warning")},
    }

"""Curated publish on SQLite and PostgreSQL: pseudonymized, typed, one atomic file per month."""

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from config.contracts import load_contract
from loaders import staging
from loaders.curated import curated_schema, partition_dir, publish_partitions
from tests.loaders.test_staging import rec, rows

CONTRACT = load_contract("birth_certificates")
KEY = b"t" * 32


@pytest.fixture
def engine(staging_engine):
    return staging_engine


def month_file(root, year, month):
    """The one part file of a month (these tests load rows outside any night)."""
    files = sorted(partition_dir(root, CONTRACT, year, month).glob("part-*.parquet"))
    assert len(files) <= 1, files
    return files[0] if files else None


def test_publish_month_partition(engine, tmp_path):
    a, b = rec("A", "1", 3000), rec("B", "1", 3100)
    b["birth_datetime"] = dt.datetime(2026, 10, 31, 23, 59)
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [rows(a, b)])
    root = tmp_path / "curated"
    written = publish_partitions(engine, CONTRACT, {(2026, 11), (2026, 10), (2026, 9)}, root, KEY)
    assert len(written) == 2
    nov = pq.read_table(month_file(root, 2026, 11), partitioning=None)
    assert nov.schema.equals(curated_schema(CONTRACT), check_metadata=False)
    row = nov.to_pylist()[0]
    assert row["birth_datetime"] == dt.datetime(2026, 11, 21, 10, 0)
    assert row["mother_id_number_pseudonym"] and row["mother_id_number_pseudonym"] != "001190012345"
    assert "mother_id_number" not in nov.column_names and "mother_full_name" not in nov.column_names
    assert not list(partition_dir(root, CONTRACT, 2026, 11).glob(".*"))  # no temp files left
    assert month_file(root, 2026, 9) is None


def test_same_content_same_bytes(engine, tmp_path):
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [rows(rec("A", "1", 3000))])
    root = tmp_path / "c"
    (first,) = publish_partitions(engine, CONTRACT, {(2026, 11)}, root, KEY)
    before = Path(first).read_bytes()
    publish_partitions(engine, CONTRACT, {(2026, 11)}, root, KEY)
    assert Path(first).read_bytes() == before


def test_reissue_moving_month_rewrites_the_old_month(engine, tmp_path):
    old = rec("A", "1", 3000)
    old["birth_datetime"] = dt.datetime(2026, 10, 31, 23, 50)
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [rows(old, rec("B", "1", 3100))])
    root = tmp_path / "c"
    publish_partitions(engine, CONTRACT, {(2026, 10), (2026, 11)}, root, KEY)
    assert month_file(root, 2026, 10) is not None
    with engine.begin() as conn:  # the re-issue corrects the birth time into November
        counts = staging.load_rows(conn, CONTRACT, [rows(rec("A", "2", 3000) | {"record_hash": "fixed"})])
    assert counts.replaced_months == {(2026, 10)}
    publish_partitions(engine, CONTRACT, {(2026, 11)} | counts.replaced_months, root, KEY)
    assert month_file(root, 2026, 10) is None  # A left October
    nov = pq.read_table(month_file(root, 2026, 11), partitioning=None)
    assert nov.num_rows == 2


# ---------------------------------------------------------------------------- nightly parts

def _night_load(engine, night: str, *records):
    """Load records as the batch of facility 01929 for ``night`` (with its ledger row)."""
    batch = f"birth_certificates/01929/{night}"
    for r in records:
        r["batch_id"] = batch
    with engine.begin() as conn:
        counts = staging.load_rows(conn, CONTRACT, [rows(*records)])
        staging.write_ledger_rows(conn, [{
            "batch_id": batch, "dataset": "birth_certificates", "facility_code": "01929",
            "interval_start": f"{night}T00:00:00+07:00", "interval_end": f"{night}T23:59:59+07:00", "night": night,
            "status": "loaded", "received": len(records), "loaded": len(records), "inserted": counts.inserted,
            "updated": counts.updated, "unchanged": counts.unchanged, "superseded": 0, "quarantined": 0, "held": 0,
            "flagged": 0, "files_received": 1, "files_rejected": 0, "files_skipped": 0, "partitions": "[]",
        }])
    return counts


def _codes(path):
    return sorted(pq.read_table(path, partitioning=None).column("certificate_code_pseudonym").to_pylist())


def _all_codes(root, year, month):
    folder = partition_dir(root, CONTRACT, year, month)
    return sorted(c for p in folder.glob("part-*.parquet") for c in _codes(p))


def test_a_night_writes_its_own_part_and_drops_the_versions_it_replaced(engine, tmp_path):
    from loaders.curated import publish_night

    root = tmp_path / "c"
    _night_load(engine, "2026-11-21", rec("A", "1", 3000), rec("B", "1", 3100))
    publish_night(engine, CONTRACT, "2026-11-21", {(2026, 11)}, root, KEY)
    first = partition_dir(root, CONTRACT, 2026, 11) / "part-2026-11-21.parquet"
    assert len(_codes(first)) == 2
    # Night 2: a new record C and a re-issue of A.
    _night_load(engine, "2026-11-22", rec("C", "1", 3200), rec("A", "2", 3050) | {"record_hash": "reissued"})
    publish_night(engine, CONTRACT, "2026-11-22", {(2026, 11)}, root, KEY)
    second = partition_dir(root, CONTRACT, 2026, 11) / "part-2026-11-22.parquet"
    assert len(_codes(second)) == 2 and len(_codes(first)) == 1, "A moved from night 1's part to night 2's"
    assert len(_all_codes(root, 2026, 11)) == 3 == len(set(_all_codes(root, 2026, 11)))
    # Publishing a night again changes no byte.
    before = {p.name: p.read_bytes() for p in partition_dir(root, CONTRACT, 2026, 11).glob("part-*")}
    publish_night(engine, CONTRACT, "2026-11-22", {(2026, 11)}, root, KEY)
    publish_night(engine, CONTRACT, "2026-11-21", {(2026, 11)}, root, KEY)
    assert {p.name: p.read_bytes() for p in partition_dir(root, CONTRACT, 2026, 11).glob("part-*")} == before
    assert not list(partition_dir(root, CONTRACT, 2026, 11).glob(".*")), "no temp files left"


def test_a_night_of_new_records_leaves_earlier_parts_untouched(engine, tmp_path):
    from loaders.curated import publish_night

    root = tmp_path / "c"
    _night_load(engine, "2026-11-21", *[rec(f"K{i}", "1", 3000 + i) for i in range(50)])
    publish_night(engine, CONTRACT, "2026-11-21", {(2026, 11)}, root, KEY)
    first = partition_dir(root, CONTRACT, 2026, 11) / "part-2026-11-21.parquet"
    stamp = first.stat().st_mtime_ns
    _night_load(engine, "2026-11-22", rec("N", "1", 3500))
    written = publish_night(engine, CONTRACT, "2026-11-22", {(2026, 11)}, root, KEY)
    assert [Path(p).name for p in written] == ["part-2026-11-22.parquet"]
    assert first.stat().st_mtime_ns == stamp


def test_compaction_merges_past_weeks_and_a_later_reissue_still_replaces(engine, tmp_path):
    from loaders.curated import compact, parts, publish_night

    root = tmp_path / "c"
    for day in (2, 3, 4):  # Monday-Wednesday of the week of 2026-11-02
        night = f"2026-11-{day:02d}"
        _night_load(engine, night, rec(f"W{day}", "1", 3000 + day))
        publish_night(engine, CONTRACT, night, {(2026, 11)}, root, KEY)
    folder = partition_dir(root, CONTRACT, 2026, 11)
    before = _all_codes(root, 2026, 11)
    assert compact(engine, CONTRACT, root, KEY, before="2026-11-08") == []  # week not over yet
    compact(engine, CONTRACT, root, KEY, before="2026-11-20")
    assert list(parts(folder)) == ["part-2026-11-02_2026-11-08.parquet"]
    assert _all_codes(root, 2026, 11) == before
    _night_load(engine, "2026-11-21", rec("W3", "2", 3999) | {"record_hash": "fixed"})
    publish_night(engine, CONTRACT, "2026-11-21", {(2026, 11)}, root, KEY)
    assert sorted(parts(folder)) == ["part-2026-11-02_2026-11-08.parquet", "part-2026-11-21.parquet"]
    assert _all_codes(root, 2026, 11) == before and len(_codes(folder / "part-2026-11-21.parquet")) == 1


def test_values_survive_the_read_back_exactly(engine, tmp_path):
    """Whatever way staging is read back (DB-API rows on SQLite, COPY CSV on PostgreSQL), the
    curated values are the stored ones: NULL stays NULL and an empty string stays empty, text
    with separators, quotes, newlines and Vietnamese letters is unchanged, booleans and
    timestamps keep their type and value."""
    tricky = rec("Q1", "1", 3000)
    tricky.update({"mother_ethnicity_code": "", "mother_nationality_code": None, "mother_id_type": 'a,"b"\nc',
                   "residence_province_code": "Hà Nội – 01", "caesarean": True, "under_32_weeks": False,
                   "first_issue": None, "issue_date": dt.date(2026, 11, 22), "children_in_delivery": None,
                   "birth_datetime": dt.datetime(2026, 11, 30, 23, 59, 59)})
    plain = rec("Q2", "1", 3100)
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [rows(tricky, plain)])
    root = tmp_path / "c"
    publish_partitions(engine, CONTRACT, {(2026, 11)}, root, KEY)
    got = {r["birth_weight_g"]: r for r in pq.read_table(month_file(root, 2026, 11), partitioning=None).to_pylist()}
    row = got[3000]
    assert row["mother_ethnicity_code"] == ""
    assert row["mother_nationality_code"] is None
    assert row["mother_id_type"] == 'a,"b"\nc'
    assert row["residence_province_code"] == "Hà Nội – 01"
    assert (row["caesarean"], row["under_32_weeks"], row["first_issue"]) == (True, False, None)
    assert row["issue_date"] == dt.date(2026, 11, 22) and row["children_in_delivery"] is None
    assert row["birth_datetime"] == dt.datetime(2026, 11, 30, 23, 59, 59)
    assert got[3100]["caesarean"] is None and got[3100]["birth_datetime"] == dt.datetime(2026, 11, 21, 10, 0)
    # the pseudonym of the same ID is the same whichever row (and chunk) it came from
    assert row["mother_id_number_pseudonym"] == got[3100]["mother_id_number_pseudonym"]


def test_a_load_committed_while_a_night_is_published_is_not_overwritten(engine, tmp_path, monkeypatch):
    """The night is read once for all its months; a load that commits after that read (a backfill,
    a re-run of the night) makes the months still to be written read staging again under their
    lock, so the older rows never end up in a part."""
    import loaders.curated as curated

    root = tmp_path / "c"
    early, late = rec("A", "1", 3000), rec("B", "1", 3100)
    early["birth_datetime"] = dt.datetime(2026, 10, 31, 23, 0)  # October's part is written first
    _night_load(engine, "2026-11-21", early, late)
    read = curated._night_by_month

    def read_then_a_concurrent_load(*args, **kwargs):
        got = read(*args, **kwargs)
        _night_load(engine, "2026-11-21", rec("B", "2", 3999) | {"record_hash": "corrected"})
        return got

    monkeypatch.setattr(curated, "_night_by_month", read_then_a_concurrent_load)
    curated.publish_night(engine, CONTRACT, "2026-11-21", {(2026, 10), (2026, 11)}, root, KEY)
    nov = pq.read_table(partition_dir(root, CONTRACT, 2026, 11) / "part-2026-11-21.parquet", partitioning=None)
    assert nov.column("birth_weight_g").to_pylist() == [3999]
    oct_ = pq.read_table(partition_dir(root, CONTRACT, 2026, 10) / "part-2026-11-21.parquet", partitioning=None)
    assert oct_.column("birth_weight_g").to_pylist() == [3000]


def test_a_night_part_is_in_key_byte_order_as_a_rebuilt_month_is(engine, tmp_path):
    """The night's rows are read unordered and sorted in Arrow; a month rebuilt from staging is
    sorted by the server. Both give natural-key byte order ("C" < "Z" < "a" < "b"), whatever order
    the rows were stored in and whatever the server's collation."""
    import pyarrow as pa

    from loaders.curated import publish_night
    from transforms.pseudonymize import pseudonymize

    _night_load(engine, "2026-11-21", rec("b", "1", 3000), rec("Z", "1", 3001))
    _night_load(engine, "2026-11-21", rec("a", "1", 3002), rec("C", "1", 3003))
    spec = CONTRACT.columns["certificate_code"]
    expected = pseudonymize(pa.array(["C", "Z", "a", "b"]), KEY, spec.pseudonym_domain or "certificate_code").to_pylist()
    night_root, month_root = tmp_path / "night", tmp_path / "month"
    publish_night(engine, CONTRACT, "2026-11-21", {(2026, 11)}, night_root, KEY)
    part = partition_dir(night_root, CONTRACT, 2026, 11) / "part-2026-11-21.parquet"
    assert pq.read_table(part, partitioning=None).column("certificate_code_pseudonym").to_pylist() == expected
    publish_partitions(engine, CONTRACT, {(2026, 11)}, month_root, KEY)
    rebuilt = month_file(month_root, 2026, 11)
    assert pq.read_table(rebuilt, partitioning=None).column("certificate_code_pseudonym").to_pylist() == expected


def test_republish_rewrites_parts_written_under_an_older_curated_treatment(engine, tmp_path, monkeypatch, capsys):
    """``s06 republish``: a part written before a column's treatment changed (here: it still holds
    the mother's name, in clear) is rewritten from staging with the current treatment; a month
    folder whose rows are gone loses its files."""
    import pyarrow as pa

    from cli.republish import main

    root = tmp_path / "data"
    _night_load(engine, "2026-11-21", rec("A", "1", 3000), rec("B", "1", 3100))
    folder = partition_dir(root / "curated", CONTRACT, 2026, 11)
    folder.mkdir(parents=True)
    stale = pa.table({"certificate_code_pseudonym": ["x", "y"], "mother_full_name": ["NGUYEN THI A", "TRAN THI B"]})
    pq.write_table(stale, folder / "part-2026-11-21.parquet")
    gone = partition_dir(root / "curated", CONTRACT, 2026, 8)
    gone.mkdir(parents=True)
    pq.write_table(stale, gone / "part-2026-08-02.parquet")
    monkeypatch.setenv("S06_DATA_ROOT", str(root))
    monkeypatch.setenv("S06_STAGING_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", KEY.decode())

    from cli.main import main as s06

    assert s06(["republish", "--dataset", "birth_certificates", "--month", "2026-11"]) == 0
    part = pq.read_table(folder / "part-2026-11-21.parquet", partitioning=None)
    assert part.schema.equals(curated_schema(CONTRACT), check_metadata=False)
    assert len(_codes(folder / "part-2026-11-21.parquet")) == 2
    assert list(gone.glob("part-*")), "--month 2026-11 leaves August alone"

    assert main(["--dataset", "birth_certificates"]) == 0  # every month: the zone's folders too
    assert not list(gone.glob("part-*")), "a month with no rows in staging loses its files"
    out = capsys.readouterr().out
    assert "2 month(s) rebuilt" in out and "NGUYEN" not in out


def test_republish_refuses_a_month_that_is_not_one_and_a_missing_key_in_one_line(capsys, monkeypatch, tmp_path):
    from cli.republish import main

    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "birth_certificates", "--month", "2026-13"])
    assert exc.value.code == 2 and "not a month" in capsys.readouterr().err
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("S06_STAGING_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.delenv("S06_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_S06_PSEUDONYM_KEY", "")
    assert main(["--dataset", "birth_certificates"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no pseudonymization key") and err.count("\n") == 1


def test_kept_text_is_masked_where_it_holds_a_phone_or_id_number_and_free_text_is_not_curated():
    import pyarrow as pa

    from loaders.curated import DIGIT_RUN_MASK, to_curated

    contract = load_contract("health_workforce")
    n = 5
    cols = {}
    for name, spec in contract.columns.items():
        cols[name] = pa.nulls(n, {"date": pa.date32(), "datetime": pa.timestamp("s"), "int": pa.int32(),
                                  "bool": pa.bool_()}.get(spec.type, pa.string()))
        if spec.year_only_allowed:
            cols[f"{name}_year"] = pa.nulls(n, pa.int32())
    from loaders.curated import CURATED_LINEAGE

    for name in CURATED_LINEAGE:
        cols[name] = pa.array(["x"] * n)
    cols["title"] = pa.array(["Bác sĩ, liên hệ 0912 999 888", "Điều dưỡng hạng 3", "CCCD 001195700001 ghi nhầm",
                              "Khoa 12, năm 2026", "+84-912-999-888"])
    curated = to_curated(pa.table(cols), contract, KEY)
    assert curated.column("title").to_pylist() == [
        f"Bác sĩ, liên hệ {DIGIT_RUN_MASK}", "Điều dưỡng hạng 3", f"CCCD {DIGIT_RUN_MASK} ghi nhầm",
        "Khoa 12, năm 2026", DIGIT_RUN_MASK]
    cols["title"] = pa.array(["ĐT (091) 234-5678", "0912–345–678 gọi", "０９１２３４５６７８", "0912/345/678",
                              "Bậc 2, hạng 1, mã 12345678"])
    assert to_curated(pa.table(cols), contract, KEY).column("title").to_pylist() == [
        f"ĐT {DIGIT_RUN_MASK}", f"{DIGIT_RUN_MASK} gọi", DIGIT_RUN_MASK, DIGIT_RUN_MASK, "Bậc 2, hạng 1, mã 12345678"]
    assert "exam_reason" not in curated_schema(load_contract("driver_health_checks")).names

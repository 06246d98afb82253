"""Curated publish on SQLite and PostgreSQL: pseudonymized, typed, one atomic file per month."""

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from config.contracts import load_contract
from loaders import staging
from loaders.curated import PARQUET_FILE, curated_schema, partition_dir, publish_partitions
from tests.loaders.test_staging import rec, rows

CONTRACT = load_contract("birth_certificates")
KEY = b"t" * 32


@pytest.fixture
def engine(staging_engine):
    return staging_engine


def test_publish_month_partition(engine, tmp_path):
    a, b = rec("A", "1", 3000), rec("B", "1", 3100)
    b["birth_datetime"] = dt.datetime(2026, 10, 31, 23, 59)
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [rows(a, b)])
    root = tmp_path / "curated"
    written = publish_partitions(engine, CONTRACT, {(2026, 11), (2026, 10), (2026, 9)}, root, KEY)
    assert len(written) == 2
    nov = pq.read_table(partition_dir(root, CONTRACT, 2026, 11) / PARQUET_FILE, partitioning=None)
    assert nov.schema.equals(curated_schema(CONTRACT), check_metadata=False)
    row = nov.to_pylist()[0]
    assert row["birth_datetime"] == dt.datetime(2026, 11, 21, 10, 0)
    assert row["mother_id_number_pseudonym"] and row["mother_id_number_pseudonym"] != "001190012345"
    assert "mother_id_number" not in nov.column_names and "mother_full_name" not in nov.column_names
    assert not list(partition_dir(root, CONTRACT, 2026, 11).glob(".*"))  # no temp files left
    assert not partition_dir(root, CONTRACT, 2026, 9).exists() or not (partition_dir(root, CONTRACT, 2026, 9) / PARQUET_FILE).exists()


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
    assert (partition_dir(root, CONTRACT, 2026, 10) / PARQUET_FILE).exists()
    with engine.begin() as conn:  # the re-issue corrects the birth time into November
        counts = staging.load_rows(conn, CONTRACT, [rows(rec("A", "2", 3000) | {"record_hash": "fixed"})])
    assert counts.replaced_months == {(2026, 10)}
    publish_partitions(engine, CONTRACT, {(2026, 11)} | counts.replaced_months, root, KEY)
    assert not (partition_dir(root, CONTRACT, 2026, 10) / PARQUET_FILE).exists()  # A left October
    nov = pq.read_table(partition_dir(root, CONTRACT, 2026, 11) / PARQUET_FILE, partitioning=None)
    assert nov.num_rows == 2

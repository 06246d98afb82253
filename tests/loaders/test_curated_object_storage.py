"""Curated publish, compaction and full rebuild on object storage (a real S3-compatible server on
loopback), against the same operations on a local folder: same part files, same rows; analysts read
the bucket with pandas and DuckDB; the month lock needs no shared file system."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from config.storage import LocalZone, filesystem, zone
from loaders.curated import compact, month_rel, parts, publish_night, publish_partitions
from tests.loaders.test_curated import CONTRACT, KEY, _night_load
from tests.loaders.test_staging import rec


def _tables(z, folder):
    """{part name: table} of a month folder in a zone."""
    out = {}
    for name in sorted(parts(z, folder)):
        if z.remote:
            with z.open_read(f"{folder}/{name}") as fh:
                out[name] = pq.read_table(fh)
        else:
            out[name] = pq.read_table(z.path(f"{folder}/{name}"), partitioning=None)
    return out


def test_nightly_parts_compaction_and_rebuild_match_a_local_folder(staging_engine, s3_env, tmp_path, monkeypatch):
    monkeypatch.delenv("S06_LOCK_DIR", raising=False)
    engine = staging_engine
    local = LocalZone(tmp_path / "curated")
    remote = zone(f"s3://{s3_env}/data/curated", scratch=tmp_path / "scratch")
    folder = month_rel(CONTRACT, 2026, 11)
    for day in (2, 3, 4):  # Monday-Wednesday of the week of 2026-11-02
        night = f"2026-11-{day:02d}"
        _night_load(engine, night, rec(f"W{day}", "1", 3000 + day))
        written = publish_night(engine, CONTRACT, night, {(2026, 11)}, remote, KEY)
        publish_night(engine, CONTRACT, night, {(2026, 11)}, local, KEY)
        assert written == [f"s3://{s3_env}/data/curated/{folder}/part-{night}.parquet"]
    assert _tables(remote, folder).keys() == _tables(local, folder).keys() == {
        "part-2026-11-02.parquet", "part-2026-11-03.parquet", "part-2026-11-04.parquet"}
    # a re-issue of a record of an earlier night rewrites that night's part, remotely too
    _night_load(engine, "2026-11-05", rec("W3", "2", 3999) | {"record_hash": "fixed"})
    publish_night(engine, CONTRACT, "2026-11-05", {(2026, 11)}, remote, KEY)
    publish_night(engine, CONTRACT, "2026-11-05", {(2026, 11)}, local, KEY)
    r, loc = _tables(remote, folder), _tables(local, folder)
    assert r.keys() == loc.keys() and "part-2026-11-03.parquet" not in r  # W3's old part became empty
    assert all(r[n].equals(loc[n]) for n in r)
    # compaction: one weekly part replaces the nights, on both
    assert compact(engine, CONTRACT, remote, KEY, before="2026-11-20")
    compact(engine, CONTRACT, local, KEY, before="2026-11-20")
    r, loc = _tables(remote, folder), _tables(local, folder)
    week = "part-2026-11-02_2026-11-08.parquet"
    assert list(r) == list(loc) == [week] and r[week].equals(loc[week])
    # the full rebuild: one part per night again, the weekly part removed
    publish_partitions(engine, CONTRACT, {(2026, 11)}, remote, KEY)
    publish_partitions(engine, CONTRACT, {(2026, 11)}, local, KEY)
    r, loc = _tables(remote, folder), _tables(local, folder)
    assert list(r) == list(loc) == ["part-2026-11-02.parquet", "part-2026-11-04.parquet", "part-2026-11-05.parquet"]
    assert all(r[n].equals(loc[n]) for n in r)
    # no temporary objects in the bucket, and the preparation files are gone from local disk
    fs = filesystem("s3")
    keys = [k for k in fs.find(f"{s3_env}/data")]
    assert all(Path(k).name.startswith("part-") for k in keys), keys
    assert not any((tmp_path / "scratch").glob("*.tmp")) and not any((tmp_path / "scratch").glob(".upload-*"))
    # the lock: PostgreSQL's lives in the database; SQLite's beside the database file (local disk)
    db = engine.url.database
    if engine.dialect.name == "sqlite":
        assert sorted(p.name for p in (Path(db).parent / "locks").iterdir()) == [
            "curated_birth_certificates_2026-11.lock"]
    else:
        assert not (tmp_path / "locks").exists()


def test_analysts_read_the_bucket_with_pandas_and_duckdb(staging_engine, s3_env, tmp_path):
    import duckdb
    import pandas as pd

    engine = staging_engine
    remote = zone(f"s3://{s3_env}/data/curated", scratch=tmp_path)
    for day, code in ((21, "A"), (22, "B")):
        _night_load(engine, f"2026-11-{day}", rec(code, "1", 3000 + day))
        publish_night(engine, CONTRACT, f"2026-11-{day}", {(2026, 11)}, remote, KEY)
    url = f"s3://{s3_env}/data/curated/birth_certificates"
    frame = pd.read_parquet(url)  # endpoint and credentials from the AWS environment variables
    assert len(frame) == 2 and set(frame["birth_year"].astype(int)) == {2026}
    assert set(frame["birth_month"].astype(int)) == {11}  # hive partitions became columns
    con = duckdb.connect()
    con.register_filesystem(filesystem("s3"))
    n, months = con.execute(
        f"SELECT count(*), list(DISTINCT birth_month) FROM read_parquet('{url}/*/*/*.parquet', hive_partitioning=true)"
    ).fetchone()
    assert n == 2 and [int(m) for m in months] == [11]


def test_remote_curated_with_sqlite_staging_in_memory_needs_a_lock_dir(s3_env, tmp_path, monkeypatch):
    from loaders import staging

    monkeypatch.delenv("S06_LOCK_DIR", raising=False)
    engine = staging.make_engine("sqlite://")
    staging.ensure_schema(engine, ["birth_certificates"])
    remote = zone(f"s3://{s3_env}/c", scratch=tmp_path)
    with pytest.raises(ValueError, match="S06_LOCK_DIR"):
        publish_partitions(engine, CONTRACT, {(2026, 11)}, remote, KEY)
    monkeypatch.setenv("S06_LOCK_DIR", str(tmp_path / "locks"))
    assert publish_partitions(engine, CONTRACT, {(2026, 11)}, remote, KEY) == []
    assert (tmp_path / "locks" / "curated_birth_certificates_2026-11.lock").exists()

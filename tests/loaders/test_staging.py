"""Staging loads against SQLite and a real PostgreSQL server: upsert, versions, idempotency,
atomicity."""

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa

from config.contracts import load_contract
from loaders import staging
from loaders.curated import _SA_TO_ARROW
from loaders.schema import data_columns, dataset_tables

CONTRACT = load_contract("birth_certificates")
TYPES = {n: _SA_TO_ARROW[t] for n, t in data_columns(CONTRACT)}


def rows(*records: dict) -> pa.Table:
    cols = {n: [r.get(n) for r in records] for n in TYPES}
    return pa.table({n: pa.array(v, type=TYPES[n]) for n, v in cols.items()})


def rec(code: str, version: str, weight: int, batch: str = "b1") -> dict:
    return {
        "certificate_code": code, "birth_datetime": dt.datetime(2026, 11, 21, 10, 0), "birth_weight_g": weight,
        "mother_id_number": "001190012345", "version_key": version, "record_hash": f"h{weight}",
        "batch_id": batch, "facility_code": "01929",
    }


@pytest.fixture
def engine(staging_engine):
    return staging_engine


def _current(engine):
    current, _ = dataset_tables("birth_certificates")
    with engine.connect() as c:
        cur = {r.certificate_code: (r.birth_weight_g, r.version_key) for r in c.execute(sa.select(current))}
        vers = sorted((r.certificate_code, r.record_hash) for r in c.execute(sa.text("SELECT * FROM birth_certificates_history")))
    return cur, vers


def _load(engine, table):
    with engine.begin() as conn:
        return staging.load_rows(conn, CONTRACT, [table])


def test_insert_then_identical_reload_is_noop(engine):
    t = rows(rec("A", "1", 3000), rec("B", "1", 3100))
    assert _load(engine, t) == staging.UpsertCounts(inserted=2)
    before = _current(engine)
    assert _load(engine, t) == staging.UpsertCounts(unchanged=2)
    assert _current(engine) == before


def test_newer_version_wins_and_history_kept(engine):
    _load(engine, rows(rec("A", "1", 3000)))
    assert _load(engine, rows(rec("A", "2", 3050))) == staging.UpsertCounts(updated=1)
    cur, vers = _current(engine)
    assert cur["A"] == (3050, "2")
    assert vers == [("A", "h3000"), ("A", "h3050")]


def test_older_version_arriving_late_does_not_win(engine):
    _load(engine, rows(rec("A", "2", 3050)))
    assert _load(engine, rows(rec("A", "1", 3000))) == staging.UpsertCounts(stale=1)
    cur, vers = _current(engine)
    assert cur["A"] == (3050, "2") and len(vers) == 2


def test_original_and_reissue_in_one_batch(engine):
    counts = _load(engine, rows(rec("A", "1", 3000), rec("A", "2", 3050)))
    assert counts == staging.UpsertCounts(inserted=1)
    cur, vers = _current(engine)
    assert cur["A"] == (3050, "2") and len(vers) == 2


def test_failure_inside_transaction_leaves_nothing(engine):
    def load_then_crash():
        with engine.begin() as conn:
            staging.load_rows(conn, CONTRACT, [rows(rec("A", "1", 3000))])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        load_then_crash()
    assert _current(engine) == ({}, [])


def test_reconcile_equation():
    row = {"batch_id": "x", "received": 10, "loaded": 6, "quarantined": 2, "superseded": 1, "held": 0,
           "inserted": 6, "updated": 0, "unchanged": 0}
    assert "received 10 != loaded 6" in staging.reconcile(row)
    assert staging.reconcile(row | {"superseded": 2}) is None


def test_rerun_of_an_older_interval_reports_what_it_first_reported(engine):
    night1 = rows(rec("A", "1", 3000))
    assert _load(engine, night1) == staging.UpsertCounts(inserted=1)
    assert _load(engine, rows(rec("A", "2", 3050))) == staging.UpsertCounts(updated=1)  # re-issue, night 2
    # Night 1 again: its version is on record (in history), so it is unchanged, not stale.
    assert _load(engine, night1) == staging.UpsertCounts(unchanged=1)
    assert _current(engine)[0]["A"] == (3050, "2")

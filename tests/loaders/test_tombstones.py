"""Tombstones: a record withdrawn at source stays in staging as a cancelled version, with its
history, announced on the change feed as ``cancel`` and left out of curated Parquet.

On SQLite and PostgreSQL at the staging level, and through the real batch runner for driver
certificates (``STATE=DELETE``, the contract's ``cancellation`` setting).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from config.contracts import load_contract
from config.settings import load_settings
from loaders import staging
from loaders.curated import publish_partitions
from loaders.schema import change_feed, dataset_tables
from tests.loaders.test_staging import rec, rows

BIRTHS = load_contract("birth_certificates")


def _load(engine, *records):
    with engine.begin() as conn:
        return staging.load_rows(conn, BIRTHS, [rows(*records)])


def test_a_cancellation_is_a_new_current_version_and_a_cancel_in_the_feed(staging_engine, tmp_path):
    engine = staging_engine
    _load(engine, rec("A", "1", 3000, "b1"), rec("B", "1", 3100, "b1"))
    withdrawn = rec("A", "2", 3000, "b2") | {"record_hash": "h-cancel", "record_status": "cancelled"}
    counts = _load(engine, withdrawn)
    assert counts.updated == 1
    current, versions = dataset_tables("birth_certificates")
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(current.c.certificate_code, current.c.record_status)).all())
        kept = conn.execute(sa.select(versions.c.certificate_code, versions.c.version_key)).all()
        feed = [(r.natural_key, r.operation, r.batch_id) for r in conn.execute(sa.select(change_feed).order_by(change_feed.c.seq))]
    assert status == {"A": "cancelled", "B": None}  # B came from a writer that set no status: active
    assert kept == [("A", "1")], "the withdrawn record's earlier version is kept"
    assert feed[-1] == ("A", "cancel", "b2")
    from cli.consumer import consume

    acks = consume(engine, "birth_certificates", "population_db", {"001190012345"})
    assert (acks["registered"], acks["withdrawn"]) == (2, 1)
    # Re-loading the tombstone is a no-op; an older version arriving late does not resurrect A.
    assert _load(engine, withdrawn).updated == 0
    assert _load(engine, rec("A", "0", 2900, "b0")).updated == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(current.c.record_status).where(current.c.certificate_code == "A")).scalar() == "cancelled"
    # Curated Parquet carries only the live record.
    written = publish_partitions(engine, BIRTHS, {(2026, 11)}, tmp_path, b"test-key-0123456789abcdef")
    table = pq.read_table(written[0], partitioning=None)
    assert table.num_rows == 1


def test_driver_delete_through_the_batch_runner(tmp_path, monkeypatch):
    from pipeline.batch import run_batch

    facility = "24009"
    registry = tmp_path / "facilities.yaml"
    registry.write_text(
        f'facilities:\n  - {{code: "{facility}", name: T, province_code: "24", source_kind: file_drop, '
        "datasets: {driver_health_checks: {format: gksk_jsonl}}}\n", encoding="utf-8")
    settings = dataclasses.replace(load_settings(), data_root=tmp_path, facilities_file=registry,
                                   staging_url=f"sqlite:///{tmp_path / 'staging.db'}")
    monkeypatch.setenv("S06_DROP_ROOT", str(tmp_path / "drop"))
    monkeypatch.setenv("S06_REFERENCE_ROOT", str(tmp_path / "reference"))
    base = {"SO": f"00001/GKSKLX/{facility}/26", "HOTEN": "NGUYỄN VĂN AN", "GIOITINHVAL": "0",
            "NGAYSINH": "01/02/1990", "SOCMND_PASSPORT": "024090012345", "IDBENHVIEN": facility,
            "NGAYKHAM": "20/11/2026", "MATUY": "0", "NGAYKETLUAN": "20/11/2026", "KETLUAN": "A0-1",
            "HANGBANGLAI": "B", "STATE": "ADD"}
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    nights = [dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
    for night, payload in zip(nights, [base, base | {"STATE": "DELETE", "NGAYKETLUAN": "21/11/2026",
                                                     "NGAYKHAM": "21/11/2026"}], strict=True):
        folder = tmp_path / "drop" / facility / "driver_health_checks" / night.isoformat()
        folder.mkdir(parents=True)
        (folder / f"{night}.jsonl").write_text(json.dumps(payload, ensure_ascii=False) + "\n", encoding="utf-8")
        start = dt.datetime(night.year, night.month, night.day, tzinfo=tz)
        summary = run_batch("driver_health_checks", facility, start, start + dt.timedelta(days=1), settings)
        assert summary["loaded"] == 1, summary
    engine = staging.make_engine(settings.staging_url)
    current, versions = dataset_tables("driver_health_checks")
    with engine.connect() as conn:
        assert conn.execute(sa.select(current.c.state, current.c.record_status)).all() == [("DELETE", "cancelled")]
        assert conn.execute(sa.select(versions.c.state, versions.c.record_status)).all() == [("ADD", "active")]
        ops = conn.execute(sa.select(change_feed.c.operation).order_by(change_feed.c.seq)).scalars().all()
    assert ops == ["insert", "cancel"]


@pytest.mark.parametrize("state", ["EDIT", "DELETE"])
def test_a_change_of_an_unknown_key_is_quarantined(state):
    """K7: EDIT and DELETE must reference a known certificate (checked without staging here)."""
    import pyarrow as pa

    from transforms.drivers import edit_unmatched

    class NothingStaged:
        def existing_keys(self, dataset, keys):
            return pa.array([False] * len(keys))

    keys = pa.array(["X|B", "Y|B", "X|B"])
    states = pa.array(["ADD", state, state])
    # Y was never submitted: unmatched; X was ADDed earlier in the chunk: matched.
    assert edit_unmatched(keys, states, NothingStaged()).to_pylist() == [False, True, False]


def test_ledger_view_shows_acknowledgements(staging_engine):
    """``batch_ledger_acknowledged``: the ledger row and what the population database did with it."""
    from cli.consumer import consume

    engine = staging_engine
    _load(engine, rec("A", "1", 3000, "b1"), rec("B", "1", 3100, "b1") | {"mother_id_number": "079300000001"})
    with engine.begin() as conn:
        staging.write_ledger(conn, {"batch_id": "b1", "dataset": "birth_certificates", "facility_code": "01929",
                                    "interval_start": "2026-11-21", "interval_end": "2026-11-22", "status": "loaded",
                                    "received": 2, "loaded": 2})
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT acknowledged FROM batch_ledger_acknowledged WHERE batch_id = 'b1'")).scalar()
    consume(engine, "birth_certificates", "population_db", {"001190012345"})
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT received, loaded, acknowledged, registered, rejected FROM "
                                   "batch_ledger_acknowledged WHERE batch_id = 'b1'")).one()
    assert before == 0 and tuple(row) == (2, 2, 2, 1, 1)


def test_a_first_load_announces_each_new_key_as_insert_or_cancel(staging_engine):
    """The plain first load (every key new) stages its feed without probing the current table
    again; the feed must still say ``cancel`` for a record withdrawn before it was ever loaded,
    and a second load that updates a key must still say ``update``."""
    engine = staging_engine
    withdrawn = rec("C", "1", 3000, "b1") | {"record_hash": "h-c", "record_status": "cancelled"}
    counts = _load(engine, rec("A", "1", 3000, "b1"), withdrawn, rec("B", "1", 3100, "b1"))
    assert counts.inserted == 3
    _load(engine, rec("A", "2", 3050, "b2"), rec("D", "1", 3200, "b2"))
    with engine.connect() as conn:
        feed = [(r.natural_key, r.operation, r.batch_id) for r in conn.execute(sa.select(change_feed).order_by(change_feed.c.seq))]
    assert feed == [("A", "insert", "b1"), ("B", "insert", "b1"), ("C", "cancel", "b1"),
                    ("A", "update", "b2"), ("D", "insert", "b2")]


def test_a_load_into_an_empty_table_counts_and_announces_like_any_other(staging_engine):
    """Keys unique and the current table empty: PostgreSQL copies the rows straight in (no key
    table, no classification). Counts per batch, the feed and what a later load sees must be
    exactly what the classifying path gives, including a cancel and two batches in one load."""
    engine = staging_engine
    withdrawn = rec("C", "1", 3000, "b1") | {"record_hash": "h-c", "record_status": "cancelled"}

    def load(*records):
        with engine.begin() as conn:
            return staging.load_batches(conn, BIRTHS, [rows(*records)], unique_keys=True)

    first = load(rec("A", "1", 3000, "b1"), withdrawn, rec("B", "1", 3100, "b2"))
    assert {b: (c.inserted, c.updated, c.unchanged, c.stale) for b, c in first.items()} == {
        "b1": (2, 0, 0, 0), "b2": (1, 0, 0, 0)}
    assert load(rec("A", "1", 3000, "b1"))["b1"].unchanged == 1  # the same version again: nothing written
    assert load(rec("D", "1", 3200, "b3"))["b3"].inserted == 1  # all keys new, table not empty
    assert load(rec("A", "2", 3050, "b4"))["b4"].updated == 1
    current, _versions = dataset_tables("birth_certificates")
    with engine.connect() as conn:
        feed = [(r.natural_key, r.operation, r.batch_id) for r in conn.execute(sa.select(change_feed).order_by(change_feed.c.seq))]
        stored = conn.execute(sa.select(sa.func.count()).select_from(current)).scalar()
    assert feed == [("A", "insert", "b1"), ("B", "insert", "b2"), ("C", "cancel", "b1"),
                    ("D", "insert", "b3"), ("A", "update", "b4")]
    assert stored == 4

"""The quality mart on SQLite and a real PostgreSQL server: delivered / silent / failed, counts and
rates per rule, volume against the trailing median, event-to-receipt lag, idempotent refresh, and
no personal data in any mart column."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa

from config.quality import QualityConfig, parse_quality_config
from config.settings import load_settings
from loaders import staging
from loaders.quality import quality_facility_night, quality_rule_night, read_mart, refresh_night
from tests.loaders.test_staging import CONTRACT, rows

NIGHT = dt.date(2026, 11, 25)
REGISTRY = """facilities:
  - {code: "01929", name: A, province_code: "01", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
  - {code: "22015", name: B, province_code: "22", source_kind: file_drop, datasets: {birth_certificates: {format: csv}}}
  - {code: "31011", name: C, province_code: "31", source_kind: file_drop, datasets: {birth_certificates: {format: csv}}}
  - {code: "38017", name: D, province_code: "38", source_kind: file_drop, datasets: {birth_certificates: {format: csv}}}
  - {code: "48005", name: E, province_code: "48", source_kind: file_drop, datasets: {birth_certificates: {format: csv}}}
  - {code: "79034", name: F, province_code: "79", source_kind: file_drop, datasets: {death_notices: {format: pl02}}}
"""
CFG = QualityConfig(trailing_nights=14, min_history_nights=3, min_median=5, drop_ratio=0.5, spike_ratio=2.0,
                    deadline_hours={"birth_certificates": 72.0})
MARKER_NAME = "ZZMARKERNAME"
MARKER_ID = "079199012345"


def _ledger(facility: str, night: dt.date, status: str, received: int, **counts) -> dict:
    start = dt.datetime(night.year, night.month, night.day) - dt.timedelta(hours=7)
    return {
        "batch_id": f"birth_certificates/{facility}/{night.isoformat()}", "dataset": "birth_certificates",
        "facility_code": facility, "interval_start": start.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "interval_end": (start + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00"), "status": status,
        "received": received, "loaded": counts.get("loaded", received - counts.get("quarantined", 0)),
        "inserted": 0, "updated": 0, "unchanged": 0, "superseded": 0, "quarantined": counts.get("quarantined", 0),
        "held": counts.get("held", 0), "flagged": counts.get("flagged", 0),
        "files_received": counts.get("files_received", 1 if received else 0),
        "files_rejected": counts.get("files_rejected", 0), "files_skipped": 0, "reason": counts.get("reason"),
    }


def _finding(batch: str, ref: str, rule: str, severity: str = "error", key: str | None = None) -> dict:
    return {"batch_id": batch, "dataset": "birth_certificates", "facility_code": batch.split("/")[1],
            "source_file": "f.csv", "source_ref": ref, "record_key": key or f"000{ref[-2:]}.GCS.01929.26",
            "rule_id": rule, "severity": severity, "category": "conformance", "column_name": "x", "reason": "r"}


@pytest.fixture
def store(staging_engine, tmp_path, monkeypatch):
    (tmp_path / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    engine = staging_engine
    staging.ensure_schema(engine, ["birth_certificates", "death_notices"])
    tonight = "birth_certificates/01929/" + NIGHT.isoformat()
    with engine.begin() as conn:
        # 01929: four earlier nights around 40 records, tonight 10 (a drop), with findings and lags.
        for i, received in enumerate((40, 42, 38, 44), start=1):
            staging.write_ledger(conn, _ledger("01929", NIGHT - dt.timedelta(days=i), "loaded", received))
        staging.write_ledger(conn, _ledger("01929", NIGHT, "partial", 10, quarantined=2, flagged=1,
                                           files_received=2, files_rejected=1))
        # 22015: three earlier nights of 10, tonight 25 (a spike); 31011: an `empty` batch (silent);
        # 38017: no ledger row at all (silent); 48005: the source failed.
        for i in (1, 2, 3):
            staging.write_ledger(conn, _ledger("22015", NIGHT - dt.timedelta(days=i), "loaded", 10))
        staging.write_ledger(conn, _ledger("22015", NIGHT, "loaded", 25))
        staging.write_ledger(conn, _ledger("31011", NIGHT, "empty", 0))
        staging.write_ledger(conn, _ledger("48005", NIGHT, "failed", 0, reason="source unreachable: timeout"))
        staging.replace_findings(conn, tonight, [
            _finding(tonight, "row 2", "B2"), _finding(tonight, "row 2", "B3"), _finding(tonight, "row 5", "B2"),
            _finding(tonight, "row 5", "B2"),  # two B2 findings on one record: one record, two findings
            {**_finding(tonight, "file", "FILE"), "source_file": "broken.xml", "source_ref": None, "record_key": None},
        ], [_finding(tonight, "row 7", "B4", "warning")])
    # Seven loaded records of tonight's batch, born 2..100 hours before the interval end (local
    # midnight after the night), with marker names and IDs that must never reach the mart.
    cutoff = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day) + dt.timedelta(days=1)
    lags = [2, 10, 20, 30, 50, 80, 100]
    table = rows(*[{
        "certificate_code": f"{i:05d}.GCS.01929.26", "birth_datetime": cutoff - dt.timedelta(hours=h),
        "mother_full_name": MARKER_NAME, "mother_id_number": MARKER_ID, "version_key": "1", "record_hash": f"h{i}",
        "batch_id": tonight, "facility_code": "01929"} for i, h in enumerate(lags)])
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [table])
    return engine, load_settings()


def _rows(engine, table):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]


def test_refresh_classifies_counts_and_measures(store):
    engine, settings = store
    result = refresh_night(engine, NIGHT, ["birth_certificates"], settings, CFG)
    facilities, rules = read_mart(engine, NIGHT, NIGHT)
    assert result.facility_rows == len(facilities) == 5  # the death-notice facility is not expected here
    by = {r["facility_code"]: r for r in facilities}
    assert {c: r["delivery"] for c, r in by.items()} == {
        "01929": "delivered", "22015": "delivered", "31011": "silent", "38017": "silent", "48005": "failed"}
    assert by["38017"]["batch_status"] is None and by["31011"]["batch_status"] == "empty"
    a = by["01929"]
    assert (a["received"], a["quarantined"], a["flagged"], a["files_received"], a["files_rejected"]) == (10, 2, 1, 2, 1)
    assert a["quarantine_rate"] == pytest.approx(0.2) and a["validity"] == pytest.approx(0.8)
    assert a["trailing_median"] == 41.0 and a["trailing_nights"] == 4 and a["volume_anomaly"] == "drop"
    assert by["22015"]["volume_anomaly"] == "spike" and by["22015"]["volume_ratio"] == pytest.approx(2.5)
    assert by["31011"]["volume_anomaly"] is None  # no history: not judged
    assert a["lag_records"] == 7 and a["lag_median_hours"] == pytest.approx(30.0)
    assert a["lag_p95_hours"] == pytest.approx(94.0)  # numpy-style interpolation between 80 and 100
    assert a["within_deadline_share"] == pytest.approx(5 / 7) and a["deadline_hours"] == 72.0
    got = {(r["rule_id"], r["severity"]): (r["records"], r["findings"]) for r in rules}
    assert got == {("B2", "error"): (2, 3), ("B3", "error"): (1, 1), ("B4", "warning"): (1, 1), ("FILE", "error"): (1, 1)}
    assert {r["rule_id"]: r["rate"] for r in rules}["B2"] == pytest.approx(0.2)


def test_refresh_is_idempotent_and_replaces_the_night(store):
    engine, settings = store
    refresh_night(engine, NIGHT, ["birth_certificates"], settings, CFG)
    first = [{k: v for k, v in r.items() if k != "refreshed_at"} for r in _rows(engine, quality_facility_night)]
    first_rules = _rows(engine, quality_rule_night)
    refresh_night(engine, NIGHT, ["birth_certificates"], settings, CFG)
    assert [{k: v for k, v in r.items() if k != "refreshed_at"} for r in _rows(engine, quality_facility_night)] == first
    assert _rows(engine, quality_rule_night) == first_rules
    with engine.begin() as conn:  # the facility re-sends: the night's findings change
        staging.replace_findings(conn, f"birth_certificates/01929/{NIGHT.isoformat()}", [], [])
    refresh_night(engine, NIGHT, ["birth_certificates"], settings, CFG)
    assert _rows(engine, quality_rule_night) == []


def test_thresholds_come_from_the_config(store):
    engine, settings = store
    refresh_night(engine, NIGHT, ["birth_certificates"], settings, dataclasses.replace(CFG, drop_ratio=0.2,
                                                                                      spike_ratio=3.0))
    by = {r["facility_code"]: r for r in read_mart(engine, NIGHT, NIGHT)[0]}
    assert by["01929"]["volume_anomaly"] is None and by["22015"]["volume_anomaly"] is None
    with pytest.raises(ValueError, match="drop_ratio"):
        parse_quality_config({"volume": {"drop_ratio": 1.5}})


def test_mart_holds_no_personal_data_or_record_keys(store):
    engine, settings = store
    refresh_night(engine, NIGHT, ["birth_certificates"], settings, CFG)
    text = repr(_rows(engine, quality_facility_night)) + repr(_rows(engine, quality_rule_night))
    for secret in (MARKER_NAME, MARKER_ID, ".GCS.", "row 2", "f.csv", "broken.xml"):
        assert secret not in text

"""Facility isolation across source kinds, against the real sample facility systems.

A REST facility whose API fails (5xx after every retry, auth rejected, a repeating page) ends
its batch failed with a readable reason in the ledger while the file-drop facilities of the same
shard load; fixing the fault and re-running loads only what is missing. The SQL facility is also
read from a PostgreSQL copy of its database. Each test uses its own staging store, so the shared
e2e run is not disturbed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import pytest
import sqlalchemy as sa

from loaders import staging
from loaders.schema import batch_ledger
from pipeline.errors import BatchFailed, TransportError
from tests.e2e.conftest import NIGHTS, TZ, select

pytestmark = pytest.mark.integration

DATASET = "driver_health_checks"
REST_FACILITY = "75440"


def _interval(night: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(night.year, night.month, night.day, tzinfo=TZ)
    return start, start + dt.timedelta(days=1)


@pytest.fixture
def own_store(sample_systems, tmp_path):
    settings, server = sample_systems
    settings = dataclasses.replace(settings, staging_url=f"sqlite:///{tmp_path / 'staging.db'}")
    server.clear_faults()
    yield settings, server, staging.make_engine(settings.staging_url)
    server.clear_faults()


def _facilities(settings) -> list[str]:
    from config.registry import facilities_for, load_registry

    return [f.code for f in facilities_for(DATASET, load_registry(settings.facilities_file))]


def _ledger(engine) -> dict[str, dict]:
    return {r["facility_code"]: r for r in select(engine, batch_ledger) if r["dataset"] == DATASET}


def test_failing_api_fails_only_its_facility_and_a_rerun_after_the_fix_completes(own_store):
    from pipeline.tasks import process_shard

    settings, server, engine = own_store
    server.set_fault("error_500")
    codes = _facilities(settings)
    assert REST_FACILITY in codes and len(codes) >= 2
    start, end = _interval(NIGHTS[0])
    with pytest.raises(TransportError, match=REST_FACILITY):
        process_shard(DATASET, codes, start, end, settings)
    ledger = _ledger(engine)
    assert ledger[REST_FACILITY]["status"] == "failed"
    assert "source unreachable" in ledger[REST_FACILITY]["reason"] and "500" in ledger[REST_FACILITY]["reason"]
    others = [c for c in codes if c != REST_FACILITY]
    assert all(ledger[c]["status"] == "loaded" and ledger[c]["loaded"] > 0 for c in others)
    before = {c: ledger[c] for c in others}

    server.clear_faults()
    process_shard(DATASET, codes, start, end, settings)
    ledger = _ledger(engine)
    assert ledger[REST_FACILITY]["status"] == "loaded" and ledger[REST_FACILITY]["loaded"] > 0
    assert ledger[REST_FACILITY]["source_kind"] == "rest_api"
    # The facilities that had loaded are recognised as unchanged and skipped: their recorded
    # outcome stands, one more attempt is counted.
    for c in others:
        assert ledger[c]["attempts"] == before[c]["attempts"] + 1
        assert {k: v for k, v in ledger[c].items() if k != "attempts"} == {
            k: v for k, v in before[c].items() if k != "attempts"}


@pytest.mark.parametrize(("fault", "kwargs", "expected"), [
    ("auth_reject", {}, "401"),
    ("bad_request_400", {}, "400"),
])
def test_non_retryable_source_errors_are_recorded_not_retried(own_store, fault, kwargs, expected):
    from pipeline.batch import run_batch

    settings, server, engine = own_store
    server.set_fault(fault, **kwargs)
    start, end = _interval(NIGHTS[0])
    before = len(server.requests_log)
    with pytest.raises(BatchFailed, match=r"source|facility"):
        run_batch(DATASET, REST_FACILITY, start, end, settings)
    row = _ledger(engine)[REST_FACILITY]
    assert row["status"] == "failed" and row["reason"].startswith("source rejected")
    assert expected in row["reason"].lower()
    assert len(server.requests_log) - before <= 4, "a rejected request must not be retried"


def _optional_tag(fmt: str) -> str:
    """A column the SQL layout reads that is optional (its absence does not quarantine rows)."""
    from config.contracts import load_contract

    contract = load_contract("birth_certificates")
    return next(tag for name, spec in contract.columns.items()
                if not spec.required and (tag := contract.tag_for(name, fmt)) is not None and not spec.rules)


@pytest.mark.parametrize("renamed", [False, True], ids=["as-sent", "optional-column-renamed"])
def test_sql_facility_read_from_postgresql(own_store, pg_server, renamed):
    from config.registry import load_registry
    from loaders.schema import ingested_files
    from pipeline.batch import run_batch
    from sample_data.generator import table_rows

    settings, _server, engine = own_store
    sql_fac = next(f for f in load_registry(settings.facilities_file) if f.source_kind == "sql")
    rows = table_rows(settings.data_root, sql_fac.code)
    url = pg_server.create_database("facility_db_copy")
    feed = sql_fac.datasets["birth_certificates"].options
    fac_engine = sa.create_engine(url)
    gone = _optional_tag(sql_fac.datasets["birth_certificates"].format)
    if renamed:  # the facility renamed a column the layout reads: its values load empty, and it is said
        rows = [{(f"{k}_OLD" if k == gone else k): v for k, v in r.items()} for r in rows]
    cols = list(rows[0])
    meta = sa.MetaData()
    table = sa.Table(feed["table"], meta, *[sa.Column(c, sa.Integer if c == "ROW_ID" else sa.Text, primary_key=c == "ROW_ID")
                                            for c in cols])
    meta.create_all(fac_engine)
    # One row the facility system left without a cursor value: no night selects it, and every
    # night's ledger says so instead of losing it silently.
    orphan = dict(rows[0], ROW_ID=max(int(r["ROW_ID"]) for r in rows) + 1, UPDATED_AT=None)
    # And one whose cursor text is written another way: compared as text it is in no window.
    other_way = dict(rows[0], ROW_ID=orphan["ROW_ID"] + 1, UPDATED_AT="21/11/2026 10:00:00")
    with fac_engine.begin() as conn:
        conn.execute(sa.insert(table), [*rows, orphan, other_way])
    fac_engine.dispose()
    u = sa.engine.make_url(url)
    conn_json = json.dumps({"conn_type": "postgres", "host": u.host, "port": u.port, "login": u.username,
                            "password": u.password, "schema": u.database})
    name = f"AIRFLOW_CONN_{sql_fac.conn_id.upper()}"
    saved = os.environ.get(name)
    os.environ[name] = conn_json
    try:
        results = {}
        for night in NIGHTS:
            start, end = _interval(night)
            results[night] = run_batch("birth_certificates", sql_fac.code, start, end, settings)
    finally:
        if saved is not None:
            os.environ[name] = saved
    by_night = {n.isoformat(): n for n in NIGHTS}
    expected = {}
    for r in rows:
        night = r["UPDATED_AT"][:10]
        if night in by_night:
            expected[night] = expected.get(night, 0) + 1
    assert {n.isoformat(): results[n]["received"] for n in NIGHTS} == expected
    ledger = {r["batch_id"]: r for r in select(engine, batch_ledger)}
    marks = [ledger[f"birth_certificates/{sql_fac.code}/{n.isoformat()}"]["high_water_mark"] for n in NIGHTS]
    assert all(m and m.startswith(n.isoformat()) for m, n in zip(marks, NIGHTS, strict=True))
    reasons = [ledger[f"birth_certificates/{sql_fac.code}/{n.isoformat()}"]["reason"] or "" for n in NIGHTS]
    assert all("1 row(s) of the source table have no cursor value and are never extracted" in r for r in reasons)
    assert all("1 row(s) of the source table have a cursor value not written YYYY-MM-DD HH:MM:SS" in r for r in reasons)
    notes = [r["reason"] or "" for r in select(engine, ingested_files) if r["facility_code"] == sql_fac.code]
    assert notes and len(notes) == sum(1 for r in select(engine, ingested_files) if r["facility_code"] == sql_fac.code)
    said = [f"not in the source table (loaded empty): {gone}" in n for n in notes]
    assert all(said) if renamed else not any(said)


def test_a_broken_connection_fails_its_facility_without_quoting_the_secret(own_store, monkeypatch, caplog):
    """A connection the code cannot use (here: no host) is a recorded failure that says why (it
    used to say only ``ValueError``); the connection's password appears nowhere (ledger,
    exception, log)."""
    from pipeline.batch import run_batch

    settings, _server, engine = own_store
    monkeypatch.setenv(f"AIRFLOW_CONN_S06_FAC_{REST_FACILITY}",
                       json.dumps({"conn_type": "http", "login": "s06", "password": "pw-SECRET-42"}))
    start, end = _interval(NIGHTS[0])
    with pytest.raises(BatchFailed) as err:
        run_batch(DATASET, REST_FACILITY, start, end, settings)
    row = _ledger(engine)[REST_FACILITY]
    assert row["status"] == "failed" and row["reason"] == (
        f"source rejected: facility {REST_FACILITY}: connection 's06_fac_{REST_FACILITY}' cannot be used: the API "
        "connection has no host")
    assert "pw-SECRET-42" not in str(err.value) + row["reason"] + caplog.text

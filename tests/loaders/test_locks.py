"""The pipeline's locks (loaders/locks.py) on SQLite and a real PostgreSQL 15: they serialise,
every wait ends with a message naming the lock, a dead holder releases them, timeouts are
settings, and a load or a batch that cannot get its lock fails retryably."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from config.contracts import load_contract
from loaders import locks, migrate, staging
from tests.loaders.test_staging import rec, rows

CONTRACT = load_contract("birth_certificates")


@pytest.fixture
def engine(staging_engine):
    return staging_engine


def _second_engine(engine):
    return staging.make_engine(engine.url.render_as_string(hide_password=False))


@pytest.mark.parametrize("name", [locks.FEED, locks.dataset("birth_certificates"),
                                  locks.curated("death_notices", 2026, 11), locks.MIGRATIONS])
def test_a_held_lock_makes_others_wait_and_the_wait_ends_with_a_named_message(engine, name):
    other = _second_engine(engine)
    try:
        with engine.connect() as holder:
            holder.begin()
            locks.hold(holder, name, 5)
            t0 = time.monotonic()
            with pytest.raises(locks.LockTimeout) as caught, other.begin() as conn:
                locks.hold(conn, name, 0.5)
            waited = time.monotonic() - t0
            assert 0.4 <= waited < 10
            assert locks.describe(name) in str(caught.value) and "retry" in str(caught.value)
            assert caught.value.retryable and caught.value.name == name
            holder.commit()
        # released by the commit: taken at once now
        t0 = time.monotonic()
        with other.begin() as conn:
            locks.hold(conn, name, 5)
        assert time.monotonic() - t0 < 3
    finally:
        other.dispose()


def test_locks_of_different_names_do_not_wait_for_each_other_on_postgresql(pg_url):
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    try:
        with engine.connect() as a, engine.connect() as b:
            a.begin()
            locks.hold(a, locks.curated("death_notices", 2026, 11), 5)
            b.begin()
            t0 = time.monotonic()
            locks.hold(b, locks.curated("death_notices", 2026, 12), 5)
            locks.hold(b, locks.dataset("death_notices"), 5)
            assert time.monotonic() - t0 < 2
    finally:
        engine.dispose()


def test_hold_serialises_critical_sections(engine):
    """Two threads increment a shared counter read-modify-write under the lock: no lost update."""
    counter = {"n": 0}
    errors: list[str] = []

    def work():
        try:
            for _ in range(10):
                with engine.begin() as conn:
                    locks.hold(conn, locks.curated("birth_certificates", 2026, 11), 30)
                    n = counter["n"]
                    time.sleep(0.005)
                    counter["n"] = n + 1
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and counter["n"] == 20


def test_a_dead_holder_releases_the_lock_on_postgresql(pg_url, pg_server):
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    admin = sa.create_engine(pg_server.url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        holder = engine.connect()
        holder.begin()
        locks.hold(holder, locks.FEED, 5)
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as conn:  # the holder's process dies (as under SIGKILL of its client)
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        holder.invalidate()
        with engine.begin() as conn:
            locks.hold(conn, locks.FEED, 5)
    finally:
        admin.dispose()
        engine.dispose()


def test_hold_restores_the_sessions_own_lock_timeout_on_postgresql(pg_url):
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '7s'")
            locks.hold(conn, locks.FEED, 1)
            assert conn.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar() == "7s"
    finally:
        engine.dispose()


def test_timeouts_are_settings_with_defaults(monkeypatch):
    for env in ("S06_FEED_LOCK_TIMEOUT_S", "S06_DATASET_LOCK_TIMEOUT_S", "S06_CURATED_LOCK_TIMEOUT_S",
                "S06_MIGRATION_LOCK_TIMEOUT_S", "S06_LOCK_TIMEOUT_S"):
        monkeypatch.delenv(env, raising=False)
    assert locks.timeout_for(locks.FEED) == 60
    assert locks.timeout_for(locks.dataset("x")) == 900
    assert locks.timeout_for(locks.curated("x", 2026, 1)) == 900
    assert locks.timeout_for("something-else") == 60
    monkeypatch.setenv("S06_FEED_LOCK_TIMEOUT_S", "2.5")
    monkeypatch.setenv("S06_CURATED_LOCK_TIMEOUT_S", "12")
    assert locks.timeout_for(locks.FEED) == 2.5
    assert locks.timeout_for(locks.curated("x", 2026, 1)) == 12
    assert "S06_FEED_LOCK_TIMEOUT_S" in str(locks.LockTimeout(locks.FEED, 2.5))
    monkeypatch.setenv("S06_FEED_LOCK_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="S06_FEED_LOCK_TIMEOUT_S"):
        locks.timeout_for(locks.FEED)
    monkeypatch.setenv("S06_FEED_LOCK_TIMEOUT_S", "0")
    with pytest.raises(ValueError, match="positive"):
        locks.timeout_for(locks.FEED)


def test_a_load_that_cannot_get_the_feed_lock_fails_retryably_and_leaves_nothing(pg_url, monkeypatch):
    monkeypatch.setenv("S06_FEED_LOCK_TIMEOUT_S", "1")
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    try:
        with engine.connect() as holder:
            holder.begin()
            locks.hold(holder, locks.FEED)
            t0 = time.monotonic()
            with pytest.raises(locks.LockTimeout, match="change-feed lock"), engine.begin() as conn:
                staging.load_rows(conn, CONTRACT, [rows(rec("A", "1", 3000))])
            assert time.monotonic() - t0 < 10
            holder.rollback()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates")).scalar() == 0
        with engine.begin() as conn:  # and the retry goes through
            assert staging.load_rows(conn, CONTRACT, [rows(rec("A", "1", 3000))]) == staging.UpsertCounts(inserted=1)
    finally:
        engine.dispose()


def test_a_batch_that_cannot_get_the_dataset_lock_is_retryable_and_says_why(pg_url, tmp_path, monkeypatch):
    from pipeline.batch import run_batch
    from pipeline.errors import TransportError
    from tests.pipeline.test_batch import NIGHT, REGISTRY, TZ, _child, _drop, _xml9

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    (tmp_path / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    monkeypatch.setenv("S06_STAGING_URL", pg_url)
    monkeypatch.setenv("S06_DATASET_LOCK_TIMEOUT_S", "1")
    _drop(tmp_path, "01929", NIGHT, "a.xml", _xml9([_child(1), _child(2)]))
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    try:
        with engine.connect() as holder:
            holder.begin()
            locks.hold(holder, locks.dataset("birth_certificates"))
            with pytest.raises(TransportError, match="staging store busy: waited 1 s for the birth_certificates load lock"):
                run_batch("birth_certificates", "01929", start, start + dt.timedelta(days=1))
            holder.rollback()
        [row] = staging.ledger_rows(engine, "birth_certificates")
        assert row["status"] == "failed" and "load lock" in row["reason"]
        assert run_batch("birth_certificates", "01929", start, start + dt.timedelta(days=1))["inserted"] == 2
    finally:
        engine.dispose()


def test_a_migration_waiting_for_a_readers_open_transaction_ends(pg_url, monkeypatch):
    """DDL behind a long open transaction (ACCESS SHARE on a staging table) no longer waits for ever."""
    engine = staging.make_engine(pg_url)
    migrate.upgrade(engine, "0008")
    monkeypatch.setenv("S06_MIGRATION_LOCK_TIMEOUT_S", "1")
    try:
        with engine.connect() as reader:
            reader.begin()
            reader.execute(sa.text("SELECT count(*) FROM acknowledgements"))  # and stays open
            t0 = time.monotonic()
            with pytest.raises(locks.LockTimeout, match="table lock during the schema migration"):
                migrate.upgrade(engine)
            assert time.monotonic() - t0 < 15
            reader.rollback()
        assert migrate.current(engine) == "0008"  # nothing half-applied
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()

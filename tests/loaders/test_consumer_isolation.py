"""Consumers isolated, locks readers cannot take, an append-only feed: real LOGIN roles on the
real PostgreSQL 15 server of the suite (migration 0009, loaders/locks.py, pipeline/consumer.py)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from cli import consumer as ref
from config.contracts import load_contract
from loaders import locks, staging
from loaders.migrations import helpers
from loaders.schema import acknowledgements, change_feed, feed_cursors
from tests.loaders.test_staging import rec, rows

CONTRACT = load_contract("birth_certificates")
CITIZENS = {"001190012345"}


@pytest.fixture
def store(pg_url, pg_server):
    """A migrated store, an owner engine, and a factory of engines for new LOGIN roles."""
    owner = staging.make_engine(pg_url)
    staging.ensure_schema(owner, ["birth_certificates"])
    admin = sa.create_engine(pg_server.url("postgres"), isolation_level="AUTOCOMMIT")
    created, engines = [], []

    def login(group: str, name: str | None = None):
        user = name or f"t_{group.split('_')[1]}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{user}" LOGIN IN ROLE "{group}"')
        created.append(user)
        engine = staging.make_engine(sa.make_url(pg_url).set(username=user).render_as_string(hide_password=False))
        engines.append(engine)
        return engine

    yield owner, login
    for e in [*engines, owner]:
        e.dispose()
    with admin.connect() as conn:
        for user in created:
            conn.exec_driver_sql(f'DROP OWNED BY "{user}"')
            conn.exec_driver_sql(f'DROP ROLE "{user}"')
    admin.dispose()


def _load(engine, *records):
    with engine.begin() as conn:
        return staging.load_rows(conn, CONTRACT, [rows(*records)])


def _denied(engine, sql, params=None, match=r"permission denied|row-level security"):
    with pytest.raises(sa.exc.ProgrammingError, match=match), engine.begin() as conn:
        conn.execute(sa.text(sql), params or {})


def _ack(consumer, seq=1, key="A"):
    return {"consumer": consumer, "dataset": "birth_certificates", "natural_key": key, "record_hash": "h3000",
            "seq": seq, "batch_id": "b1", "status": "registered"}


# --------------------------------------------------------------------------- consumers


def test_a_consumer_acts_only_for_itself(store):
    owner, login = store
    writer = login(helpers.WRITER_ROLE)
    _load(writer, rec("A", "1", 3000), rec("B", "1", 3100, "b1") | {"mother_id_number": "079300000001"})
    a = login(helpers.READER_ROLE, f"popdb_a_{uuid.uuid4().hex[:6]}")
    b = login(helpers.READER_ROLE, f"popdb_b_{uuid.uuid4().hex[:6]}")
    name_a, name_b = a.url.username, b.url.username

    # Each consumes the feed under its own login; ids default to the login.
    assert ref.resolve_consumer(a, None) == name_a
    got_b = ref.consume(b, "birth_certificates", ref.resolve_consumer(b, None), CITIZENS)
    assert (got_b["registered"], got_b["rejected"]) == (1, 1)
    with b.connect() as conn:
        cursor_b = conn.execute(sa.select(feed_cursors.c.last_seq).where(feed_cursors.c.consumer == name_b)).scalar()
    assert cursor_b == got_b["last_seq"] > 0

    # A cannot write acknowledgements for B ...
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), a.begin() as conn:
        conn.execute(sa.insert(acknowledgements).values(**_ack(name_b, key="X")))
    # ... nor move B's cursor (its UPDATE sees no row of B), nor create one for B,
    with a.begin() as conn:
        moved = conn.execute(sa.update(feed_cursors).where(feed_cursors.c.consumer == name_b).values(last_seq=0))
        assert moved.rowcount == 0
        conn.execute(sa.update(feed_cursors).values(last_seq=0))  # "every cursor": only its own (none yet)
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), a.begin() as conn:
        conn.execute(sa.insert(feed_cursors).values(consumer=name_b, dataset="death_notices", last_seq=99))
    # ... nor read B's acknowledgements, nor delete anything.
    with a.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(acknowledgements)).scalar() == 0
    _denied(a, "DELETE FROM acknowledgements")
    _denied(a, "DELETE FROM feed_cursors")
    with owner.connect() as conn:
        assert conn.execute(sa.select(feed_cursors.c.last_seq).where(feed_cursors.c.consumer == name_b)).scalar() == cursor_b
        assert conn.execute(sa.select(sa.func.count()).select_from(acknowledgements)
                            .where(acknowledgements.c.consumer == name_b)).scalar() == 2

    # The reference consumer refuses to act as another consumer, with a clear message.
    with pytest.raises(ref.ConsumerError, match=f"this login is consumer '{name_a}'.*not as '{name_b}'"):
        ref.resolve_consumer(a, name_b)
    with pytest.raises(ref.ConsumerError, match="refused by row-level security"):
        ref.consume(a, "birth_certificates", name_b, CITIZENS)

    # A's own run is independent of B's: every change once, for A.
    got_a = ref.consume(a, "birth_certificates", name_a, CITIZENS)
    assert (got_a["registered"], got_a["rejected"]) == (1, 1)
    assert ref.consume(a, "birth_certificates", name_a, CITIZENS) == {
        "consumer": name_a, "dataset": "birth_certificates", "last_seq": got_a["last_seq"]}
    with owner.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(acknowledgements)).scalar() == 4


def test_the_consumer_command_runs_under_its_own_login(store, capsys):
    owner, login = store
    _load(owner, rec("A", "1", 3000))
    a = login(helpers.READER_ROLE, f"popdb_cli_{uuid.uuid4().hex[:6]}")
    url = a.url.render_as_string(hide_password=False)
    assert ref.main(["--url", url]) == 0
    assert f"'consumer': '{a.url.username}'" in capsys.readouterr().out
    assert ref.main(["--url", url, "--consumer", "population_db"]) == 2
    err = capsys.readouterr().err
    assert "may acknowledge only as itself" in err and "Traceback" not in err


def test_the_pipeline_writer_cannot_forge_acknowledgements(store):
    _owner, login = store
    writer = login(helpers.WRITER_ROLE)
    _load(writer, rec("A", "1", 3000))
    _denied(writer, "INSERT INTO acknowledgements (consumer, dataset, natural_key, record_hash, seq, batch_id, status) "
                    "VALUES ('popdb', 'birth_certificates', 'A', 'h', 1, 'b1', 'registered')")
    _denied(writer, "UPDATE feed_cursors SET last_seq = 0")
    _denied(writer, "DELETE FROM acknowledgements")
    with writer.connect() as conn:  # but reads them (ledger summaries)
        conn.execute(sa.select(sa.func.count()).select_from(acknowledgements)).scalar()


# --------------------------------------------------------------------------- append-only feed


def test_the_change_feed_is_append_only_for_the_writer(store):
    owner, login = store
    writer = login(helpers.WRITER_ROLE)
    assert _load(writer, rec("A", "1", 3000)) == staging.UpsertCounts(inserted=1)
    assert _load(writer, rec("A", "2", 3050, "b2")) == staging.UpsertCounts(updated=1)
    _denied(writer, "UPDATE change_feed SET operation = 'insert'")
    _denied(writer, "DELETE FROM change_feed")
    _denied(writer, "TRUNCATE change_feed")
    with owner.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(change_feed.c.natural_key, change_feed.c.operation)
                                               .order_by(change_feed.c.seq))] == [("A", "insert"), ("A", "update")]


# --------------------------------------------------------------------------- readers cannot stall loads


def test_a_reader_cannot_take_the_pipelines_locks(store):
    _owner, login = store
    reader = login(helpers.READER_ROLE)
    for name in (locks.FEED, locks.dataset("birth_certificates"), locks.curated("birth_certificates", 2026, 11),
                 locks.MIGRATIONS):
        with pytest.raises(locks.LockDenied, match="s06_pipeline_writer"), reader.begin() as conn:
            locks.hold(conn, name, 1)
    _denied(reader, "SELECT name FROM pipeline_locks FOR UPDATE")
    _denied(reader, "LOCK TABLE pipeline_locks IN ACCESS EXCLUSIVE MODE")
    # nor lock rows or tables the loads write
    _denied(reader, "SELECT seq FROM change_feed FOR KEY SHARE")
    _denied(reader, "SELECT certificate_code FROM birth_certificates FOR SHARE")
    _denied(reader, "LOCK TABLE change_feed IN SHARE MODE")
    _denied(reader, "LOCK TABLE birth_certificates IN EXCLUSIVE MODE")


def test_whatever_a_reader_holds_a_load_finishes(store, monkeypatch):
    """The reader takes everything it can: the old advisory keys (session and transaction level),
    ACCESS SHARE on every table it may read in an open transaction, an exclusive lock on its own
    cursor table. Concurrent loads of a writer login still finish in seconds."""
    owner, login = store
    writer = login(helpers.WRITER_ROLE)
    reader = login(helpers.READER_ROLE)
    _load(writer, rec("A", "1", 3000))
    with reader.connect() as conn:
        conn.begin()
        conn.execute(sa.text("SELECT pg_advisory_lock(60601), pg_advisory_lock(60602, hashtext('birth_certificates')), "
                             "pg_advisory_lock(5306000001)"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(60601)"))
        for table in ("change_feed", "birth_certificates", "birth_certificates_history", "batch_ledger",
                      "acknowledgements", "feed_cursors", "batch_ledger_acknowledged"):
            conn.execute(sa.text(f"SELECT count(*) FROM {table}"))
        conn.execute(sa.text("LOCK TABLE feed_cursors IN ACCESS EXCLUSIVE MODE"))
        done: list[float] = []

        def load():
            t0 = time.monotonic()
            _load(writer, *[rec(f"K{i:03d}", "1", 3000 + i, "b9") for i in range(50)], rec("A", "2", 3050, "b9"))
            done.append(time.monotonic() - t0)

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(done) == 2 and max(done) < 20, done
        # Another consumer waiting behind that table lock gives up with a clear message, it does not hang.
        other = login(helpers.READER_ROLE)
        monkeypatch.setenv("S06_LOCK_TIMEOUT_S", "1")
        t0 = time.monotonic()
        with pytest.raises(locks.LockTimeout, match="waited 1 s for a lock on this consumer's cursor"):
            ref.consume(other, "birth_certificates", other.url.username, CITIZENS)
        assert time.monotonic() - t0 < 10
        conn.rollback()
    with owner.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates")).scalar() == 51

"""Change feed and acknowledgements on SQLite and PostgreSQL: one row per new current version,
nothing on a re-run, exactly-once consumption across batches."""

import threading

import pyarrow as pa
import pytest
import sqlalchemy as sa

from cli.consumer import consume
from config.contracts import load_contract
from loaders import staging
from loaders.schema import acknowledgements, change_feed, data_columns, dataset_tables
from tests.loaders.test_staging import rec, rows

CONTRACT = load_contract("birth_certificates")
CITIZENS = {"001190012345"}


@pytest.fixture
def engine(staging_engine):
    return staging_engine


def _load(engine, *records):
    with engine.begin() as conn:
        return staging.load_rows(conn, CONTRACT, [rows(*records)])


def _feed(engine):
    with engine.connect() as conn:
        return [(r.natural_key, r.operation, r.batch_id) for r in conn.execute(sa.select(change_feed).order_by(change_feed.c.seq))]


def test_feed_has_one_row_per_new_current_version(engine):
    _load(engine, rec("A", "1", 3000, "b1"), rec("B", "1", 3100, "b1"))
    _load(engine, rec("A", "1", 3000, "b1"), rec("B", "1", 3100, "b1"))  # identical re-run
    _load(engine, rec("A", "2", 3050, "b2"))  # re-issue
    _load(engine, rec("A", "0", 2999, "b0"))  # an older version arriving late: not current
    assert _feed(engine) == [("A", "insert", "b1"), ("B", "insert", "b1"), ("A", "update", "b2")]


def test_consumer_acknowledges_every_change_exactly_once(engine):
    other = rec("B", "1", 3100, "b1") | {"mother_id_number": "079300000001"}
    _load(engine, rec("A", "1", 3000, "b1"), other)
    first = consume(engine, "birth_certificates", "population_db", CITIZENS, page=1)
    assert (first["registered"], first["rejected"]) == (1, 1)
    assert consume(engine, "birth_certificates", "population_db", CITIZENS) == {
        "consumer": "population_db", "dataset": "birth_certificates", "last_seq": first["last_seq"]}
    _load(engine, rec("A", "2", 3050, "b2"))
    second = consume(engine, "birth_certificates", "population_db", CITIZENS)
    assert second["registered"] == 1 and "rejected" not in second
    assert staging.counts_by_batch(engine, acknowledgements, "status", ["b1", "b2"]) == {"b1": {"registered": 1, "rejected": 1}, "b2": {"registered": 1}}
    with engine.connect() as conn:
        reasons = {r.reason for r in conn.execute(sa.select(acknowledgements))}
    assert reasons == {None, "personal ID not found in the population registry"}
    # a second consumer starts from the beginning, independently
    assert consume(engine, "birth_certificates", "audit", CITIZENS)["registered"] == 2


def test_a_crash_before_commit_leaves_no_feed_rows(engine):
    def crash():
        with engine.begin() as conn:
            staging.load_rows(conn, CONTRACT, [rows(rec("A", "1", 3000))])
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        crash()
    assert _feed(engine) == []


@pytest.mark.integration
def test_concurrent_batches_on_postgres_commit_feed_in_sequence_order(pg_url):
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    errors = []

    def load(batch: str, start: int) -> None:
        try:
            for i in range(5):
                _load(engine, *[rec(f"{batch}{start + i:03d}{j}", "1", 3000 + j, batch) for j in range(50)])
        except Exception as exc:
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=load, args=(b, 0)) for b in ("X", "Y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    feed = _feed(engine)
    assert len(feed) == 500 and len({k for k, _o, _b in feed}) == 500
    with engine.connect() as conn:
        seqs = [r.seq for r in conn.execute(sa.select(change_feed.c.seq).order_by(change_feed.c.seq))]
    assert seqs == sorted(set(seqs))
    engine.dispose()


def test_two_intervals_of_one_dataset_loading_at_once_on_postgres(pg_url):
    """Two batches (nights) of one dataset carrying versions of the *same* keys load concurrently:
    no deadlock, no lost update (the newer version is current whatever the commit order), every
    other version kept, and the feed announces only versions that became current."""
    import random

    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    keys = [f"K{i:04d}" for i in range(400)]
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def night(batch: str, version: str, seed: int) -> None:
        order = keys[:]
        random.Random(seed).shuffle(order)  # different arrival order per batch
        try:
            barrier.wait()
            for start in range(0, len(order), 100):
                _load(engine, *[rec(k, version, 3000 + int(version) * 100 + i, batch)
                                for i, k in enumerate(order[start:start + 100])])
        except Exception as exc:
            errors.append(type(exc).__name__)

    for round_ in range(3):
        v_old, v_new = f"{2 * round_ + 1}", f"{2 * round_ + 2}"
        threads = [threading.Thread(target=night, args=(f"n{v_old}", v_old, round_)),
                   threading.Thread(target=night, args=(f"n{v_new}", v_new, round_ + 100))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "deadlocked"
        assert errors == []
        current, versions = dataset_tables("birth_certificates")
        with engine.connect() as conn:
            versions_now = dict(conn.execute(sa.select(current.c.certificate_code, current.c.version_key)).all())
            kept = conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar()
        assert versions_now == dict.fromkeys(keys, v_new), "an older version won"
        assert kept == len(keys) * (2 * round_ + 1), "every non-current version is kept"
    feed = _feed(engine)
    with engine.connect() as conn:
        feed_versions = conn.execute(sa.select(change_feed.c.natural_key, change_feed.c.version_key)
                                     .order_by(change_feed.c.seq)).all()
    announced_final = {k for k, v in feed_versions if v == "6"}
    assert announced_final == set(keys)
    # Every announced version was current when announced: versions are announced in order per key.
    per_key: dict[str, list[str]] = {}
    for k, v in feed_versions:
        per_key.setdefault(k, []).append(v)
    assert all(vs == sorted(vs, key=int) for vs in per_key.values())
    assert len(feed) == len(feed_versions)
    engine.dispose()


@pytest.mark.parametrize("dataset", ["birth_certificates", "driver_health_checks"])
def test_feed_rows_copied_from_arrow_equal_the_sql_staged_ones(pg_server, tmp_path, monkeypatch, dataset):
    """On PostgreSQL a load whose keys are all new (a first load, and the usual night after it)
    copies its feed rows from Arrow instead of staging them in SQL. Both ways must give the same
    feed: the key columns joined by '|', 'cancel' for a tombstone, and sequence numbers in byte
    order of the key whatever the database collation ('B' < 'Z' < '_' < 'a'; the databases here
    sort text by ICU's en-US rules, which put '_' first and 'a' before 'B'). SQLite, which always
    stages in SQL, gives the same feed too."""
    import psycopg

    from loaders.curated import _SA_TO_ARROW

    contract = load_contract(dataset)
    types = {n: _SA_TO_ARROW[t] for n, t in data_columns(contract)}
    key = list(contract.natural_key)

    def table(codes, batch):
        records = []
        for i, code in enumerate(codes):
            r = {k: f"{code}-{k[:3]}" if j else code for j, k in enumerate(key)}
            r |= {"version_key": f"v{i}", "record_hash": f"h{code}", "batch_id": batch, "facility_code": "01929",
                  "record_status": "cancelled" if code.startswith("_") else None}
            records.append(r)
        return pa.table({n: pa.array([r.get(n) for r in records], type=types[n]) for n in types})

    def feed(url, arrow):
        monkeypatch.setattr(staging, "feed_from_arrow", (lambda c: True) if arrow else (lambda c: False))
        engine = staging.make_engine(url)
        staging.ensure_schema(engine, [dataset])
        try:
            for codes, batch in ((["a1", "Z9", "B2", "_x"], "b1"), (["b3", "A4", "~5"], "b2")):
                with engine.begin() as conn:
                    counts = staging.load_batches(conn, contract, [table(codes, batch)], unique_keys=True)
                assert counts[batch].inserted == len(codes)
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(
                    "SELECT natural_key, operation, version_key, record_hash, batch_id FROM change_feed ORDER BY seq"))]
        finally:
            engine.dispose()

    def en_us_database(name):
        with psycopg.connect(f"host=127.0.0.1 port={pg_server.port} user=postgres dbname=postgres",
                             autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                          "LOCALE 'C.UTF-8'")
        return pg_server.url(name)

    copied = feed(en_us_database(f"feed_arrow_{dataset}"), arrow=True)
    staged = feed(en_us_database(f"feed_sql_{dataset}"), arrow=False)
    lite = feed(f"sqlite:///{tmp_path / 'staging.db'}", arrow=False)
    joined = (lambda c: c) if len(key) == 1 else (lambda c: "|".join([c, *(f"{c}-{k[:3]}" for k in key[1:])]))
    assert [r[0] for r in copied] == [joined(c) for c in ["B2", "Z9", "_x", "a1", "A4", "b3", "~5"]]
    assert [r[1] for r in copied] == ["insert", "insert", "cancel", "insert", "insert", "insert", "insert"]
    assert copied == staged == lite

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


def test_batches_loaded_together_keep_their_own_counts_and_history(engine):
    """Two facilities' batches in one load: version positions repeat across batches, yet only
    the version a batch really replaced reaches the history, and counts stay per batch."""
    _load(engine, rows(rec("A", "p1", 3000, "ds/F1/2026-11-21"), rec("B", "p1", 3100, "ds/F2/2026-11-21")))
    with engine.begin() as conn:
        per_batch = staging.load_batches(conn, CONTRACT, [rows(
            rec("A", "p2", 3050, "ds/F1/2026-11-22"),   # a newer version of A
            rec("B", "p2", 3100, "ds/F2/2026-11-22"),   # B again, same content, same position
            rec("C", "p2", 3200, "ds/F2/2026-11-22"),   # new
        )])
    assert per_batch["ds/F1/2026-11-22"] == staging.UpsertCounts(updated=1)
    assert per_batch["ds/F2/2026-11-22"] == staging.UpsertCounts(inserted=1, unchanged=1)
    _cur, history = _current(engine)
    assert history == [("A", "h3000"), ("A", "h3050"), ("B", "h3100"), ("C", "h3200")]
    # Re-loading the first night: A is now an older version (already in history), B is current.
    # B shares A's version position but must not be copied into the history.
    with engine.begin() as conn:
        again = staging.load_batches(conn, CONTRACT, [rows(rec("A", "p1", 3000, "ds/F1/2026-11-21"),
                                                          rec("B", "p1", 3100, "ds/F2/2026-11-21"))])
    assert again == {"ds/F1/2026-11-21": staging.UpsertCounts(unchanged=1),
                     "ds/F2/2026-11-21": staging.UpsertCounts(unchanged=1)}
    assert _current(engine)[1] == history


def test_postgresql_load_plans_without_merge_joins_or_jit_and_only_for_itself(pg_url):
    """The load joins the night's keys with the current table by index probe or hash, not by a
    merge join that walks the whole key index (and without JIT compiling each statement); the
    settings end with the load's transaction."""
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    _load(engine, rows(rec("A", "1", 3000)))
    with engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, [rows(rec("B", "1", 3100))])
        inside = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("enable_mergejoin", "jit")]
    with engine.connect() as conn:
        after = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("enable_mergejoin", "jit")]
    engine.dispose()
    assert inside == ["off", "off"]
    assert after == ["on", "on"]


@pytest.mark.parametrize("probe", [True, False], ids=["probe", "classify"])
def test_postgresql_all_new_probe_gives_what_the_classification_gives(pg_url, monkeypatch, probe):
    """A small load into a non-empty store first asks whether any of its keys is stored; when none
    is, it loads as a first load does (no key table, no classification). The store, the history,
    the change feed and the counts must be exactly what the classification gives (forced here with
    a zero probe limit), and a load with one stored key must still be classified."""
    if not probe:
        monkeypatch.setattr(staging, "PROBE_MAX_ROWS", 0)
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    cancelled = {**rec("F", "1", 3500, "b4"), "record_status": "cancelled"}
    loads = [rows(rec("A", "1", 3000, "b1"), rec("B", "1", 3100, "b1")),
             rows(rec("C", "1", 3200, "b2"), rec("D", "1", 3300, "b2")),
             rows(rec("E", "1", 3400, "b3"), rec("A", "2", 2900, "b3")),
             rows(cancelled)]
    counts, classified = [], []
    for table in loads:
        statements.clear()
        with engine.begin() as conn:
            counts.append(staging.load_batches(conn, CONTRACT, [table], unique_keys=True))
        classified.append(any("tmp_keys_" in s for s in statements))
    with engine.connect() as conn:
        feed = [tuple(r) for r in conn.execute(sa.text(
            "SELECT natural_key, operation, version_key, record_hash, batch_id FROM change_feed ORDER BY seq"))]
    stored = _current(engine)
    engine.dispose()
    assert classified == ([False, False, True, False] if probe else [False, True, True, True])
    assert [{b: (c.inserted, c.updated, c.unchanged, c.stale) for b, c in per.items()} for per in counts] == [
        {"b1": (2, 0, 0, 0)}, {"b2": (2, 0, 0, 0)}, {"b3": (1, 1, 0, 0)}, {"b4": (1, 0, 0, 0)}]
    assert stored == ({"A": (2900, "2"), "B": (3100, "1"), "C": (3200, "1"), "D": (3300, "1"), "E": (3400, "1"),
                       "F": (3500, "1")},
                      [("A", "h2900"), ("A", "h3000"), ("B", "h3100"), ("C", "h3200"), ("D", "h3300"),
                       ("E", "h3400"), ("F", "h3500")])
    assert feed == [("A", "insert", "1", "h3000", "b1"), ("B", "insert", "1", "h3100", "b1"),
                    ("C", "insert", "1", "h3200", "b2"), ("D", "insert", "1", "h3300", "b2"),
                    ("A", "update", "2", "h2900", "b3"), ("E", "insert", "1", "h3400", "b3"),
                    ("F", "cancel", "1", "h3500", "b4")]


def test_a_failed_statement_does_not_quote_its_bound_values(staging_engine):
    """Statements bind identifiers (lookups bind a chunk's personal IDs): when one fails, the
    exception's text names the statement, never the values, wherever it is printed."""
    with pytest.raises(sa.exc.DBAPIError) as info, staging_engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE person = :pid"), {"pid": "079226000001"})
    assert "no_such_table" in str(info.value)
    assert "079226000001" not in str(info.value)


def _load_unique(engine, table):
    """A load whose keys the caller knows are unique (the batch runner's usual call)."""
    with engine.begin() as conn:
        return staging.load_rows(conn, CONTRACT, [table], unique_keys=True)


def _indexes(conn) -> dict[str, tuple[int, str]]:
    """Index name -> (OID, definition) of the birth table: a rebuilt index has a new OID."""
    return {str(name): (int(oid), str(definition)) for name, oid, definition in conn.exec_driver_sql(
        "SELECT indexrelid::regclass::text, indexrelid::bigint, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = 'birth_certificates'::regclass")}


def _rebuilt(before: dict, after: dict) -> set[str]:
    assert {n: d for n, (_, d) in after.items()} == {n: d for n, (_, d) in before.items()}
    return {n for n in before if before[n][0] != after[n][0]}


def test_postgresql_large_first_load_builds_secondary_indexes_after_the_copy(pg_url, monkeypatch):
    """A first load of at least SUSPEND_INDEXES_MIN_ROWS rows into an empty table drops the plain
    secondary indexes and builds the same definitions after the COPY (the primary key stays); a
    smaller first load, or any load into a non-empty table, keeps every index as it is."""
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    secondary = {"ix_birth_certificates_batch", "ix_birth_certificates_event"}
    monkeypatch.setattr(staging, "SUSPEND_INDEXES_MIN_ROWS", 3)
    with engine.connect() as conn:
        before = _indexes(conn)
    assert secondary < set(before)
    assert _load_unique(engine, rows(rec("A", "1", 3000), rec("B", "1", 3100))) == staging.UpsertCounts(inserted=2)
    with engine.begin() as conn:
        small = _indexes(conn)
        conn.exec_driver_sql("DELETE FROM change_feed")
        conn.exec_driver_sql("DELETE FROM birth_certificates")
    assert _rebuilt(before, small) == set()
    with engine.begin() as conn:
        counts = staging.load_rows(conn, CONTRACT, [rows(rec("A", "1", 3000), rec("B", "1", 3100), rec("C", "1", 3200))],
                                    unique_keys=True)
        lock_timeout = conn.exec_driver_sql("SHOW lock_timeout").scalar()  # the drop's own ended with it
        large = _indexes(conn)
    assert counts == staging.UpsertCounts(inserted=3)
    assert _rebuilt(small, large) == secondary
    assert _load_unique(engine, rows(rec("D", "1", 3300), rec("E", "1", 3400), rec("F", "1", 3500))) == \
        staging.UpsertCounts(inserted=3)
    with engine.connect() as conn:
        assert _rebuilt(large, _indexes(conn)) == set()  # not empty any more
        # The rebuilt indexes are used: the month lookup finds its rows through the event index.
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in conn.exec_driver_sql(
            "EXPLAIN SELECT certificate_code FROM birth_certificates WHERE birth_datetime >= '2026-11-01'"))
    engine.dispose()
    assert "ix_birth_certificates_event" in plan
    assert lock_timeout == "0"
    assert set(_current(engine)[0]) == {"A", "B", "C", "D", "E", "F"}


def test_postgresql_failed_large_first_load_leaves_the_indexes_it_dropped(pg_url, monkeypatch):
    """The drop is part of the load's transaction: a load that fails after it leaves the same
    indexes (same OIDs) and no row."""
    monkeypatch.setattr(staging, "SUSPEND_INDEXES_MIN_ROWS", 1)
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    with engine.connect() as conn:
        before = _indexes(conn)

    def source(columns=None):
        yield rows(rec("A", "1", 3000)) if columns is None else rows(rec("A", "1", 3000)).select(columns)
        if columns is None:
            raise OSError("spill file vanished")

    with pytest.raises(OSError, match="spill file vanished"), engine.begin() as conn:
        staging.load_rows(conn, CONTRACT, source, unique_keys=True)
    with engine.connect() as conn:
        after = _indexes(conn)
        count = conn.exec_driver_sql("SELECT count(*) FROM birth_certificates").scalar()
    engine.dispose()
    assert after == before
    assert count == 0


def test_postgresql_first_load_keeps_indexes_it_cannot_drop_at_once(pg_url, monkeypatch):
    """A reader holding the empty table open (the drop's exclusive lock would wait for it) and a
    loading role that does not own the table: the load keeps the indexes and loads as usual."""
    monkeypatch.setattr(staging, "SUSPEND_INDEXES_MIN_ROWS", 1)
    monkeypatch.setattr(staging, "SUSPEND_LOCK_TIMEOUT_MS", 100)
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    with engine.connect() as conn:
        before = _indexes(conn)
    with engine.connect() as reader:
        reader.exec_driver_sql("SELECT count(*) FROM birth_certificates").scalar()  # transaction stays open
        assert _load_unique(engine, rows(rec("A", "1", 3000))) == staging.UpsertCounts(inserted=1)
        reader.rollback()
    with engine.begin() as conn:
        assert _rebuilt(before, _indexes(conn)) == set()
        conn.exec_driver_sql("DELETE FROM change_feed")
        conn.exec_driver_sql("DELETE FROM birth_certificates")
        role = "loader_" + pg_url.rsplit("/", 1)[1][-20:]
        conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        conn.exec_driver_sql(f'CREATE ROLE "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    def as_role(dbapi_conn, _record):
        dbapi_conn.execute(f'SET ROLE "{role}"')
        dbapi_conn.commit()

    sa.event.listen(engine, "connect", as_role)
    engine.dispose()  # new connections take the role
    try:
        assert _load_unique(engine, rows(rec("B", "1", 3100))) == staging.UpsertCounts(inserted=1)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == role
            assert _rebuilt(before, _indexes(conn)) == set()
    finally:
        engine.dispose()


def test_postgresql_first_load_keeps_an_index_its_definition_would_not_rebuild(pg_url, monkeypatch):
    """An index with a comment (or in another tablespace) is not dropped: CREATE INDEX from its
    definition would lose what a DBA added. The others are still rebuilt."""
    monkeypatch.setattr(staging, "SUSPEND_INDEXES_MIN_ROWS", 1)
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    with engine.begin() as conn:
        conn.exec_driver_sql("COMMENT ON INDEX ix_birth_certificates_event IS 'months for the curated publish'")
        before = _indexes(conn)
    assert _load_unique(engine, rows(rec("A", "1", 3000))) == staging.UpsertCounts(inserted=1)
    with engine.connect() as conn:
        after = _indexes(conn)
        comment = conn.exec_driver_sql("SELECT obj_description('ix_birth_certificates_event'::regclass, 'pg_class')").scalar()
    engine.dispose()
    assert _rebuilt(before, after) == {"ix_birth_certificates_batch"}
    assert comment == "months for the curated publish"

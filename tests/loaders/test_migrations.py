"""Schema migrations of the staging store, on SQLite and a real PostgreSQL 15: fresh store, frozen
linear history with working downgrades, adoption of a store made by the old ``create_all`` code,
drift between the contracts and the migrations, database roles, idempotent and concurrent
``ensure_schema``, the revision generator and the CLI."""

import shutil
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from config.contracts import available_datasets, load_contract
from loaders import locks, migrate, staging
from loaders.migrations import helpers
from loaders.quality import MART_TABLES
from loaders.schema import (
    acknowledgements,
    batch_ledger,
    change_feed,
    dataset_tables,
    dq_warnings,
    feed_cursors,
    ingested_files,
    metadata,
    quarantine,
)
from tests.loaders.test_staging import rec, rows

#: The operators' role of the quality mart (migration 0010).
QUALITY_READER_ROLE = "s06_quality_reader"

BIRTHS = load_contract("birth_certificates")
SHARED = [batch_ledger, ingested_files, quarantine, dq_warnings, change_feed, feed_cursors, acknowledgements]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    """An empty database (no tables), once on SQLite and once on PostgreSQL."""
    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = staging.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_url):
    engine = staging.make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = staging.make_engine(f"sqlite:///{tmp_path / 'staging.db'}")
    yield engine
    engine.dispose()


def legacy_ensure_schema(engine, datasets):
    """``staging.ensure_schema`` as it was before migrations (create_all, then the history views).

    The old code created every table registered on the shared metadata; the copy names them, so
    the test does not depend on which datasets other tests registered.
    """
    datasets = list(datasets)
    tables = SHARED + [t for ds in datasets for t in dataset_tables(ds)]
    metadata.create_all(engine, tables=tables, checkfirst=True)
    with engine.connect() as conn:  # the tests load it with today's load_rows, whose locks need their table
        locks.ensure_table(conn)
    with engine.begin() as conn:  # the ledger of that release had no source columns (0008, 0009)
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_batch_ledger_night")
        for col in LATER_LEDGER_COLUMNS:
            conn.exec_driver_sql(f'ALTER TABLE batch_ledger DROP COLUMN "{col}"')
    for ds in datasets:  # the old ensure_history_views
        current, versions = dataset_tables(ds)
        cols = ", ".join(f'"{c.name}"' for c in current.columns)
        body = (f'SELECT {cols}, 1 AS is_current FROM "{current.name}" '
                f'UNION ALL SELECT {cols}, 0 AS is_current FROM "{versions.name}"')
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f'CREATE VIEW IF NOT EXISTS "{ds}_history" AS {body}')
            else:
                conn.exec_driver_sql(f'CREATE OR REPLACE VIEW "{ds}_history" AS {body}')


#: Columns later revisions added to every dataset table (0006: record_status). A store made by
#: the old create_all code never had them.
LATER_COLUMNS = ("record_status",)
LATER_LEDGER_COLUMNS = ("source_kind", "source_facts", "high_water_mark", "input_fingerprint", "night")


def as_old_code_left_it(engine, datasets, with_views=True):
    """Remove what later revisions added, so the store looks as the old create_all code left it."""
    for ds in datasets:
        current, _versions = dataset_tables(ds)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP VIEW IF EXISTS "{ds}_history"')
            conn.exec_driver_sql(f'DROP INDEX IF EXISTS "ix_{ds}_person"')  # added by 0013
            for table in (ds, f"{ds}_versions"):
                for col in LATER_COLUMNS:
                    conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{col}"')
            if with_views:
                cols = ", ".join(f'"{c.name}"' for c in current.columns if c.name not in LATER_COLUMNS)
                conn.exec_driver_sql(f'CREATE VIEW "{ds}_history" AS SELECT {cols}, 1 AS is_current FROM "{ds}" '
                                     f'UNION ALL SELECT {cols}, 0 AS is_current FROM "{ds}_versions"')


def _objects(engine):
    insp = sa.inspect(engine)
    return set(insp.get_table_names()), set(insp.get_view_names())


def _expected_tables():
    return ({t.name for t in SHARED} | {t.name for t in MART_TABLES}
            | {f"{ds}{sfx}" for ds in available_datasets() for sfx in ("", "_versions")} | {"pipeline_locks"})


def _load(engine, *records):
    with engine.begin() as conn:
        return staging.load_rows(conn, BIRTHS, [rows(*records)])


# --------------------------------------------------------------------------- history


def test_history_is_linear_and_frozen():
    revs = migrate.history()
    assert [r.id for r in revs] == [f"{i:04d}" for i in range(1, len(revs) + 1)]
    assert [r.down_revision for r in revs] == [None, *[r.id for r in revs[:-1]]]
    assert migrate.head() == revs[-1].id
    assert revs[0].dataset is None
    assert set(available_datasets()) <= set(migrate.dataset_revisions()), (
        f"a contract has no migration: {migrate.HOW_TO_FIX}")
    for r in revs:
        source = r.path.read_text(encoding="utf-8")
        # frozen: explicit definitions, nothing read from the (changing) contracts
        for live in ("create_all", "loaders.schema", "config.contracts", "dataset_tables", "load_contract"):
            assert live not in source, f"{r.path.name} uses {live}: revisions must not follow the contracts"
        assert "def downgrade() -> None:" in source
        if r.id == "0001" or r.dataset:  # baselines: explicit CREATE TABLEs, not a call into the metadata
            assert "op.create_table(" in source


# --------------------------------------------------------------------------- fresh store, drift, downgrade


def test_fresh_store_reaches_head(empty_engine):
    staging.ensure_schema(empty_engine, ["birth_certificates"])
    assert migrate.current(empty_engine) == migrate.head()
    tables, views = _objects(empty_engine)
    assert tables == _expected_tables() | {"alembic_version"}
    assert views == {f"{ds}_history" for ds in available_datasets()} | {"batch_ledger_acknowledged"}
    _load(empty_engine, rec("A", "1", 3000), rec("A", "2", 3050))
    with empty_engine.connect() as conn:
        history = conn.execute(sa.text(
            "SELECT version_key, is_current FROM birth_certificates_history ORDER BY version_key")).all()
    assert [tuple(r) for r in history] == [("1", 0), ("2", 1)]


def test_contracts_match_migrations(empty_engine):
    """Drift: a contract change without a migration fails here, saying how to generate it."""
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        problems = migrate.drift(conn)
    assert not problems, (
        f"{empty_engine.dialect.name}: the dataset contracts and the migrations differ: {problems}. {migrate.HOW_TO_FIX}")


def test_every_revision_downgrades_and_upgrades_again(empty_engine):
    migrate.upgrade(empty_engine)
    _load(empty_engine, rec("A", "1", 3000))
    for r in reversed(migrate.history()):
        migrate.downgrade(empty_engine, "-1")
        assert migrate.current(empty_engine) == r.down_revision, r.id
    tables, views = _objects(empty_engine)
    # PostgreSQL keeps the migration lock's table, like alembic_version (loaders/locks.py)
    assert tables <= {"alembic_version", "pipeline_locks"}
    assert not views
    migrate.upgrade(empty_engine)
    assert migrate.current(empty_engine) == migrate.head()
    with empty_engine.connect() as conn:
        assert migrate.drift(conn) == []


# --------------------------------------------------------------------------- adoption of an old store


def test_old_create_all_store_is_adopted_with_its_data(empty_engine):
    legacy_ensure_schema(empty_engine, ["birth_certificates"])
    _load(empty_engine, rec("A", "1", 3000), rec("B", "1", 3100))
    _load(empty_engine, rec("A", "2", 3050, "b2"))
    with empty_engine.begin() as conn:
        # the ledger row as that release wrote it (today's write_ledger knows columns it lacked)
        old_columns = {c["name"] for c in sa.inspect(conn).get_columns("batch_ledger")}
        row = {"batch_id": "b1", "dataset": "birth_certificates", "facility_code": "01929",
               "interval_start": "2026-11-21", "interval_end": "2026-11-22", "status": "loaded"}
        row.update({c.name: 0 for c in staging.batch_ledger.columns
                    if c.name in old_columns and c.name not in row and not c.nullable})
        conn.execute(sa.table("batch_ledger", *(sa.column(k) for k in row)).insert(), [row])
    as_old_code_left_it(empty_engine, ["birth_certificates"])
    assert migrate.current(empty_engine) is None

    staging.ensure_schema(empty_engine, ["birth_certificates", "death_notices"])

    assert migrate.current(empty_engine) == migrate.head()
    tables, _ = _objects(empty_engine)
    assert tables == _expected_tables() | {"alembic_version"}
    with empty_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates")).scalar() == 2
        assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates_history")).scalar() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM change_feed")).scalar() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM batch_ledger")).scalar() == 1
        assert migrate.drift(conn) == []
        if conn.dialect.name == "postgresql":  # adoption also granted the roles on the old tables
            granted = conn.execute(sa.text("SELECT has_table_privilege(:r, 'birth_certificates', 'SELECT')"),
                                   {"r": helpers.READER_ROLE}).scalar()
            assert granted is True
    assert _load(empty_engine, rec("C", "1", 3200, "b3")) == staging.UpsertCounts(inserted=1)


def test_old_store_with_a_gap_and_a_missing_view_is_adopted(sqlite_engine):
    """The old code made only the datasets a process touched, and could make tables without a view."""
    legacy_ensure_schema(sqlite_engine, ["death_notices"])
    metadata.create_all(sqlite_engine, tables=list(dataset_tables("health_workforce")))  # no view
    as_old_code_left_it(sqlite_engine, ["death_notices"])
    as_old_code_left_it(sqlite_engine, ["health_workforce"], with_views=False)
    staging.ensure_schema(sqlite_engine, ["death_notices"])
    assert migrate.current(sqlite_engine) == migrate.head()
    tables, views = _objects(sqlite_engine)
    assert tables == _expected_tables() | {"alembic_version"}
    assert views == {f"{ds}_history" for ds in available_datasets()} | {"batch_ledger_acknowledged"}


def test_old_store_that_matches_no_revision_is_refused(sqlite_engine):
    legacy_ensure_schema(sqlite_engine, ["birth_certificates"])
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW birth_certificates_history")
        conn.exec_driver_sql("ALTER TABLE birth_certificates DROP COLUMN notes")
    with pytest.raises(migrate.SchemaError, match=r"birth_certificates columns differ \(missing \['notes'\]"):
        staging.ensure_schema(sqlite_engine, ["birth_certificates"])
    assert migrate.current(sqlite_engine) is None


# --------------------------------------------------------------------------- ensure_schema


def test_ensure_schema_twice_is_a_no_op(empty_engine, monkeypatch):
    staging.ensure_schema(empty_engine, ["birth_certificates"])
    _load(empty_engine, rec("A", "1", 3000))

    def forbidden(*_a, **_k):
        raise AssertionError("ran migrations on a store already at head")

    monkeypatch.setattr(migrate.command, "upgrade", forbidden)
    monkeypatch.setattr(migrate, "migration_lock", forbidden)
    staging.ensure_schema(empty_engine, ["birth_certificates", "death_notices"])
    assert migrate.ensure_head(empty_engine) is False
    with empty_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates")).scalar() == 1


def test_ensure_schema_names_the_missing_migration(sqlite_engine, monkeypatch):
    staging.ensure_schema(sqlite_engine, ["birth_certificates"])
    with sqlite_engine.begin() as conn:  # as if the contract gained a column after the last revision
        conn.exec_driver_sql("DROP VIEW birth_certificates_history")
        conn.exec_driver_sql("ALTER TABLE birth_certificates DROP COLUMN notes")
    with pytest.raises(migrate.SchemaError, match=r"not in the table: \['notes'\].*loaders.migrate autogenerate"):
        staging.ensure_schema(sqlite_engine, ["birth_certificates"])
    # A dataset no migration knows has no table either (the fast "already at head" path sees that).
    monkeypatch.setattr(migrate, "dataset_revisions", lambda: {})
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW IF EXISTS death_notices_history")
        conn.exec_driver_sql("DROP TABLE death_notices")
    with pytest.raises(migrate.SchemaError, match=r"no migration creates .* death_notices.*new-dataset"):
        staging.ensure_schema(sqlite_engine, ["death_notices"])


def test_concurrent_ensure_schema_on_postgresql(pg_url):
    engines = [staging.make_engine(pg_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    ran, errors = [], []

    def run(engine):
        try:
            barrier.wait()
            ran.append(migrate.ensure_head(engine))
            staging.ensure_schema(engine, ["birth_certificates"])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(ran) == [False, True]  # one migrated, the other waited and found head
    assert migrate.current(engines[0]) == migrate.head()
    for e in engines:
        e.dispose()


def test_migration_waits_for_the_migration_lock(pg_engine):
    with pg_engine.connect() as conn:
        locks.ensure_table(conn)
    holder = pg_engine.connect()
    holder.begin()
    locks.hold(holder, locks.MIGRATIONS)
    worker = threading.Thread(target=staging.ensure_schema, args=(pg_engine, ["birth_certificates"]))
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive()
    assert migrate.current(pg_engine) is None
    holder.commit()
    holder.close()
    worker.join(30)
    assert migrate.current(pg_engine) == migrate.head()


def test_a_migration_that_cannot_get_the_lock_gives_up_with_a_clear_message(pg_engine, monkeypatch):
    monkeypatch.setenv("S06_MIGRATION_LOCK_TIMEOUT_S", "0.5")
    with pg_engine.connect() as conn:
        locks.ensure_table(conn)
    with pg_engine.connect() as holder:
        holder.begin()
        locks.hold(holder, locks.MIGRATIONS)
        with pytest.raises(locks.LockTimeout, match=r"waited 0.5 s for the schema migration lock held by another session; retry"):
            staging.ensure_schema(pg_engine, ["birth_certificates"])
    assert migrate.current(pg_engine) is None


# --------------------------------------------------------------------------- roles (PostgreSQL)


@pytest.fixture
def login_as(pg_server, pg_url):
    """Create a LOGIN user in a group role; yields a factory returning an engine connected as it."""
    created, engines = [], []
    admin = sa.create_engine(pg_server.url("postgres"), isolation_level="AUTOCOMMIT")

    def make(group):
        user = f"t_{group.split('_')[1]}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{user}" LOGIN IN ROLE "{group}"')
        created.append(user)
        engine = staging.make_engine(sa.make_url(pg_url).set(username=user).render_as_string(hide_password=False))
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.dispose()
    with admin.connect() as conn:
        for user in created:
            conn.exec_driver_sql(f'DROP ROLE "{user}"')
    admin.dispose()


def _denied(engine, sql):
    with pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner"), engine.begin() as conn:
        conn.exec_driver_sql(sql)


def test_population_reader_role(pg_engine, login_as):
    staging.ensure_schema(pg_engine, ["birth_certificates"])
    _load(pg_engine, rec("A", "1", 3000))
    reader = login_as(helpers.READER_ROLE)
    consumer = reader.url.username  # each consumer is its own login (migration 0009)

    staging.ensure_schema(reader, ["birth_certificates"])  # may check the store is current
    with reader.begin() as conn:
        assert conn.execute(sa.text("SELECT certificate_code FROM birth_certificates")).scalars().all() == ["A"]
        assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates_history")).scalar() == 1
        seq = conn.execute(sa.text("SELECT max(seq) FROM change_feed")).scalar()
        conn.execute(sa.text("SELECT count(*) FROM batch_ledger"))
        conn.execute(sa.insert(acknowledgements).values(
            consumer=consumer, dataset="birth_certificates", natural_key="A", record_hash="h3000", seq=seq,
            batch_id="b1", status="registered"))
        conn.execute(sa.insert(feed_cursors).values(consumer=consumer, dataset="birth_certificates", last_seq=0))
        conn.execute(sa.update(feed_cursors).values(last_seq=seq))
    for sql in ("SELECT * FROM quarantine", "SELECT * FROM dq_warnings", "SELECT * FROM ingested_files",
                "SELECT * FROM birth_certificates_versions", "DELETE FROM acknowledgements",
                "SELECT * FROM pipeline_locks",
                "INSERT INTO birth_certificates (certificate_code, record_hash) VALUES ('X', 'h')",
                "INSERT INTO change_feed (dataset, natural_key, operation, version_key, record_hash, batch_id) "
                "VALUES ('d', 'k', 'insert', 'v', 'h', 'b')"):
        _denied(reader, sql)


def test_pipeline_writer_role(pg_engine, login_as):
    staging.ensure_schema(pg_engine, ["birth_certificates"])
    writer = login_as(helpers.WRITER_ROLE)
    staging.ensure_schema(writer, ["birth_certificates"])
    # A first load, then a night of new keys: rows and change feed COPYed straight in (the feed's
    # sequence and INSERT are all the writer needs, no DDL).
    with writer.begin() as conn:
        assert staging.load_rows(conn, BIRTHS, [rows(rec("Z", "1", 2900, "b0"))], unique_keys=True) == \
            staging.UpsertCounts(inserted=1)
    with writer.begin() as conn:
        assert staging.load_rows(conn, BIRTHS, [rows(rec("Y", "1", 2800, "b1"))], unique_keys=True) == \
            staging.UpsertCounts(inserted=1)
    # a real batch load: COPY into a temp table, upsert, versions, change feed (sequence)
    assert _load(writer, rec("A", "1", 3000)) == staging.UpsertCounts(inserted=1)
    assert _load(writer, rec("A", "2", 3050, "b2")) == staging.UpsertCounts(updated=1)
    with writer.connect() as conn:
        assert conn.execute(sa.text("SELECT natural_key, operation FROM change_feed ORDER BY seq")).all() == [
            ("Z", "insert"), ("Y", "insert"), ("A", "insert"), ("A", "update")]
    with writer.begin() as conn:
        staging.replace_findings(conn, "b2", [{"batch_id": "b2", "dataset": "birth_certificates", "facility_code": "01929",
                                               "rule_id": "R1", "severity": "error", "category": "conformance",
                                               "reason": "bad"}], [])
        assert conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar() == 1
    _denied(writer, "CREATE TABLE intruder (x int)")
    _denied(writer, "DROP TABLE quarantine")


def test_roles_are_created_once_and_survive_downgrade_elsewhere(pg_engine, pg_server):
    """Roles are cluster-wide: a second store reuses them; downgrading one store keeps them for the others."""
    staging.ensure_schema(pg_engine, ["birth_certificates"])
    other = staging.make_engine(pg_server.create_database("t_roles_other_store"))
    try:
        staging.ensure_schema(other, ["birth_certificates"])
        migrate.downgrade(other, "base")
    finally:
        other.dispose()
    with pg_engine.connect() as conn:
        roles = conn.execute(sa.text("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 's06_%'")).all()
        assert sorted(tuple(r) for r in roles) == sorted([(helpers.WRITER_ROLE, False), (helpers.READER_ROLE, False),
                                                          (QUALITY_READER_ROLE, False)])


def test_quality_reader_role_reads_the_mart_and_nothing_restricted(pg_engine, login_as):
    staging.ensure_schema(pg_engine, ["birth_certificates"])
    _load(pg_engine, rec("A", "1", 3000))
    operator = login_as(QUALITY_READER_ROLE)
    staging.ensure_schema(operator, ["birth_certificates"])  # may check the store is current
    with operator.connect() as conn:
        for table in MART_TABLES:
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
    for sql in ("SELECT * FROM quarantine", "SELECT * FROM dq_warnings", "SELECT * FROM birth_certificates",
                "SELECT * FROM batch_ledger", "DELETE FROM quality_facility_night"):
        _denied(operator, sql)
    writer = login_as(helpers.WRITER_ROLE)
    with writer.begin() as conn:  # the report step refreshes the mart as the pipeline writer
        conn.execute(sa.delete(MART_TABLES[0]))


# --------------------------------------------------------------------------- generator and CLI


@pytest.fixture
def scratch_migrations(tmp_path, monkeypatch):
    """A copy of loaders/migrations the generator may write into."""
    root = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", root)
    monkeypatch.setattr(migrate, "VERSIONS_DIR", root / "versions")
    migrate._reload()
    yield root
    migrate._reload()


def test_autogenerate_renders_a_working_revision_for_a_contract_change(scratch_migrations, monkeypatch, empty_engine):
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    for name in ("birth_certificates", "birth_certificates_versions"):
        changed.tables[name].append_column(sa.Column("twin_order", sa.Integer()))
    monkeypatch.setattr(migrate, "contract_metadata", lambda: changed)

    path = migrate.autogenerate("births: twin order")
    assert path is not None
    assert path.name == f"{int(migrate.head()):04d}_births_twin_order.py"
    assert "add_column" in path.read_text() and "twin_order" in path.read_text()
    assert migrate.autogenerate("again") is None  # nothing left to generate

    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert migrate.drift(conn) == []
        assert "twin_order" in {c["name"] for c in sa.inspect(conn).get_columns("birth_certificates_history")}
    migrate.downgrade(empty_engine, "-1")
    with empty_engine.connect() as conn:
        assert "twin_order" not in {c["name"] for c in sa.inspect(conn).get_columns("birth_certificates_history")}


def test_new_dataset_refuses_a_second_revision_and_replace_keeps_the_position(scratch_migrations):
    with pytest.raises(migrate.SchemaError, match="already has revision"):
        migrate.new_dataset("birth_certificates")
    before = migrate.dataset_revisions()["birth_certificates"]
    path = migrate.new_dataset("birth_certificates", replace=True)
    assert path.name == f"{before}_birth_certificates.py"
    assert [r.id for r in migrate.history()][-1] == migrate.head()


def test_cli_never_prints_the_password(pg_server, pg_url, capsys, caplog):
    url = sa.make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    caplog.set_level("INFO")
    assert migrate.main(["upgrade", "--url", url]) == 0
    assert migrate.main(["current", "--url", url]) == 0
    assert migrate.main(["history"]) == 0
    out = capsys.readouterr()
    assert f": {migrate.head()} (head: {migrate.head()})" in out.out
    assert "s3cret-pw" not in out.out + out.err + caplog.text
    assert "***" in out.out

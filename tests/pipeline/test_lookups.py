"""Staging lookups behind the cross-record rules (X3, X6, W5, V5, re-issue checks), on SQLite and
PostgreSQL: the same answers whether the values fit in one query or need many."""

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa

from loaders import staging
from loaders.arrays import array_literal
from loaders.schema import dataset_tables
from pipeline import lookups
from pipeline.lookups import StagingLookups


@pytest.fixture
def store(staging_engine, tmp_path):
    datasets = ["death_notices", "health_workforce", "vaccination_records"]
    staging.ensure_schema(staging_engine, datasets)
    lineage = {"batch_id": "b", "record_hash": "h", "version_key": "1", "facility_code": "01929"}
    deaths, _ = dataset_tables("death_notices")
    workforce, _ = dataset_tables("health_workforce")
    vaccines, _ = dataset_tables("vaccination_records")
    with staging_engine.begin() as conn:
        conn.execute(sa.insert(deaths), [
            {"notice_code": "N1", "deceased_id_number": "001090000001", "death_datetime": dt.datetime(2026, 3, 1, 8), **lineage},
            # a second notice for the same person, with an earlier death: the earliest counts
            {"notice_code": "N2", "deceased_id_number": "001090000001", "death_datetime": dt.datetime(2026, 2, 1, 8), **lineage},
            {"notice_code": "N3", "deceased_id_number": "001090000002", "death_datetime": dt.datetime(2025, 1, 5), **lineage},
            # a one-column key holding the composite-key separator is still one key
            {"notice_code": "N|5", "deceased_id_number": None, "death_datetime": dt.datetime(2025, 1, 6), **lineage},
        ])
        conn.execute(sa.insert(workforce), [
            {"licence_number": "L1", "licence_issuer": "BYT", "practice_facility_code": "01929", "personal_id": "001090000003",
             "period_start": dt.date(2020, 1, 1), **lineage},
        ])
        conn.execute(sa.insert(vaccines), [
            {"immunization_id": "I1", "source_system": "S", "personal_id": "001090000004", "antigen": "BCG",
             "occurrence_datetime": dt.datetime(2026, 1, 2), "status": "completed", **lineage, "record_status": None},
            {"immunization_id": "I2", "source_system": "S", "personal_id": "001090000004", "antigen": "HepB",
             "occurrence_datetime": dt.datetime(2026, 1, 3), "status": "completed", **lineage, "record_status": "cancelled"},
        ])
    return StagingLookups(staging_engine, tmp_path / "no-reference")


@pytest.mark.parametrize("in_batch", [5000, 1], ids=["one-query", "one-value-per-query"])
def test_lookups_answer_the_same_however_the_values_are_split(store, monkeypatch, in_batch):
    monkeypatch.setattr(lookups, "IN_BATCH", in_batch)  # SQLite splits; PostgreSQL sends one array
    ids = pa.array(["001090000001", None, "001090000002", "001090000009", "001090000001", ""])
    assert store.death_dates(ids).to_pylist() == [dt.date(2026, 2, 1), None, dt.date(2025, 1, 5), None,
                                                  dt.date(2026, 2, 1), None]
    assert store.death_notice_codes(ids).to_pylist() == ["N2", None, "N3", None, "N2", None]
    keys = pa.array(["N1", "N9", None, "N3", "N|5", "N", ""])
    assert store.existing_keys("death_notices", keys).to_pylist() == [True, False, None, True, True, False, False]
    composite = pa.array(["L1|BYT|01929", "L1|BYT|01930", "L1|SYT|01929", "L2|BYT|01929", None])
    assert store.existing_keys("health_workforce", composite).to_pylist() == [True, False, False, False, None]
    periods = store.practice_periods(pa.array(["001090000003", "001090000001"]))
    assert periods.column("licence_number").to_pylist() == ["L1"]
    doses = store.current_rows("vaccination_records", "personal_id", pa.array(["001090000004", "x"]),
                               ["personal_id", "antigen"])
    assert doses.to_pylist() == [{"personal_id": "001090000004", "antigen": "BCG"}]  # the cancelled dose is not history


AWKWARD = ["plain", 'a "quoted" word', "back\\slash", "trailing\\", "a,comma", "{braces}", " spaced ", "NULL",
           "null", "Nguyễn Thị Hoa", "tab\tand\nnewline", "'single'", "ARRAY[1]", "x" * 5000]


def test_array_literal_reads_back_as_the_same_values_on_postgresql(pg_url):
    """Every value, however awkward, comes back from the server exactly as it was sent, in order."""
    engine = staging.make_engine(pg_url)
    literal = array_literal(pa.array(AWKWARD))
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT unnest(CAST(:v AS text[]))"), {"v": literal}).scalars().all()
        empty = conn.execute(sa.text("SELECT cardinality(CAST(:v AS text[]))"),
                             {"v": array_literal(pa.array([], pa.string()))}).scalar()
    engine.dispose()
    assert back == AWKWARD
    assert empty == 0


def test_lookups_find_awkward_identifiers(staging_engine, tmp_path):
    """An identifier with quotes, backslashes, commas or braces is looked up as itself (PostgreSQL
    sends one array literal; SQLite binds each value)."""
    staging.ensure_schema(staging_engine, ["death_notices"])
    deaths, _ = dataset_tables("death_notices")
    lineage = {"batch_id": "b", "record_hash": "h", "version_key": "1", "facility_code": "01929"}
    with staging_engine.begin() as conn:
        conn.execute(sa.insert(deaths), [
            {"notice_code": f"K{i}", "deceased_id_number": v, "death_datetime": dt.datetime(2026, 1, 1 + i), **lineage}
            for i, v in enumerate(AWKWARD[:12])])
    found = StagingLookups(staging_engine, tmp_path / "no-reference").death_notice_codes(
        pa.array([*reversed(AWKWARD[:12]), "absent", 'a "quoted"'])).to_pylist()
    assert found == [f"K{i}" for i in reversed(range(12))] + [None, None]


def test_postgresql_plans_the_values_as_a_constant_array(pg_url, tmp_path):
    """The values reach the planner as a constant ``text[]``. Cast from a text parameter inside the
    statement they were an expression the planner sized at a few values: a sequential scan then
    compared every stored row with every value, which ran for minutes on a million IDs."""
    engine = staging.make_engine(pg_url)
    staging.ensure_schema(engine, ["death_notices"])
    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "deceased_id_number" in statement and "ANY" in statement:
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", grab)
    StagingLookups(engine, tmp_path / "no-reference").death_dates(pa.array(["001090000001", "001090000002"]))
    sa.event.remove(engine, "before_cursor_execute", grab)
    assert len(seen) == 1
    statement, parameters = seen[0]
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    engine.dispose()
    assert "'{001090000001,001090000002}'::text[]" in plan, plan
    assert "cstring" not in plan and "character varying" not in plan, plan

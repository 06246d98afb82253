"""The staging load's bulk path on PostgreSQL: Arrow chunks sent as a binary ``COPY``.

What goes in must come back value for value - text that would need quoting in CSV, empty text
apart from NULL, dates, timestamps, integers and booleans - and what the binary format cannot
carry is refused clearly or sent as CSV, never written wrong.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa

from loaders import staging


@pytest.fixture
def pg(pg_url: str):
    engine = staging.make_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE t (name TEXT, born DATE, seen TIMESTAMP, n INTEGER, big BIGINT, ok BOOLEAN)")
    yield engine
    engine.dispose()


NAMES = ["name", "born", "seen", "n", "big", "ok"]


def _chunk(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    return pa.table({
        "name": pa.array(cols[0], pa.string()),
        "born": pa.array(cols[1], pa.date32()),
        "seen": pa.array(cols[2], pa.timestamp("s")),
        "n": pa.array(cols[3], pa.int64()),  # wider than the column: cast on the way
        "big": pa.array(cols[4], pa.int64()),
        "ok": pa.array(cols[5], pa.bool_()),
        "extra": pa.array(["not sent"] * len(rows)),
    })


def test_values_come_back_exactly(pg) -> None:
    rows = [
        ('Nguyễn "Văn" A, 12\nhẻm 3\\4', dt.date(1990, 1, 31), dt.datetime(2024, 2, 29, 23, 59, 59), 7, 2**40, True),
        ("", dt.date(1900, 1, 1), dt.datetime(1970, 1, 1), -2**31, -1, False),
        (None, None, None, None, None, None),
    ]
    with pg.begin() as conn:
        assert staging._bulk_insert(conn, "t", NAMES, [_chunk(rows[:2]), _chunk(rows[2:])]) == 3
    with pg.connect() as conn:
        back = [tuple(r) for r in conn.exec_driver_sql(f"SELECT {', '.join(NAMES)} FROM t ORDER BY n NULLS LAST")]
    assert back == [rows[1], rows[0], rows[2]]  # the empty name stays empty, the NULL stays NULL


def test_a_value_the_column_cannot_hold_is_refused_and_nothing_is_written(pg) -> None:
    rows = [("a", None, None, 2**31, None, None)]  # one past INTEGER's range
    with pytest.raises(pa.ArrowInvalid), pg.begin() as conn:
        staging._bulk_insert(conn, "t", NAMES, [_chunk(rows)])
    with pg.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0


def test_a_type_the_binary_path_does_not_know_goes_as_csv(pg) -> None:
    with pg.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE m (code TEXT, amount NUMERIC(10, 2))")
        assert staging.binary_schema(conn, "m", ["code", "amount"]) is None
        table = pa.table({"code": ["x,y", ""], "amount": pa.array(["12.50", None])})
        assert staging._bulk_insert(conn, "m", ["code", "amount"], [table]) == 2
    with pg.connect() as conn:
        back = conn.exec_driver_sql("SELECT code, amount::text FROM m ORDER BY code").all()
    assert [tuple(r) for r in back] == [("", None), ("x,y", "12.50")]


def test_a_time_zone_aware_timestamp_is_refused(pg) -> None:
    table = pa.table({"seen": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("s", tz="Asia/Ho_Chi_Minh"))})
    with pytest.raises(TypeError, match="time-zone-aware"), pg.begin() as conn:
        staging._bulk_insert(conn, "t", ["seen"], [table])

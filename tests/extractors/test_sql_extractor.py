"""SQL-database extractor and JSON-lines reader, on SQLite and on a real PostgreSQL 15 server."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from extractors.formats import FileRejected
from extractors.sql import SqlSourceError, extract_window, read_jsonl, sqlalchemy_url_from_connection
from pipeline.errors import TransportError

VN = dt.timezone(dt.timedelta(hours=7))
START = dt.datetime(2026, 11, 21, tzinfo=VN)
END = dt.datetime(2026, 11, 22, tzinfo=VN)
TEXT_COLUMNS = ["SO", "QUYEN_SO", "MA_BHXH_NND", "HO_TEN_NND", "NGAYSINH_NND", "HO_TEN_CON", "NGAY_SINH_CON",
                "CAN_NANG_CON", "GHI_CHU"]


def _rows() -> list[dict[str, object]]:
    """Synthetic XML9-like rows (no real person). ``UPDATED_AT`` is local text."""
    stamps = {1: "2026-11-20 23:59:59", 2: "2026-11-21 00:00:00", 3: "2026-11-21 08:15:00",
              4: "2026-11-21 08:15:00", 17: "2026-11-21 23:59:59", 18: "2026-11-22 00:00:00",
              19: None, 20: "2026-11-22 09:00:00"}
    stamps |= {i: f"2026-11-21 {9 + (i * 5) % 12:02d}:30:00" for i in range(5, 17)}  # not in ROW_ID order
    rows = []
    for i, stamp in stamps.items():
        rows.append({
            "ROW_ID": i, "SO": f"{i:06d}", "QUYEN_SO": "007", "MA_BHXH_NND": f"01{i:08d}",
            "HO_TEN_NND": f"Nguyễn Thị Thử {i}", "NGAYSINH_NND": "01011995",
            "HO_TEN_CON": None if i % 4 == 0 else f"Trần Văn Mẫu {i}", "NGAY_SINH_CON": "202611200830",
            "CAN_NANG_CON": "3100", "GHI_CHU": None, "UPDATED_AT": stamp,
        })
    return rows[::-1]  # inserted in reverse so physical order proves nothing


def _expected_in_window() -> list[dict[str, object]]:
    inside = [r for r in _rows() if r["UPDATED_AT"] and "2026-11-21 00:00:00" <= r["UPDATED_AT"] < "2026-11-22 00:00:00"]
    return sorted(inside, key=lambda r: (r["UPDATED_AT"], r["ROW_ID"]))


def _as_text(row: dict[str, object]) -> dict[str, str | None]:
    return {k: None if v is None else str(v) for k, v in row.items()}


def _make_table(engine: sa.Engine, name: str = "XML9_GCS", cursor_type: str = "text", schema: str | None = None) -> None:
    col_type = {"text": sa.Text(), "timestamp": sa.DateTime(), "timestamptz": sa.DateTime(timezone=True),
                "date": sa.Date()}[cursor_type]
    table = sa.Table(name, sa.MetaData(), sa.Column("ROW_ID", sa.Integer, primary_key=True, autoincrement=False),
                     *[sa.Column(c, sa.Text) for c in TEXT_COLUMNS], sa.Column("UPDATED_AT", col_type), schema=schema)
    rows = _rows()
    for r in rows:
        if cursor_type != "text" and r["UPDATED_AT"] is not None:
            local = dt.datetime.fromisoformat(str(r["UPDATED_AT"]))
            r["UPDATED_AT"] = {"timestamp": local, "timestamptz": local.replace(tzinfo=VN), "date": local.date()}[cursor_type]
    with engine.begin() as conn:
        if schema:
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        table.create(conn)
        conn.execute(table.insert(), rows)


def _landed_rows(files) -> list[dict[str, str | None]]:
    out = []
    for f in files:
        out += [json.loads(line) for line in Path(f.raw_path).read_text(encoding="utf-8").splitlines()]
    return out


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'facility.db'}")
    _make_table(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_server):
    """A dedicated database on the session server, dropped afterwards."""
    url = pg_server.create_database("s06_sql_extractor")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()
    with psycopg.connect(f"host=127.0.0.1 port={pg_server.port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "s06_sql_extractor" WITH (FORCE)')


def _statements(engine: sa.Engine) -> list[tuple[str, dict, object]]:
    """Record (SQL, execution options, DBAPI cursor class name) of every statement run."""
    seen: list[tuple[str, dict, object]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, dict(context.execution_options), type(cursor).__name__))

    return seen


# ----------------------------------------------------------------------------- SQLite


def test_window_rows_order_values_and_manifest(sqlite_engine, tmp_path):
    raw = tmp_path / "raw"
    res = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="01929/xml9_sql",
                         fmt="jsonl", key_column="ROW_ID")
    expected = _expected_in_window()
    assert res.rows == len(expected) == 16
    landed = _landed_rows(res.files)
    assert [r["ROW_ID"] for r in landed] == [str(r["ROW_ID"]) for r in expected]
    assert landed[0]["UPDATED_AT"] == "2026-11-21 00:00:00"  # start inclusive; end exclusive (18 absent)
    assert {"1", "18", "19", "20"}.isdisjoint(r["ROW_ID"] for r in landed)
    assert [r.pop("__ref") for r in landed] == [f"ROW_ID={r['ROW_ID']}" for r in expected]
    assert landed == [_as_text(r) for r in expected]  # leading zeros, NULLs, Vietnamese text intact
    assert landed[0]["SO"] == "000002" and landed[0]["GHI_CHU"] is None
    assert res.high_water_mark == "2026-11-21 23:59:59"

    assert [f.name for f in res.files] == ["01929/xml9_sql/chunk-00001.jsonl"]
    assert res.files[0].format == "jsonl" and res.files[0].encoding == "utf-8"
    manifest_text = (raw / "manifest.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["source_kind"] == "sql" and manifest["table"] == "XML9_GCS"
    assert manifest["cursor_column"] == "UPDATED_AT" and manifest["cursor_kind"] == "text"
    assert manifest["rows"] == 16 and manifest["chunks"] == 1
    assert manifest["high_water_mark"] == "2026-11-21 23:59:59"
    assert manifest["window_start"] == "2026-11-21T00:00:00+07:00"
    assert "Nguyễn" not in manifest_text and "000002" not in manifest_text


def test_chunks_streamed_and_concatenate_to_the_window(sqlite_engine, tmp_path):
    seen = _statements(sqlite_engine)
    res = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw",
                         name_prefix="p", fmt="jsonl", chunk_rows=5)
    assert [Path(f.raw_path).name for f in res.files] == [f"chunk-0000{i}.jsonl" for i in range(1, 5)]
    assert [len(Path(f.raw_path).read_text().splitlines()) for f in res.files] == [5, 5, 5, 1]
    landed = _landed_rows(res.files)
    assert [r.pop("__ref") for r in landed] == [f"row {i}" for i in range(1, 17)]
    assert landed == [_as_text(r) for r in _expected_in_window()]
    window = [(sql, opts) for sql, opts, _cur in seen if '"UPDATED_AT" >=' in sql]
    assert len(window) == 1 and window[0][1]["stream_results"] is True and window[0][1]["yield_per"] == 5
    assert "ORDER BY" in window[0][0]


def test_rerun_replaces_files_byte_identically(sqlite_engine, tmp_path):
    raw = tmp_path / "raw"
    first = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="p", fmt="jsonl",
                           chunk_rows=2)
    assert len(first.files) == 8
    again = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="p", fmt="jsonl",
                           chunk_rows=5)
    snapshot = {p.name: p.read_bytes() for p in raw.glob("chunk-*.jsonl")}
    assert sorted(snapshot) == [f"chunk-0000{i}.jsonl" for i in range(1, 5)]  # stale chunks 5..8 removed
    third = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="p", fmt="jsonl",
                           chunk_rows=5)
    assert {p.name: p.read_bytes() for p in raw.glob("chunk-*.jsonl")} == snapshot
    assert [f.sha256 for f in third.files] == [f.sha256 for f in again.files]
    assert not [p for p in raw.iterdir() if p.name.startswith(".")]  # no temp files left


def test_empty_window_clears_earlier_chunks(sqlite_engine, tmp_path):
    raw = tmp_path / "raw"
    extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="p", fmt="jsonl")
    res = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START + dt.timedelta(days=30),
                         END + dt.timedelta(days=30), raw, name_prefix="p", fmt="jsonl")
    assert res.files == [] and res.rows == 0 and res.high_water_mark is None
    assert not list(raw.glob("chunk-*.jsonl"))
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["rows"] == 0 and manifest["chunks"] == 0 and manifest["high_water_mark"] is None


def test_window_given_in_utc_is_converted_to_local_text(sqlite_engine, tmp_path):
    utc_start, utc_end = START.astimezone(dt.UTC), END.astimezone(dt.UTC)  # 2026-11-20T17:00Z ...
    res = extract_window(f"sqlite:///{tmp_path / 'facility.db'}", "XML9_GCS", "UPDATED_AT", utc_start, utc_end,
                         tmp_path / "raw", name_prefix="p", fmt="jsonl")
    assert res.rows == 16 and res.high_water_mark == "2026-11-21 23:59:59"
    with pytest.raises(ValueError, match="timezone-aware"):
        extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", dt.datetime(2026, 11, 21), dt.datetime(2026, 11, 22),
                       tmp_path / "raw", name_prefix="p", fmt="jsonl")


def test_hostile_identifiers_rejected_without_running_them(sqlite_engine, tmp_path):
    with sqlite_engine.begin() as conn:
        conn.execute(sa.text('CREATE TABLE "y" (a INTEGER)'))
    seen = _statements(sqlite_engine)
    raw = tmp_path / "raw"
    with pytest.raises(SqlSourceError, match="not found") as info:
        extract_window(sqlite_engine, "x; DROP TABLE y", "UPDATED_AT", START, END, raw, name_prefix="p", fmt="jsonl")
    assert "x; DROP TABLE y" in str(info.value)
    with pytest.raises(SqlSourceError, match=r"cursor column .* not found in table 'XML9_GCS'"):
        extract_window(sqlite_engine, "XML9_GCS", 'UPDATED_AT" >= \'\'; DROP TABLE y; --', START, END, raw,
                       name_prefix="p", fmt="jsonl")
    with pytest.raises(SqlSourceError, match="schema"):
        extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="p", fmt="jsonl",
                       schema="main; DROP TABLE y")
    assert not any("DROP" in sql.upper() for sql, _o, _c in seen)
    assert "y" in sa.inspect(sqlite_engine).get_table_names()
    assert not raw.exists() or not list(raw.iterdir())  # nothing landed, nothing deleted


def test_missing_column_and_table_errors_are_clear(sqlite_engine, tmp_path):
    with pytest.raises(SqlSourceError, match="key column 'MA_LK' not found in table 'XML9_GCS'"):
        extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path, name_prefix="p", fmt="jsonl",
                       key_column="MA_LK")
    with pytest.raises(SqlSourceError, match="table or view 'XML9_OTHER' not found"):
        extract_window(sqlite_engine, "XML9_OTHER", "UPDATED_AT", START, END, tmp_path, name_prefix="p", fmt="jsonl")
    with pytest.raises(SqlSourceError, match="not supported"):
        extract_window(sqlite_engine, "XML9_GCS", "ROW_ID", START, END, tmp_path, name_prefix="p", fmt="jsonl")


def test_sqlite_file_unreachable_is_retryable(tmp_path):
    with pytest.raises(TransportError, match=r"XML9_GCS.*OperationalError"):
        extract_window(f"sqlite:///{tmp_path / 'no-such-mount' / 'f.db'}", "XML9_GCS", "UPDATED_AT", START, END,
                       tmp_path / "raw", name_prefix="p", fmt="jsonl")


def test_sqlite_date_cursor(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    _make_table(engine, cursor_type="date")
    res = extract_window(engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p", fmt="jsonl")
    landed = _landed_rows(res.files)
    assert {r["UPDATED_AT"] for r in landed} == {"2026-11-21"} and res.rows == 16  # days 20 and 22 left out
    assert [r["ROW_ID"] for r in landed] == [str(i) for i in range(2, 18)]  # date ties: primary key order
    engine.dispose()


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.mark.integration
@pytest.mark.parametrize("cursor_type", ["text", "timestamp", "timestamptz"])
def test_postgres_window_by_cursor_kind(pg_engine, tmp_path, cursor_type):
    _make_table(pg_engine, cursor_type=cursor_type, schema="facility")
    seen = _statements(pg_engine)
    res = extract_window(pg_engine, "XML9_GCS", "UPDATED_AT", START.astimezone(dt.UTC), END.astimezone(dt.UTC),
                         tmp_path / "raw", name_prefix="p", fmt="jsonl", chunk_rows=4, schema="facility",
                         key_column="ROW_ID")
    expected = _expected_in_window()
    landed = _landed_rows(res.files)
    assert [r["ROW_ID"] for r in landed] == [str(r["ROW_ID"]) for r in expected]
    assert len(res.files) == 4 and res.rows == 16
    assert [r["SO"] for r in landed][:2] == ["000002", "000003"]
    assert all(r["GHI_CHU"] is None for r in landed)
    stream = [(opts, cur) for sql, opts, cur in seen if '"UPDATED_AT" >=' in sql]
    assert len(stream) == 1 and stream[0][1] == "ServerCursor" and stream[0][0]["yield_per"] == 4
    if cursor_type == "text":
        assert res.high_water_mark == "2026-11-21 23:59:59"
    elif cursor_type == "timestamp":
        assert res.high_water_mark == "2026-11-21T23:59:59"
    else:
        hwm = dt.datetime.fromisoformat(res.high_water_mark or "")
        assert hwm == dt.datetime(2026, 11, 21, 23, 59, 59, tzinfo=VN) and hwm.tzinfo is not None
        first = dt.datetime.fromisoformat(str(landed[0]["UPDATED_AT"]))
        assert first == START  # start boundary inclusive on a real timestamptz
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["cursor_kind"] == cursor_type and manifest["schema"] == "facility"


@pytest.mark.integration
def test_postgres_hostile_table_and_url_without_password(pg_engine, pg_server, tmp_path):
    _make_table(pg_engine)
    seen = _statements(pg_engine)
    with pytest.raises(SqlSourceError, match="not found"):
        extract_window(pg_engine, 'XML9_GCS"; DROP TABLE "XML9_GCS"; --', "UPDATED_AT", START, END, tmp_path,
                       name_prefix="p", fmt="jsonl")
    assert not any("DROP" in sql.upper() for sql, _o, _c in seen)
    assert "XML9_GCS" in sa.inspect(pg_engine).get_table_names()
    url = make_url(pg_engine.url).set(password="s3cr3t-pw")  # trust auth ignores it
    res = extract_window(url.render_as_string(hide_password=False), "XML9_GCS", "UPDATED_AT", START, END,
                         tmp_path / "raw", name_prefix="p", fmt="jsonl")
    manifest_text = (tmp_path / "raw" / "manifest.json").read_text()
    assert res.rows == 16 and "s3cr3t-pw" not in manifest_text and "postgres@" not in manifest_text
    assert json.loads(manifest_text)["source_url"] == f"postgresql+psycopg://127.0.0.1:{pg_server.port}/s06_sql_extractor"


def test_postgres_unreachable_is_transport_error_without_password(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://facility_ro:s3cr3t-pw@127.0.0.1:{port}/his"
    with pytest.raises(TransportError) as info:
        extract_window(url, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p", fmt="jsonl")
    message = str(info.value)
    assert "XML9_GCS" in message and "OperationalError" in message
    assert "s3cr3t-pw" not in message and "facility_ro" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not (tmp_path / "raw").exists()


def test_reader_reads_extract_back(sqlite_engine, tmp_path):
    res = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p",
                         fmt="jsonl", key_column="ROW_ID", chunk_rows=10)
    tables = [t for f in res.files for t in read_jsonl(Path(f.raw_path), chunk_rows=3, source_refs=True)]
    assert [t.num_rows for t in tables] == [3, 3, 3, 1, 3, 3]
    rows = [r for t in tables for r in t.to_pylist()]
    assert [r["_source_ref"] for r in rows] == [f"ROW_ID={r['ROW_ID']}" for r in _expected_in_window()]
    assert rows[0]["MA_BHXH_NND"] == "0100000002" and all(r["_reader_error"] is None for r in rows)
    assert tables[0].column_names == ["ROW_ID", *TEXT_COLUMNS, "UPDATED_AT", "_source_ref", "_reader_error"]


def test_text_that_is_not_utf8_lands_null_with_its_column_named(sqlite_engine, tmp_path):
    """SQLite keeps whatever bytes a program wrote as TEXT; its driver refuses the whole result at
    the first value that does not decode. One bad name must not fail the facility's extract every
    night: the value lands NULL and its column is named, so that row alone is quarantined."""
    with sqlite_engine.begin() as conn:  # bad bytes in a name (row 3) and in a cursor (row 5)
        conn.exec_driver_sql("UPDATE XML9_GCS SET HO_TEN_CON = CAST(X'4E677579C3AA6EFF' AS TEXT) WHERE ROW_ID = 3")
        conn.exec_driver_sql("UPDATE XML9_GCS SET UPDATED_AT = CAST(X'323032362D31312D32312032333A35393A3539FF' AS TEXT),"
                             " GHI_CHU = CAST(X'FE' AS TEXT) WHERE ROW_ID = 5")
    raw = tmp_path / "raw"
    res = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, raw, name_prefix="01929/xml9_sql",
                         fmt="jsonl", key_column="ROW_ID")
    assert res.rows == 16
    landed = {r["ROW_ID"]: r for r in _landed_rows(res.files)}
    assert landed["3"]["HO_TEN_CON"] is None and landed["3"]["__undecodable"] == ["HO_TEN_CON"]
    assert landed["3"]["__ref"] == "ROW_ID=3" and landed["3"]["SO"] == "000003"
    assert landed["5"]["UPDATED_AT"] is None and landed["5"]["GHI_CHU"] is None
    assert sorted(landed["5"]["__undecodable"]) == ["GHI_CHU", "UPDATED_AT"]
    assert all("__undecodable" not in r for k, r in landed.items() if k not in ("3", "5"))
    # the bad cursor sorts last as text, but is no high-water mark: that is the next good one
    assert res.high_water_mark == "2026-11-21 23:59:59"
    # the connection's own decoding is back
    with sqlite_engine.connect() as conn, pytest.raises(sa.exc.OperationalError, match="Could not decode"):
        conn.exec_driver_sql("SELECT HO_TEN_CON FROM XML9_GCS WHERE ROW_ID = 3").all()

    rows = {r["_source_ref"]: r for t in read_jsonl(res.files[0].raw_path, 100, source_refs=True) for r in t.to_pylist()}
    assert rows["ROW_ID=3"]["_undecodable_fields"] == "\x1fHO_TEN_CON\x1f" and rows["ROW_ID=3"]["HO_TEN_CON"] is None
    assert rows["ROW_ID=4"]["_undecodable_fields"] is None and "__undecodable" not in rows["ROW_ID=4"]
    # a file a facility drops cannot name fields so: there the key is an ordinary (unknown) one
    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text('{"SO": "1", "__undecodable": ["SO"]}\n', encoding="utf-8")
    assert [r for t in read_jsonl(dropped, 10) for r in t.to_pylist()] == [
        {"SO": "1", "__undecodable": None, "_source_ref": "line 1", "_reader_error": None, "_nested_fields": "\x1f__undecodable\x1f"}]


def test_a_column_name_that_is_not_utf8_fails_the_extract_naming_no_value():
    """A bad value is one row's problem; a bad column name is the table's (no row can name it)."""
    from extractors.sql.extract import _line

    assert _line({"SO": "1", "__ref": "ROW_ID=1"}) == b'{"SO":"1","__ref":"ROW_ID=1"}\n'
    with pytest.raises(SqlSourceError, match="a column name of the table is not valid UTF-8"):
        _line({"HO_TEN\udcff": "Nguy\udcf2n", "__ref": "ROW_ID=1"})


def test_postgres_sql_ascii_database_reads_utf8_and_names_a_bad_value_clearly(pg_server, tmp_path):
    """A legacy SQL_ASCII database stores any bytes. Read as UTF-8, its good text extracts (the
    dialect could not even connect to it before); a value that is not UTF-8 fails the extract with
    a reason that says so and quotes nothing (PostgreSQL refuses to send it as UTF-8)."""
    admin = f"host=127.0.0.1 port={pg_server.port} user=postgres"
    with psycopg.connect(f"{admin} dbname=postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE s06_legacy ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        with psycopg.connect(f"{admin} dbname=s06_legacy", autocommit=True, client_encoding="utf8") as c:
            c.execute('CREATE TABLE t ("ROW_ID" int, "HO_TEN" text, "UPDATED_AT" text)')
            c.execute("INSERT INTO t VALUES (2, 'Trần Văn Mẫu', '2026-11-21 02:00:00')")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_server.port}/s06_legacy"
        res = extract_window(url, "t", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p", fmt="jsonl",
                             key_column="ROW_ID")
        assert [r["HO_TEN"] for r in _landed_rows(res.files)] == ["Trần Văn Mẫu"]
        with psycopg.connect(f"{admin} dbname=s06_legacy", autocommit=True, client_encoding="utf8") as c:
            c.execute("INSERT INTO t VALUES (1, 'Nguy' || convert_from('\\xf26e'::bytea, 'SQL_ASCII'), '2026-11-21 01:00:00')")
        with pytest.raises(SqlSourceError, match="holds text that is not valid UTF-8") as info:
            extract_window(url, "t", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p", fmt="jsonl",
                           key_column="ROW_ID")
        assert "Nguy" not in str(info.value)
    finally:
        with psycopg.connect(f"{admin} dbname=postgres", autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS s06_legacy WITH (FORCE)")


# ----------------------------------------------------------------------------- JSON-lines reader


def test_jsonl_values_bad_lines_and_chunks(tmp_path):
    p = tmp_path / "certs.jsonl"
    p.write_text(
        '{"SO": "0012", "N": 7, "F": 3.10, "B": true, "Z": null, "NEST": {"a": [1, 2.50, false]}}\n'
        "not json at all\n"
        "[1, 2]\n"
        "\n"
        '{"SO": "0013", "EXTRA": "é", "__ref": "ROW_ID=9", "B": false, "N": -1e5}\r\n'
        '{"_source_ref": "forged"}\n'
        '{"SO": NaN}\n',
        encoding="utf-8",
    )
    tables = list(read_jsonl(p, chunk_rows=2))
    assert [t.num_rows for t in tables] == [2, 2, 2]
    # A dropped file's `__ref` is an ordinary (unknown) key: only the SQL extractor's files set references.
    cols = ["SO", "N", "F", "B", "Z", "NEST", "EXTRA", "__ref", "_source_ref", "_reader_error", "_nested_fields"]
    assert all(t.column_names == cols for t in tables)
    assert all(str(f.type) == "string" for t in tables for f in t.schema)
    rows = [r for t in tables for r in t.to_pylist()]
    assert rows[0] == {"SO": "0012", "N": "7", "F": "3.10", "B": "1", "Z": None, "NEST": None,
                       "EXTRA": None, "__ref": None, "_source_ref": "line 1", "_reader_error": None,
                       "_nested_fields": "\x1fNEST\x1f"}
    assert rows[1]["_source_ref"] == "line 2" and rows[1]["_reader_error"] == "line 2 is not a valid JSON object"
    assert rows[1]["SO"] is None
    assert rows[2]["_reader_error"] == "line 3 is not a valid JSON object"
    assert rows[3] == {"SO": "0013", "N": "-1e5", "F": None, "B": "0", "Z": None, "NEST": None, "EXTRA": "é",
                       "__ref": "ROW_ID=9", "_source_ref": "line 5", "_reader_error": None, "_nested_fields": None}
    extracted = [r for t in read_jsonl(p, chunk_rows=2, source_refs=True) for r in t.to_pylist()]
    assert extracted[3]["_source_ref"] == "ROW_ID=9" and "__ref" not in extracted[3]
    assert rows[4]["_source_ref"] == "line 6" and rows[4]["_reader_error"]  # reserved key: not forgeable
    assert rows[5]["_source_ref"] == "line 7" and rows[5]["_reader_error"]  # NaN is not JSON


def test_jsonl_empty_bom_and_encoding(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert list(read_jsonl(empty, 10)) == []
    empty.write_bytes(b"\n  \n")
    assert list(read_jsonl(empty, 10)) == []
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')
    assert [t.to_pylist() for t in read_jsonl(bom, 10)] == [[{"a": "1", "_source_ref": "line 1", "_reader_error": None}]]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": "ok"}\n{"HO_TEN": "Nguy\xea\xff"}\n')
    with pytest.raises(FileRejected) as info:
        next(read_jsonl(bad, 10))
    assert "UTF-8" in info.value.reason and "Nguy" not in info.value.reason
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_bytes(b'{"a": "\xe0"}\n')
    with pytest.raises(FileRejected):
        next(read_jsonl(legacy, 10, encoding="auto"))
    assert next(read_jsonl(legacy, 10, encoding="cp1258")).column("a").to_pylist() == ["à"]


# ----------------------------------------------------------------------------- connections


def test_sqlalchemy_url_from_connection():
    def conn(**kw):
        base = {"conn_type": "postgres", "host": "db.bv-test.local", "schema": "his", "login": "ro",
                "password": "p@ss/w:rd", "port": 5432, "extra_dejson": {}}
        return SimpleNamespace(**(base | kw))

    url = make_url(sqlalchemy_url_from_connection(conn()))
    assert url.drivername == "postgresql+psycopg" and url.password == "p@ss/w:rd"
    assert (url.host, url.port, url.database, url.username) == ("db.bv-test.local", 5432, "his", "ro")
    ssl = make_url(sqlalchemy_url_from_connection(conn(extra_dejson={"sslmode": "require", "x": "y"})))
    assert dict(ssl.query) == {"sslmode": "require"}
    assert sqlalchemy_url_from_connection(conn(conn_type="sqlite", host="/data/his.db")) == \
        "sqlite:///file:/data/his.db?mode=ro&uri=true"  # read-only: never written, never created
    assert sqlalchemy_url_from_connection(conn(extra_dejson={"sqlalchemy_url": "sqlite://"})) == "sqlite://"
    assert make_url(sqlalchemy_url_from_connection(conn(conn_type="mysql"))).drivername == "mysql+pymysql"
    mssql = make_url(sqlalchemy_url_from_connection(conn(conn_type="mssql")))
    assert mssql.drivername == "mssql+pyodbc" and mssql.query["driver"] == "ODBC Driver 18 for SQL Server"
    with pytest.raises(ValueError, match="unsupported"):
        sqlalchemy_url_from_connection(conn(conn_type="oracle"))



def test_a_missing_sqlite_facility_database_is_unreachable_not_created(tmp_path):
    """Opening it must not create an empty file (then reported as 'table not found', not retried)."""
    import sqlalchemy as sa

    from extractors.sql.connection import sqlalchemy_url_from_connection

    path = tmp_path / "22015.sqlite"
    url = sqlalchemy_url_from_connection(SimpleNamespace(conn_type="sqlite", host=str(path), extra_dejson={}))
    with pytest.raises(sa.exc.OperationalError):
        sa.create_engine(url).connect()
    assert not path.exists()
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
    with sa.create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        with pytest.raises(sa.exc.OperationalError):
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")


def test_rows_without_a_cursor_value_are_counted_not_lost_silently(sqlite_engine, tmp_path):
    """ROW_ID 19 has no UPDATED_AT: no window ever selects it. The extract says how many such rows
    the table holds (manifest, result; the ledger's reason and source facts carry it on)."""
    res = extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p",
                         fmt="jsonl")
    assert res.null_cursor_rows == 1
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["null_cursor_rows"] == 1
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE XML9_GCS SET UPDATED_AT = '2026-11-21 10:00:00' WHERE ROW_ID = 19")
    assert extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p",
                          fmt="jsonl").null_cursor_rows == 0


def test_text_cursors_written_another_way_are_counted(sqlite_engine, tmp_path):
    """A text cursor compares as text: ``2026/11/21 10:00:00``, ``21/11/2026``, a date alone or a
    ``T`` separator sort into the wrong night or none. The extract counts them, as it counts NULLs
    (found by an adversarial run: such rows were silently never extracted)."""
    def extract():
        return extract_window(sqlite_engine, "XML9_GCS", "UPDATED_AT", START, END, tmp_path / "raw", name_prefix="p",
                              fmt="jsonl")

    assert extract().misshapen_cursor_rows == 0
    with sqlite_engine.begin() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT ROW_ID FROM XML9_GCS WHERE UPDATED_AT IS NOT NULL "
                                                  "ORDER BY ROW_ID LIMIT 4")]
        for row_id, value in zip(ids, ["2026/11/21 10:00:00", "21/11/2026 11:00:00", "2026-11-21",
                                       "2026-11-21T09:00:00"], strict=True):
            conn.exec_driver_sql(f"UPDATE XML9_GCS SET UPDATED_AT = '{value}' WHERE ROW_ID = {row_id}")
        conn.exec_driver_sql(f"UPDATE XML9_GCS SET UPDATED_AT = '2026-11-21 10:00:00.250' WHERE ROW_ID > {ids[-1]}")
    res = extract()
    assert res.misshapen_cursor_rows == 4
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["misshapen_cursor_rows"] == 4

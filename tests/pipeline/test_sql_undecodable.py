"""A facility database holding one value that is not UTF-8: that record is quarantined, the rest load.

SQLite keeps whatever bytes a facility's program wrote as TEXT. Before, the first such value failed
the facility's whole extract, every night, until somebody fixed the row at the source.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config.contracts import load_contract
from config.settings import load_settings
from loaders import staging
from pipeline.batch import run_batch

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NIGHT = dt.date(2026, 11, 21)
CODE = "22015"


def _xml9_rows(tmp_path, rows: int) -> list[dict[str, str]]:
    """The bench's birth records for :data:`CODE`, renamed to the XML9 tags (the sql_xml9 layout's
    columns), the child's sex written as XML9 codes it (1/2/3)."""
    from sample_data.generator import generator_for

    contract = load_contract("birth_certificates")
    to_xml9 = {spec.sources["csv"]: spec.sources["xml9"] for spec in contract.columns.values()
               if "csv" in spec.sources and "xml9" in spec.sources}
    sex = contract.columns["child_sex"]
    path = tmp_path / "b.csv"
    generator_for("birth_certificates").write_bench_csv(path, rows, seed=7, facility_code=CODE)
    with path.open(encoding="utf-8", newline="") as fh:
        out = [{to_xml9[k]: v for k, v in r.items() if k in to_xml9} for r in csv.DictReader(fh)]
    for rec in out:
        label = rec[sex.sources["xml9"]]
        rec[sex.sources["xml9"]] = str(sex.code_map["csv"].get(label.upper(), label))
    return out


def test_a_value_that_is_not_utf8_quarantines_its_record_only(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    (tmp_path / "facilities.yaml").write_text(
        f'facilities:\n  - {{code: "{CODE}", name: A, province_code: "22", source_kind: sql, conn_id: s06_fac_{CODE}, '
        "datasets: {birth_certificates: {format: sql_xml9, table: xml9_birth_certificates, "
        "cursor_column: UPDATED_AT, key_column: ROW_ID}}}\n", encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    db = tmp_path / "facility.sqlite"
    monkeypatch.setenv(f"AIRFLOW_CONN_S06_FAC_{CODE}", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    records = _xml9_rows(tmp_path, 5)
    columns = list(records[0])
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE xml9_birth_certificates (ROW_ID INTEGER PRIMARY KEY, "
                     f"{', '.join(f'{c} TEXT' for c in columns)}, UPDATED_AT TEXT)")
        for i, rec in enumerate(records, start=1):
            conn.execute(f"INSERT INTO xml9_birth_certificates VALUES (?, {', '.join('?' for _ in columns)}, ?)",
                         [i, *rec.values(), f"2026-11-21 0{i}:00:00"])
        name_tag = load_contract("birth_certificates").tag_for("mother_full_name", "xml9")
        # a mother's name written by a program in a legacy code page: 'Nguyễn' is not UTF-8 there
        conn.execute(f"UPDATE xml9_birth_certificates SET {name_tag} = CAST(X'4E677579F26E' AS TEXT) WHERE ROW_ID = 2")

    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    summary = run_batch("birth_certificates", CODE, start, start + dt.timedelta(days=1))

    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (5, 4, 1)
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT source_ref, rule_id, column_name, reason FROM quarantine")).all()
        status = conn.execute(sa.text("SELECT status FROM batch_ledger")).scalars().all()
    assert [tuple(r) for r in found] == [
        ("ROW_ID=2", "TYPE", "mother_full_name",
         "mother_full_name: the source database holds bytes that are not valid UTF-8 text in this field")]
    assert status == ["loaded"]

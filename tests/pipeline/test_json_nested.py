"""A JSON object or array where one value belongs: the record is quarantined, never loaded as text.

A facility's JSON export sends ``"hoTen": {"ho": "Lê", "ten": "Hoa"}``: the name was not sent as
a name, and its JSON text must not reach staging as one. A nested field the layout does not read
is ignored like any unknown field.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config.contracts import load_contract
from config.settings import load_settings
from loaders import staging
from pipeline.batch import run_batch

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NIGHT = dt.date(2026, 11, 21)


def _records(tmp_path, rows: int) -> list[dict[str, str]]:
    """The bench's workforce records, renamed to the JSON export's field names."""
    from bench.bench_pipeline import DATASETS

    contract = load_contract("health_workforce")
    to_json = {spec.sources["csv"]: spec.sources["json"] for spec in contract.columns.values()
               if "csv" in spec.sources and "json" in spec.sources}
    path = tmp_path / "w.csv"
    DATASETS["health_workforce"].write(path, rows)
    with path.open(encoding="utf-8", newline="") as fh:
        return [{to_json[k]: v for k, v in r.items() if k in to_json} for r in csv.DictReader(fh)]


def test_an_object_in_a_value_field_is_quarantined_and_an_unread_one_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    (tmp_path / "facilities.yaml").write_text(
        'facilities:\n  - {code: "46001", name: A, province_code: "46", source_kind: file_drop, '
        "datasets: {health_workforce: {format: json}}}\n", encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    records = _records(tmp_path, 4)
    name = records[1]["hoTen"]
    records[1]["hoTen"] = {"ho": name.split()[0], "ten": name.split()[-1]}  # a name split in an object
    records[2]["phamVi"] = ["Nội khoa", "Nhi khoa"]  # a list where one text belongs (optional field)
    records[3]["meta"] = {"nguon": "HIS", "phienBan": [1, 2]}  # not a field of the layout
    folder = tmp_path / "drop" / "46001" / "health_workforce" / NIGHT.isoformat()
    folder.mkdir(parents=True)
    (folder / "nhan_luc.json").write_text(json.dumps({"maCSKCB": "46001", "nhanVien": records}, ensure_ascii=False),
                                          encoding="utf-8")
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    summary = run_batch("health_workforce", "46001", start, start + dt.timedelta(days=1))
    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (4, 2, 2)
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        found = sorted(tuple(r) for r in conn.execute(sa.text(
            "SELECT source_ref, rule_id, column_name, reason FROM quarantine")).all())
        names = conn.execute(sa.text("SELECT full_name FROM health_workforce")).scalars().all()
    assert found == [
        ("nhanVien[2]", "TYPE", "full_name", "full_name: the field holds a JSON object or array, not one value"),
        ("nhanVien[3]", "TYPE", "scope_of_practice",
         "scope_of_practice: the field holds a JSON object or array, not one value"),
    ]  # one finding each: no REQ beside it for the missing name
    assert not any(n.startswith("{") for n in names) and len(names) == 2

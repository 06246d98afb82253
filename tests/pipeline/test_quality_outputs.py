"""Report, feedback files, GX statistics and Data Docs from a real batch whose records carry planted
marker values in names and IDs (and in values that fail rules): none of the markers may appear in
anything the quality step writes, except that feedback lists each record by its own code."""

from __future__ import annotations

import csv
import datetime as dt
import json
import stat
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from pipeline.batch import run_batch
from tests.pipeline.test_batch import _child, _xml9

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NIGHT = dt.date(2026, 11, 21)
REGISTRY = """facilities:
  - {code: "01929", name: "BV Phụ sản A", province_code: "01", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
  - {code: "79034", name: "BV B", province_code: "79", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
"""
NAME = "QMARKERMOTHER"
FATHER = "QMARKERFATHER"
PERSONAL_ID = "001195999888"
BAD_ID = "999195999777"  # a failing personal ID value (no such province prefix)
BAD_INSURANCE = "77MARKER77"  # a failing insurance number value
MARKERS = (NAME, FATHER, PERSONAL_ID, BAD_ID, BAD_INSURANCE, "Lê Thị Hoa")


def _marked(i: int, facility: str = "01929", fail: str | None = None) -> str:
    child = (_child(i, facility).replace("Lê Thị Hoa", NAME)
             .replace(f"<SO_CCCD_NND>001195{i:06d}</SO_CCCD_NND>", f"<SO_CCCD_NND>{PERSONAL_ID}</SO_CCCD_NND>")
             .replace("</HO_TEN_NND>", f"</HO_TEN_NND><HO_TEN_CHA>{FATHER}</HO_TEN_CHA>"))
    if fail == "id":
        child = child.replace(PERSONAL_ID, BAD_ID)
    if fail == "insurance":
        child = child.replace("</MAXA_CU_TRU>", f"</MAXA_CU_TRU><MA_BHXH_NND>{BAD_INSURANCE}</MA_BHXH_NND>")
    if fail == "weight":
        child = child.replace("<CAN_NANG_CON>3200</CAN_NANG_CON>", "<CAN_NANG_CON>6500</CAN_NANG_CON>")
    return child


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    (tmp_path / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    folder = tmp_path / "drop" / "01929" / "birth_certificates" / NIGHT.isoformat()
    folder.mkdir(parents=True)
    records = [_marked(1), _marked(2, fail="id"), _marked(3, fail="insurance"), _marked(4, fail="weight"), _marked(5)]
    (folder / "GIAMDINHHS_01929.xml").write_text(_xml9(records), encoding="utf-8")
    (folder / "GIAMDINHHS_01929_cut.xml").write_text(_xml9([_marked(6)])[:-200], encoding="utf-8")
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    summary = run_batch("birth_certificates", "01929", start, start + dt.timedelta(days=1))
    # 2 bad records (B7, B8) quarantined, 1 flagged (B4), 1 file rejected (FILE)
    assert (summary["quarantined"], summary["flagged"], summary["files_rejected"]) == (2, 1, 1), summary
    from pipeline.report import build_report

    result = build_report(NIGHT, days=7)
    return tmp_path, result


def _all_text(root: Path) -> str:
    """Every file the quality step wrote, as text (Parquet and XLSX decoded)."""
    from openpyxl import load_workbook

    parts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            parts.append(repr(pq.read_table(path).to_pylist()))
        elif path.suffix == ".xlsx":
            wb = load_workbook(path)
            parts += [repr(list(ws.iter_rows(values_only=True))) for ws in wb.worksheets]
        else:
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def test_report_gx_results_and_data_docs_carry_no_marker(outputs):
    root, result = outputs
    assert result.html.is_file() and result.data_docs and result.data_docs.is_file()
    for folder in (root / "reports", root / "gx"):
        text = _all_text(folder)
        assert len(text) > 10_000
        leaked = [m for m in MARKERS if m in text]
        assert not leaked, f"markers in {folder.name}: {leaked}"
        assert ".GCS.01929" not in text, f"record codes in {folder.name}"


def test_report_counts_the_batch(outputs):
    _root, result = outputs
    births = next(o for o in result.tables["overview"] if o["dataset"] == "birth_certificates")
    assert (births["received"], births["quarantined"], births["flagged"], births["files_rejected"]) == (5, 2, 1, 1)
    assert (births["delivered"], births["silent"], births["facilities_expected"]) == (1, 1, 2)
    assert [s["facility_code"] for s in result.tables["silent_facilities"]] == ["79034"]
    rules = {(r["rule_id"], r["severity"]): r["records"] for r in result.tables["top_rules"]}
    assert rules[("B7", "error")] == 1 and rules[("B8", "error")] == 1 and rules[("FILE", "error")] == 1
    assert rules[("B4", "warning")] == 1
    top = next(r for r in result.tables["top_rules"] if r["rule_id"] == "B7")
    assert top["title_vi"] and top["description_en"] and top["title_vi"] != top["title_en"]


def test_feedback_lists_records_by_their_own_code_and_nothing_personal(outputs):
    root, result = outputs
    folder = root / "feedback" / "01929" / NIGHT.isoformat()
    csv_path = folder / f"feedback_01929_{NIGHT.isoformat()}.csv"
    xlsx_path = folder / f"feedback_01929_{NIGHT.isoformat()}.xlsx"
    assert set(result.feedback) == {csv_path, xlsx_path}
    assert not (root / "feedback" / "79034").exists()  # nothing to say to a silent facility's folder
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens Vietnamese correctly
    lines = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    by_rule = {line["Mã quy tắc / Rule"]: line for line in lines}
    assert by_rule["B7"]["Mã hồ sơ của cơ sở / Your record code"] == "00002.GCS.01929.26"
    assert by_rule["B8"]["Mã hồ sơ của cơ sở / Your record code"] == "00003.GCS.01929.26"
    assert by_rule["B4"]["Kết quả / Outcome"].endswith("loaded with a warning")
    assert by_rule["FILE"]["Tệp / File"].endswith("GIAMDINHHS_01929_cut.xml")
    assert "not well-formed" in by_rule["FILE"]["Lý do (kỹ thuật) / Reason (technical)"]
    for line in lines:
        assert line["Cần sửa / What to correct (Vietnamese)"] and line["Cần sửa (tiếng Anh) / What to correct"]
    assert by_rule["B7"]["Vị trí trong tệp / Row / element"]  # the element inside the file
    text = _all_text(root / "feedback")
    assert not [m for m in MARKERS if m in text]
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx_path).worksheets[0]
    assert sheet.max_row == len(lines) + 1
    assert stat.S_IMODE(csv_path.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_gx_statistics_are_counts_per_expectation(outputs):
    root, _result = outputs
    files = sorted((root / "gx").rglob("birth_certificates_01929_2026-11-21.*.json"))
    assert len(files) == 1
    record = json.loads(files[0].read_text(encoding="utf-8"))
    assert record["label"] == "birth_certificates/01929/2026-11-21" and record["rows"] == 5
    by_rule = {}
    for e in record["expectations"]:
        by_rule.setdefault(e["rule_id"], 0)
        by_rule[e["rule_id"]] += e["unexpected_count"] or 0
        assert set(e) == {"type", "column", "column_b", "rule_id", "severity", "category", "reason", "success",
                          "raised_exception", "element_count", "unexpected_count", "missing_count"}
    assert by_rule["B7"] >= 1 and by_rule["B8"] == 1


def test_rerunning_the_batch_replaces_its_statistics(outputs):
    root, _result = outputs
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    run_batch("birth_certificates", "01929", start, start + dt.timedelta(days=1))
    assert len(sorted((root / "gx").rglob("birth_certificates_01929_2026-11-21.*.json"))) == 1


def test_a_report_built_for_one_dataset_keeps_the_other_datasets_feedback(outputs):
    """A facility's feedback file holds every dataset's lines for the night: a report built for one
    dataset (a one-dataset re-run, ``make run-night``) rebuilds it from all of them, so the births
    lines survive a report for death notices (they were deleted)."""
    from pipeline.report import build_report

    _root, result = outputs
    (before,) = [p for p in result.feedback if p.suffix == ".csv"]
    lines = before.read_bytes()
    again = build_report(NIGHT, days=7, datasets=["death_notices"], data_docs=False)
    assert [p for p in again.feedback if p.suffix == ".csv"] == [before]
    assert before.read_bytes() == lines and b"birth_certificates" in lines


def test_the_ledgers_top_rules_say_when_a_rule_gave_more_than_one_reason():
    """One record missing seven fields is seven REQ findings with seven reasons: the ledger line
    shows the commonest and says there are others (it read as if every finding had that reason)."""
    from types import SimpleNamespace

    from pipeline.stages.load import top_rules

    quarantine = ([{"rule_id": "REQ", "reason": f"{c} is missing"} for c in "abcdefg"]
                  + [{"rule_id": "B2", "reason": "birth_datetime: x"}] * 2
                  + [{"rule_id": "D2", "reason": "a"}, {"rule_id": "D2", "reason": "b"}, {"rule_id": "D2", "reason": "b"}])
    line = top_rules(SimpleNamespace(quarantine=quarantine))  # type: ignore[arg-type]
    assert line == "REQ ×7 (+6 other reasons): a is missing; D2 ×3 (+1 other reason): b; B2 ×2: birth_datetime: x"

"""Feedback files for facilities: what was wrong with what they sent, record by record.

Usage::

    python -m pipeline.feedback --night 2026-11-23

For every facility x night with a quarantined record, a flagged record, a rejected file, a file
loaded with a note (columns not read, columns a SQL source lacks) or a held batch, one folder
``$S06_DATA_ROOT/feedback/<facility>/<night>/`` holds the same list twice:
``feedback_<facility>_<night>.csv`` (UTF-8 with BOM, opens in Excel with Vietnamese intact) and
``feedback_<facility>_<night>.xlsx``. Each line names the record by the facility's *own*
reference - the certificate / notice / licence code (``record_key``), the file and the row or
element inside it (``source_ref``) - then the rule, what happened (not loaded / loaded with a
warning / file rejected / batch held), the reason and what to correct, in Vietnamese and English.
It never repeats a value from the record (no names, IDs or dates), but the record codes are the
facility's own identifiers: the folder is **restricted** - hand each folder only to its facility
(SFTP, portal). Folders are created ``0700`` and files ``0600``. Re-running a night replaces its
files (a facility whose problems were fixed loses its folder for that night).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from config.contracts import available_datasets
from config.rule_descriptions import describe
from config.settings import Settings, load_settings
from loaders import staging
from loaders.quality import night_batches
from loaders.schema import dq_warnings, ingested_files, quarantine

#: Column key -> (Vietnamese header, English header).
COLUMNS: dict[str, tuple[str, str]] = {
    "dataset": ("Nhóm dữ liệu", "Dataset"),
    "record_reference": ("Mã hồ sơ của cơ sở", "Your record code"),
    "source_file": ("Tệp", "File"),
    "position": ("Vị trí trong tệp", "Row / element"),
    "outcome": ("Kết quả", "Outcome"),
    "rule_id": ("Mã quy tắc", "Rule"),
    "severity": ("Mức độ", "Severity"),
    "field": ("Trường", "Field"),
    "reason": ("Lý do (kỹ thuật)", "Reason (technical)"),
    "rule_vi": ("Quy tắc", "Rule (Vietnamese)"),
    "description_vi": ("Mô tả", "Description (Vietnamese)"),
    "fix_vi": ("Cần sửa", "What to correct (Vietnamese)"),
    "rule_en": ("Quy tắc (tiếng Anh)", "Rule"),
    "description_en": ("Mô tả (tiếng Anh)", "Description"),
    "fix_en": ("Cần sửa (tiếng Anh)", "What to correct"),
}
OUTCOMES = {
    "quarantined": "không nạp / not loaded",
    "flagged": "đã nạp, có cảnh báo / loaded with a warning",
    "file_rejected": "tệp bị từ chối / file rejected",
    "held": "cả lô bị giữ lại / whole batch held back",
    "noted": "tệp đã nạp, có ghi chú / file loaded, with a note",
}
_HELD = {
    "rule_vi": "Lô bị giữ lại", "rule_en": "Batch held back",
    "description_vi": "Quá nhiều bản ghi của đêm này bị cách ly nên cả lô không được nạp, kể cả các bản ghi đúng. "
                      "Thường do định dạng tệp thay đổi (ví dụ định dạng ngày).",
    "description_en": "Too many of the night's records were quarantined, so the whole batch was held back, valid records "
                      "included. Usually a format change in the export (for example the date format).",
    "fix_vi": "Sửa định dạng xuất dữ liệu theo các lỗi bên dưới rồi gửi lại toàn bộ tệp của đêm này.",
    "fix_en": "Fix the export format following the errors listed, then send the whole night's file again.",
}
FEEDBACK_README = """THƯ MỤC HẠN CHẾ / RESTRICTED FOLDER

Mỗi thư mục con <mã cơ sở>/<đêm>/ chứa phản hồi cho đúng một cơ sở: danh sách bản ghi bị cách ly,
bị cảnh báo, tệp bị từ chối hoặc tệp đã nạp có ghi chú, kèm mã hồ sơ của chính cơ sở đó.
Chỉ gửi thư mục cho cơ sở tương ứng.

Each <facility>/<night>/ folder is feedback for exactly one facility: its quarantined and flagged
records, rejected files and files loaded with a note, listed by the facility's own record codes,
file names and positions.
No record values are included, but the codes identify documents: hand each folder only to its own
facility (SFTP, portal), never publish it.
"""


def feedback_root(settings: Settings) -> Path:
    """``$S06_DATA_ROOT/feedback`` (restricted)."""
    return settings.data_root / "feedback"


def _texts(dataset: str, rule_id: str) -> dict[str, str]:
    t = describe(dataset, rule_id)
    return {"rule_vi": t.title_vi, "description_vi": t.description_vi, "fix_vi": t.fix_vi,
            "rule_en": t.title_en, "description_en": t.description_en, "fix_en": t.fix_en}


def collect(engine: Any, night: dt.date, datasets: list[str], timezone: str) -> dict[str, list[dict[str, Any]]]:
    """Feedback lines per facility for one night (every dataset in ``datasets``)."""
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with engine.connect() as conn:
        for ds in datasets:
            night_rows = night_batches(conn, ds, night, timezone)
            noted = _noted_files(conn, [b["batch_id"] for b in night_rows])
            batches = [b for b in night_rows if b["quarantined"] or b["flagged"] or b["files_rejected"]
                       or b["status"] == "held" or b["batch_id"] in noted]
            for b in batches:
                code = b["facility_code"]
                for file_name, note in noted.get(b["batch_id"], []):
                    lines[code].append({"dataset": ds, "record_reference": "", "source_file": file_name,
                                        "position": "", "outcome": OUTCOMES["noted"], "rule_id": "NOTE",
                                        "severity": "info", "field": "", "reason": note, **_texts(ds, "NOTE")})
                if b["status"] == "held":
                    lines[code].append({"dataset": ds, "record_reference": "", "source_file": "", "position": "",
                                        "outcome": OUTCOMES["held"], "rule_id": "HELD", "severity": "error",
                                        "field": "", "reason": b["reason"] or "", **_HELD})
                rejected = {r.file_name: r.reason for r in conn.execute(
                    sa.select(ingested_files.c.file_name, ingested_files.c.reason)
                    .where(ingested_files.c.batch_id == b["batch_id"], ingested_files.c.status == "rejected"))}
                for table, outcome in ((quarantine, "quarantined"), (dq_warnings, "flagged")):
                    q = (sa.select(table.c.record_key, table.c.source_file, table.c.source_ref, table.c.rule_id,
                                   table.c.severity, table.c.column_name, table.c.reason)
                         .where(table.c.batch_id == b["batch_id"]).order_by(table.c.id))
                    for key, source_file, ref, rule, severity, column, reason in conn.execute(q):
                        is_file = rule == "FILE"
                        lines[code].append({
                            "dataset": ds, "record_reference": key or "", "source_file": source_file or "",
                            "position": ref or "", "outcome": OUTCOMES["file_rejected" if is_file else outcome],
                            "rule_id": rule, "severity": severity, "field": column or "",
                            "reason": (rejected.get(source_file) or reason) if is_file else reason,
                            **_texts(ds, rule),
                        })
    return lines


def _noted_files(conn: Any, batch_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per batch: (file, note) of each file that loaded with a note (columns the layout did not
    read, columns a SQL source lacks). Notes name columns and counts, never values."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for i in range(0, len(batch_ids), staging.IN_BATCH):
        q = (sa.select(ingested_files.c.batch_id, ingested_files.c.file_name, ingested_files.c.reason)
             .where(ingested_files.c.batch_id.in_(batch_ids[i:i + staging.IN_BATCH]),
                    ingested_files.c.status == "processed", ingested_files.c.reason.is_not(None))
             .order_by(ingested_files.c.batch_id, ingested_files.c.file_name))
        for batch_id, file_name, reason in conn.execute(q):
            out[batch_id].append((file_name, reason))
    return out


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([f"{vi} / {en}" for vi, en in COLUMNS.values()])
    for r in rows:
        writer.writerow([r.get(k, "") for k in COLUMNS])
    return buf.getvalue().encode("utf-8-sig")


def _xlsx_bytes(rows: list[dict[str, Any]], facility: str, name: str, night: dt.date) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "Phan hoi - Feedback"
    ws.append([f"{vi} / {en}" for vi, en in COLUMNS.values()])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE7F5")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r in rows:
        ws.append([str(r.get(k, "")) for k in COLUMNS])
    widths = {"dataset": 18, "record_reference": 22, "source_file": 36, "position": 14, "outcome": 24,
              "rule_id": 8, "severity": 9, "field": 22, "reason": 40}
    for i, key in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = widths.get(key, 48)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    guide = wb.create_sheet("Huong dan - Guide")
    for line in [f"Cơ sở / Facility: {facility} {name}", f"Đêm / Night: {night.isoformat()}", "", *FEEDBACK_README.splitlines()]:
        guide.append([line])
    guide.column_dimensions["A"].width = 110
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_feedback(night: dt.date, settings: Settings | None = None, engine: Any = None) -> list[Path]:
    """Write the night's feedback folders (replacing the night's earlier ones); returns the files.

    A facility's file holds every dataset's lines for the night, so it is always rebuilt from all
    of them (rebuilding it from one dataset, after a one-dataset re-run, deleted the others' lines).
    """
    from config.registry import load_registry

    settings = settings or load_settings()
    datasets = available_datasets()
    engine = engine or staging.make_engine(settings.staging_url)
    names = {f.code: f.name for f in load_registry(settings.facilities_file)}
    root = feedback_root(settings)
    _private_dir(root)
    readme = root / "RESTRICTED.txt"
    if not readme.exists():
        _write_private(readme, FEEDBACK_README.encode("utf-8"))
    for old in root.glob(f"*/{night.isoformat()}"):
        shutil.rmtree(old)
    written: list[Path] = []
    for facility, rows in sorted(collect(engine, night, datasets, settings.timezone).items()):
        folder = root / facility / night.isoformat()
        _private_dir(folder.parent)
        _private_dir(folder)
        stem = f"feedback_{facility}_{night.isoformat()}"
        _write_private(folder / f"{stem}.csv", _csv_bytes(rows))
        _write_private(folder / f"{stem}.xlsx", _xlsx_bytes(rows, facility, names.get(facility, ""), night))
        written += [folder / f"{stem}.csv", folder / f"{stem}.xlsx"]
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--night", type=dt.date.fromisoformat, required=True, help="local night")
    args = p.parse_args(argv)
    settings = load_settings()
    files = write_feedback(args.night, settings)
    print(f"{len(files)} feedback file(s) under {feedback_root(settings)} (restricted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

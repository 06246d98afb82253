"""The drop folder is not trusted: no link is followed, nothing outside the drop root is read, odd
entries are refused with a reason (and recorded by the batch runner), FIFOs are never opened, file
names with control characters are stored escaped. Plus bad files and bad values through the real
batch runner on SQLite and PostgreSQL: the bad one is rejected/quarantined, the others load."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from config.contracts import load_contract
from extractors.file_drop import Refused, discover, land_files, open_drop_file, safe_name
from loaders import staging
from loaders.schema import batch_ledger, ingested_files, quarantine

CONTRACT = load_contract("birth_certificates")
NIGHT = dt.date(2026, 11, 21)
SECRET = "OUTSIDE-SECRET-4411"


@pytest.fixture
def drop(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "drop"
    folder = root / "01929" / "birth_certificates" / NIGHT.isoformat()
    folder.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd.csv").write_text(f"ma_gcs\n{SECRET}\n")
    return root, folder, outside


def _refused(found) -> dict[str, str]:
    return {e.name.rsplit("/", 1)[-1]: e.refused for e in found.refused}


def test_odd_entries_are_refused_with_reasons_and_never_read(drop, tmp_path, monkeypatch):
    root, folder, outside = drop
    (folder / "good.csv").write_text("ma_gcs\n1\n")
    (folder / "link.csv").symlink_to(outside / "passwd.csv")
    (folder / "dirlink").symlink_to(outside)
    (folder / ".hidden.csv").write_text("ma_gcs\n2\n")
    (folder / "sub").mkdir()
    os.mkfifo(folder / "pipe.csv")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    monkeypatch.chdir(folder)  # AF_UNIX paths are short: bind relative to the folder
    sock.bind("sock.csv")
    os.link(outside / "passwd.csv", folder / "hardlink.csv")
    (folder / "new\nline.csv").write_text("ma_gcs\n3\n")
    (folder / os.fsdecode(b"bad\xffname.csv")).write_text("ma_gcs\n4\n")
    try:
        found = discover(root, "01929", "birth_certificates", NIGHT)
    finally:
        sock.close()
    assert [p.name for p in found.files] == ["good.csv", "hardlink.csv"]  # hard links are caught when opened
    refused = _refused(found)
    assert refused == {
        ".hidden.csv": "hidden file (name starts with a dot)",
        "bad\\xffname.csv": "file name is not valid UTF-8 (not landed; name stored escaped)",
        "dirlink": "symbolic link (not followed)",
        "link.csv": "symbolic link (not followed)",
        "new\\x0aline.csv": "file name contains control characters (not landed; name stored escaped)",
        "pipe.csv": "FIFO / named pipe (not opened)",
        "sock.csv": "socket (not opened)",
        "sub": "sub-directory (not descended into)",
    }
    raw = tmp_path / "raw"
    landed = land_files(found.files, root, raw, CONTRACT, refused=found.refused)
    by_name = {lf.name.rsplit("/", 1)[-1]: lf for lf in landed}
    assert by_name["good.csv"].refused is None and (raw / "good.csv").read_text() == "ma_gcs\n1\n"
    assert by_name["hardlink.csv"].refused.startswith("file has other hard links")
    assert sorted(p.name for p in raw.iterdir()) == ["good.csv", "manifest.json"]
    manifest_text = (raw / "manifest.json").read_text()
    assert SECRET not in manifest_text and "\n" not in json.loads(manifest_text)["refused"][0]["name"]
    manifest = json.loads(manifest_text)
    assert [f["name"] for f in manifest["files"]] == ["01929/birth_certificates/2026-11-21/good.csv"]
    assert {r["name"].rsplit("/", 1)[-1] for r in manifest["refused"]} == set(refused) | {"hardlink.csv"}


def test_night_folder_that_is_a_link_is_refused_not_followed(drop):
    root, folder, outside = drop
    folder.rmdir()
    folder.symlink_to(outside)
    found = discover(root, "01929", "birth_certificates", NIGHT)
    assert found.files == []
    assert [(e.name, e.refused) for e in found.refused] == [
        ("01929/birth_certificates/2026-11-21", "drop folder is a symbolic link or not a directory (not followed)")]


def test_facility_folder_that_is_a_link_is_refused(drop, tmp_path):
    root, _folder, _outside = drop
    elsewhere = tmp_path / "elsewhere" / "birth_certificates" / NIGHT.isoformat()
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.csv").write_text("ma_gcs\n1\n")
    (root / "02000").symlink_to(tmp_path / "elsewhere")
    found = discover(root, "02000", "birth_certificates", NIGHT)
    assert found.files == [] and found.refused[0].refused.startswith("drop folder is a symbolic link")


def test_dotdot_is_never_a_path_component(drop):
    root, _folder, _outside = drop
    with pytest.raises(Refused, match="not a plain name"):
        open_drop_file(root, Path("..") / "outside" / "passwd.csv")


def test_file_swapped_for_a_link_after_discovery_is_refused_when_opened(drop, tmp_path):
    """TOCTOU: discovery saw a regular file; by the time it is copied it is a link to a secret."""
    root, folder, outside = drop
    (folder / "a.csv").write_text("ma_gcs\n1\n")
    found = discover(root, "01929", "birth_certificates", NIGHT)
    (folder / "a.csv").unlink()
    (folder / "a.csv").symlink_to(outside / "passwd.csv")
    landed = land_files(found.files, root, tmp_path / "raw", CONTRACT)
    assert [lf.refused for lf in landed] == ["symbolic link (not followed)"]
    assert not (tmp_path / "raw" / "a.csv").exists()


def test_file_swapped_for_a_fifo_after_discovery_never_blocks(drop, tmp_path):
    root, folder, _outside = drop
    (folder / "a.csv").write_text("ma_gcs\n1\n")
    found = discover(root, "01929", "birth_certificates", NIGHT)
    (folder / "a.csv").unlink()
    os.mkfifo(folder / "a.csv")
    result: list = []
    worker = threading.Thread(target=lambda: result.append(land_files(found.files, root, tmp_path / "raw", CONTRACT)),
                              daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "landing blocked on a FIFO"
    assert [lf.refused for lf in result[0]] == ["FIFO / named pipe (not opened)"]


def test_oversized_file_is_refused_before_copying(drop, tmp_path, monkeypatch):
    root, folder, _outside = drop
    monkeypatch.setenv("S06_MAX_FILE_BYTES", "10")
    (folder / "a.csv").write_text("ma_gcs\n" + "1\n" * 20)
    found = discover(root, "01929", "birth_certificates", NIGHT)
    (lf,) = land_files(found.files, root, tmp_path / "raw", CONTRACT)
    assert lf.refused == "file is 47 bytes, over the limit of 10 (S06_MAX_FILE_BYTES)" and lf.size == 47


def test_safe_name_escapes_controls_and_backslashes():
    assert safe_name("a\nb\tc\\d\x7fe\u0085") == "a\\x0ab\\x09c\\\\d\\x7fe\\x85"
    assert safe_name("Giấy chứng sinh.xml") == "Giấy chứng sinh.xml"


# ------------------------------------------------------------------ through the batch runner

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(params=["sqlite", "postgresql"])
def batch_env(request, tmp_path, monkeypatch):
    """A one-facility CSV registry (the bench facility 31011) and a staging engine per dialect."""
    from bench.bench_pipeline import DATASETS, registry_yaml

    ds = DATASETS["birth_certificates"]
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    (tmp_path / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = staging.make_engine(url)
    yield tmp_path, ds, engine
    engine.dispose()


def _write_good(folder: Path, name: str, rows: int, seed: int) -> Path:
    import sample_data.generator as gen

    path = folder / name
    gen.write_births_csv(path, rows, seed=seed, facility_code="31011")
    return path


def _run(ds, engine):
    from bench.bench_pipeline import NIGHT as BENCH_NIGHT
    from pipeline.batch import run_batch

    start = dt.datetime(BENCH_NIGHT.year, BENCH_NIGHT.month, BENCH_NIGHT.day, tzinfo=TZ)
    return run_batch(ds.dataset, ds.facility, start, start + dt.timedelta(days=1), engine=engine)


def _folder(root: Path, ds) -> Path:
    from bench.bench_pipeline import NIGHT as BENCH_NIGHT

    folder = root / "drop" / ds.facility / ds.dataset / BENCH_NIGHT.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_nul_in_one_value_quarantines_that_row_on_both_dialects(batch_env):
    root, ds, engine = batch_env
    folder = _folder(root, ds)
    path = _write_good(folder, "a.csv", 6, seed=3)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    cells = lines[2].rstrip("\r\n").split(",")
    col = header.index("ho_ten_me")
    cells[col] = cells[col][:3] + "\x00" + cells[col][3:]
    lines[2] = ",".join(cells) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    summary = _run(ds, engine)
    assert summary["status"] == "loaded"
    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (6, 5, 1)
    with engine.connect() as conn:
        q = conn.execute(sa.select(quarantine.c.rule_id, quarantine.c.reason, quarantine.c.source_ref)).all()
    assert [(r.rule_id, r.source_ref) for r in q] == [("ENVELOPE", "row 2")]
    assert q[0].reason == "value of column 'ho_ten_me' contains a control character (U+0000-U+001F other than tab, CR, LF)"


def test_refused_entries_and_bad_files_are_recorded_and_the_good_file_loads(batch_env, tmp_path):
    root, ds, engine = batch_env
    folder = _folder(root, ds)
    _write_good(folder, "good.csv", 5, seed=4)
    (folder / "dup_header.csv").write_text("ma_gcs,ma_gcs\n1,2\n", encoding="utf-8")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "zeros.csv").write_bytes(b"\x00" * 100_000)
    (folder / "link.csv").symlink_to(tmp_path / "facilities.yaml")
    os.mkfifo(folder / "pipe.csv")
    (folder / "evil\nname.csv").write_text("ma_gcs\n1\n", encoding="utf-8")
    summary = _run(ds, engine)
    assert summary["status"] == "partial"
    assert (summary["received"], summary["loaded"], summary["files_rejected"]) == (5, 5, 6)
    with engine.connect() as conn:
        files = {r.file_name.rsplit("/", 1)[-1]: (r.status, r.reason)
                 for r in conn.execute(sa.select(ingested_files)).all()}
        ledger = conn.execute(sa.select(batch_ledger.c.received, batch_ledger.c.loaded, batch_ledger.c.quarantined,
                                        batch_ledger.c.superseded, batch_ledger.c.held)).one()
        file_findings = conn.execute(sa.select(sa.func.count()).select_from(quarantine)
                                     .where(quarantine.c.rule_id == "FILE")).scalar()
    assert files == {
        "good.csv": ("processed", None),
        "dup_header.csv": ("rejected", "CSV header repeats a column name (columns 1 and 2)"),
        "empty.csv": ("rejected", "empty file"),
        "zeros.csv": ("rejected", "binary content, not a text file (65536 of the first 65536 bytes are NUL or "
                                  "other control bytes)"),
        "link.csv": ("rejected", "symbolic link (not followed)"),
        "pipe.csv": ("rejected", "FIFO / named pipe (not opened)"),
        "evil\\x0aname.csv": ("rejected", "file name contains control characters (not landed; name stored escaped)"),
    }
    assert file_findings == 6
    assert ledger.received == ledger.loaded + ledger.quarantined + ledger.superseded + ledger.held
    assert sorted(p.name for p in (root / "raw" / ds.dataset / ds.facility).rglob("*") if p.is_file()) == [
        "dup_header.csv", "empty.csv", "good.csv", "manifest.json", "zeros.csv"]

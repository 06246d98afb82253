"""The batch runner on small hand-made drops: file atomicity, duplicate files, the gate, isolation."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from config.settings import load_settings
from loaders import staging
from loaders.schema import batch_ledger, dataset_tables, dq_warnings, ingested_files, quarantine
from pipeline.batch import run_batch
from pipeline.errors import BatchFailed, BatchHeldBack

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NIGHT = dt.date(2026, 11, 21)
REGISTRY = """facilities:
  - {code: "01929", name: A, province_code: "01", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
  - {code: "79034", name: B, province_code: "79", source_kind: file_drop, datasets: {birth_certificates: {format: pl02}}}
"""


def _child(i: int, facility: str = "01929") -> str:
    return (
        f"<DU_LIEU_GIAY_CHUNG_SINH><MA_LK>LK{i}</MA_LK><SO>{i:05d}.GCS.{facility}.26</SO>"
        f"<HO_TEN_NND>Lê Thị Hoa</HO_TEN_NND><NGAYSINH_NND>19950315</NGAYSINH_NND><MA_DANTOC_NND>01</MA_DANTOC_NND>"
        f"<SO_CCCD_NND>001195{i:06d}</SO_CCCD_NND><MATINH_CU_TRU>01</MATINH_CU_TRU><MAXA_CU_TRU>00070</MAXA_CU_TRU>"
        f"<GIOI_TINH_CON>1</GIOI_TINH_CON><SO_CON>1</SO_CON><LAN_SINH>1</LAN_SINH><SO_CON_SONG>1</SO_CON_SONG>"
        f"<CAN_NANG_CON>3200</CAN_NANG_CON><NGAY_SINH_CON>202611200830</NGAY_SINH_CON><NGAY_CT>20261121</NGAY_CT>"
        f"</DU_LIEU_GIAY_CHUNG_SINH>"
    )


def _xml9(children: list[str], envelope: str = "01929") -> str:
    hoso = "".join(
        "<HOSO><FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>"
        + base64.b64encode(f"<CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH><DSACH_GIAYCHUNGSINH>{c}</DSACH_GIAYCHUNGSINH></CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH>".encode()).decode()
        + "</NOIDUNGFILE></FILEHOSO></HOSO>"
        for c in children
    )
    return (f"<GIAMDINHHS><THONGTINDONVI><MACSKCB>{envelope}</MACSKCB></THONGTINDONVI><THONGTINHOSO><DANHSACHHOSO>"
            f"{hoso}</DANHSACHHOSO></THONGTINHOSO></GIAMDINHHS>")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    (tmp_path / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    return tmp_path


def _drop(root: Path, facility: str, night: dt.date, name: str, text: str) -> Path:
    folder = root / "drop" / facility / "birth_certificates" / night.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(facility: str = "01929", night: dt.date = NIGHT):
    start = dt.datetime(night.year, night.month, night.day, tzinfo=TZ)
    return run_batch("birth_certificates", facility, start, start + dt.timedelta(days=1))


def _count(table) -> int:
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_large_file_failing_half_way_loses_its_early_chunks(env, monkeypatch):
    monkeypatch.setenv("S06_SMALL_FILE_BYTES", "0")  # stream every file
    monkeypatch.setenv("S06_CHUNK_ROWS", "2")  # several chunks before the cut
    _drop(env, "01929", NIGHT, "a_good.xml", _xml9([_child(1)]))
    _drop(env, "01929", NIGHT, "b_cut.xml", _xml9([_child(i) for i in range(2, 9)])[:-300])
    summary = _run()
    assert summary["status"] == "partial"
    assert (summary["received"], summary["loaded"]) == (1, 1)
    current, _ = dataset_tables("birth_certificates")
    assert _count(current) == 1  # nothing from the cut file, although 6 of its rows parsed


def test_same_file_next_night_is_skipped(env):
    text = _xml9([_child(1)])
    _drop(env, "01929", NIGHT, "a.xml", text)
    _run()
    _drop(env, "01929", NIGHT + dt.timedelta(days=1), "a-again.xml", text)
    summary = _run(night=NIGHT + dt.timedelta(days=1))
    assert summary["files_skipped"] == 1 and summary["received"] == 0
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(ingested_files.c.file_name, ingested_files.c.status)).all())
    assert statuses["01929/birth_certificates/2026-11-22/a-again.xml"] == "skipped_duplicate"


def test_threshold_is_configurable(env, monkeypatch):
    bad = _child(2).replace("<GIOI_TINH_CON>1</GIOI_TINH_CON>", "<GIOI_TINH_CON>9</GIOI_TINH_CON>")
    _drop(env, "01929", NIGHT, "a.xml", _xml9([_child(1), bad]))
    monkeypatch.setenv("S06_QUARANTINE_THRESHOLD", "0.4")
    with pytest.raises(BatchHeldBack, match="50% exceeds threshold 40%"):
        _run()
    current, _ = dataset_tables("birth_certificates")
    assert _count(current) == 0
    monkeypatch.setenv("S06_QUARANTINE_THRESHOLD", "0.6")
    assert _run()["loaded"] == 1  # the same batch, re-run after the threshold was raised


def test_an_envelope_naming_another_facility_is_flagged_or_quarantined_as_the_registry_says(env, monkeypatch):
    """MACSKCB of an XML9 envelope names the facility whose system made the file. When it is not
    the sender, its records are flagged (SENDER, a warning: the default) naming both codes, or
    "(not a facility code)" for anything else; envelope_check: error quarantines them instead,
    envelope_codes accepts a code (in any case), and an empty MACSKCB or the sender's code with
    spaces around it is not a finding."""
    monkeypatch.setenv("S06_QUARANTINE_THRESHOLD", "1.0")
    _drop(env, "01929", NIGHT, "a.xml", _xml9([_child(1)], envelope="79034"))
    _drop(env, "01929", NIGHT, "b.xml", _xml9([_child(2)], envelope=" Bệnh viện &amp; 123 "))
    _drop(env, "01929", NIGHT, "c.xml", _xml9([_child(3)], envelope=" 01929 "))
    _drop(env, "01929", NIGHT, "d.xml", _xml9([_child(4)], envelope=""))
    _drop(env, "01929", NIGHT, "e.xml", _xml9([_child(5)], envelope="01a2b\n"))  # codes are upper case
    engine = staging.make_engine(load_settings().staging_url)
    reasons = ["the envelope (MACSKCB) names facility (not a facility code), not 01929, which sent the file",
               "the envelope (MACSKCB) names facility 01A2B, not 01929, which sent the file",
               "the envelope (MACSKCB) names facility 79034, not 01929, which sent the file"]

    def run(entry: str) -> tuple[tuple[int, int, int, int], list, list]:
        (env / "facilities.yaml").write_text(REGISTRY.replace("{format: xml9}", entry), encoding="utf-8")
        summary = _run()
        with engine.connect() as conn:
            held = sorted(conn.execute(sa.select(quarantine.c.rule_id, quarantine.c.reason)).all())
            flagged = sorted(conn.execute(sa.select(dq_warnings.c.rule_id, dq_warnings.c.reason)
                                          .where(dq_warnings.c.rule_id == "SENDER")).all())
        counts = (summary["received"], summary["loaded"], summary["quarantined"], summary["flagged"])
        return counts, held, flagged

    assert run("{format: xml9}") == ((5, 5, 0, 3), [], [("SENDER", r) for r in reasons])
    assert run("{format: xml9, envelope_check: error}") == ((5, 2, 3, 0), [("SENDER", r) for r in reasons], [])
    assert run('{format: xml9, envelope_check: error, envelope_codes: ["79034", "01A2B"]}') == \
        ((5, 4, 1, 0), [("SENDER", reasons[0])], [])
    assert run("{format: xml9, envelope_check: off}") == ((5, 5, 0, 0), [], [])  # YAML's `off` is false


@pytest.mark.parametrize(("entry", "message"), [
    ("{format: xml9, envelope_codes: [79034]}", "envelope_codes' must be a list of facility codes"),
    ("{format: xml9, envelope_check: strict}", "envelope_check' must be warn, error or off"),
])
def test_envelope_options_are_checked(entry, message):
    from config.registry import RegistryError, parse_registry

    with pytest.raises(RegistryError, match=message):
        parse_registry(yaml.safe_load(REGISTRY.replace("{format: xml9}", entry)))


def test_unknown_facility_is_a_clear_failure(env):
    with pytest.raises(BatchFailed, match="facility 99999 is not in the registry"):
        _run("99999")


def test_process_shard_isolates_facilities(env):
    from pipeline.tasks import process_shard

    _drop(env, "01929", NIGHT, "a.xml", _xml9([_child(1)]))
    start = dt.datetime(2026, 11, 21, tzinfo=TZ)
    with pytest.raises(BatchFailed, match="99999"):
        process_shard("birth_certificates", ["99999", "01929"], start, start + dt.timedelta(days=1))
    rows = {r["facility_code"]: r["status"] for r in staging.ledger_rows(staging.make_engine(load_settings().staging_url))}
    assert rows == {"01929": "loaded"}  # the facility after the failing one was still processed


def test_no_files_is_an_empty_batch(env):
    summary = _run("79034")
    assert summary["status"] == "empty" and summary["received"] == 0
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(batch_ledger.c.status)).scalar() == "empty"
    shutil.rmtree(env / "raw", ignore_errors=True)


def test_a_late_arriving_record_rewrites_only_its_own_month(env):
    """A certificate of March 2025 delivered in November 2026 lands, and publishing touches only
    the March 2025 partition: the November file is not rewritten."""
    from pipeline.tasks import publish_curated

    _drop(env, "01929", NIGHT, "a.xml", _xml9([_child(i) for i in range(1, 4)]))
    assert _run()["partitions"] == ["2026-11"]
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    publish_curated("birth_certificates", start)
    november = env / "curated" / "birth_certificates" / "birth_year=2026" / "birth_month=11" / f"part-{NIGHT}.parquet"
    stamp = november.stat().st_mtime_ns

    late_night = NIGHT + dt.timedelta(days=1)
    late = _child(9).replace("202611200830", "202503100830").replace("<NGAY_CT>20261121</NGAY_CT>", "<NGAY_CT>20250311</NGAY_CT>")
    late = late.replace("00009.GCS.01929.26", "00009.GCS.01929.25")
    _drop(env, "01929", late_night, "late.xml", _xml9([late]))
    summary = _run(night=late_night)
    assert (summary["loaded"], summary["partitions"]) == (1, ["2025-03"])
    written = publish_curated("birth_certificates", start + dt.timedelta(days=1))["files"]
    assert [Path(p).parent.name for p in written] == ["birth_month=03"]
    assert november.stat().st_mtime_ns == stamp


def test_a_misshapen_record_in_a_streamed_csv_is_quarantined_alone(env, monkeypatch):
    """A CSV over one read block streams; a record with an unquoted comma half-way through is a row
    error like in a small file: the batch loads every other row, quarantines that one with its
    real row and line, and reconciles. (It rejected the whole file before.)"""
    import csv

    import extractors.formats as formats
    from bench.bench_pipeline import DATASETS, registry_yaml
    from bench.bench_pipeline import NIGHT as BENCH_NIGHT

    ds = DATASETS["birth_certificates"]
    (env / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
    folder = env / "drop" / ds.facility / ds.dataset / BENCH_NIGHT.isoformat()
    folder.mkdir(parents=True)
    path = folder / ds.file_name
    ds.write(path, 300)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = len(next(csv.reader([lines[0]])))
    lines[150] = lines[150].rstrip("\n") + ",stray\n"  # data row 150 gains a field
    path.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 4096)
    assert path.stat().st_size > 10 * formats.CSV_BLOCK_BYTES
    start = dt.datetime(BENCH_NIGHT.year, BENCH_NIGHT.month, BENCH_NIGHT.day, tzinfo=TZ)
    summary = run_batch(ds.dataset, ds.facility, start, start + dt.timedelta(days=1))
    assert (summary["status"], summary["received"], summary["loaded"], summary["quarantined"]) == ("loaded", 300, 299, 1)
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT rule_id, source_ref, reason FROM quarantine")).all()
    assert [tuple(r) for r in found] == [
        ("ENVELOPE", "row 150", f"row 150 (line 151) has {fields + 1} fields where the header has {fields} "
                                "(an unquoted delimiter or quote?)")]


def _streamed_bench_csv(env: Path, monkeypatch, rows: int, long_value_at: int | None = None):
    """The bench's birth CSV (one facility), streamed by the shard in small reader blocks and chunks."""
    import extractors.formats as formats
    from bench.bench_pipeline import DATASETS, registry_yaml
    from bench.bench_pipeline import NIGHT as BENCH_NIGHT

    ds = DATASETS["birth_certificates"]
    (env / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
    folder = env / "drop" / ds.facility / ds.dataset / BENCH_NIGHT.isoformat()
    folder.mkdir(parents=True)
    path = folder / ds.file_name
    ds.write(path, rows)
    if long_value_at is not None:  # one record longer than a reader block: the file is refused there
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[long_value_at] = lines[long_value_at].rstrip("\n") + ',"' + "x" * 10_000 + '"\n'
        path.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setenv("S06_SMALL_FILE_BYTES", "0")  # stream it
    monkeypatch.setenv("S06_CHUNK_ROWS", "40")  # many chunks, several conformed before the end
    start = dt.datetime(BENCH_NIGHT.year, BENCH_NIGHT.month, BENCH_NIGHT.day, tzinfo=TZ)
    return ds, start


def _spy_read_ahead(monkeypatch) -> list[int]:
    """Count the read-aheads the shard starts (the real one runs)."""
    import pipeline.shard as shard_mod

    started: list[int] = []
    real = shard_mod.prefetched

    def spy(chunks, depth=2, name="prefetch"):
        started.append(depth)
        return real(chunks, depth, name)

    monkeypatch.setattr(shard_mod, "prefetched", spy)
    return started


def _prefetch_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "read-ahead"]


def test_a_streamed_csv_is_read_ahead_and_loads_every_row(env, monkeypatch):
    ds, start = _streamed_bench_csv(env, monkeypatch, 300)
    started = _spy_read_ahead(monkeypatch)
    summary = run_batch(ds.dataset, ds.facility, start, start + dt.timedelta(days=1))
    assert started == [2]
    assert (summary["status"], summary["received"], summary["loaded"]) == ("loaded", 300, 300)
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        refs = conn.execute(sa.text("SELECT source_ref FROM birth_certificates")).scalars().all()
    assert sorted(refs, key=lambda r: int(r.split()[1])) == [f"row {i}" for i in range(1, 301)]
    assert not _prefetch_threads()


def test_a_streamed_csv_refused_half_way_loses_its_early_chunks_and_its_reader(env, monkeypatch):
    """The reader thread's refusal reaches the shard at the chunk where it happened: the rows already
    conformed from that file are dropped, as when the file is read in the shard's own thread."""
    ds, start = _streamed_bench_csv(env, monkeypatch, 300, long_value_at=250)
    started = _spy_read_ahead(monkeypatch)
    summary = run_batch(ds.dataset, ds.facility, start, start + dt.timedelta(days=1))
    assert started == [2]
    assert (summary["received"], summary["loaded"]) == (0, 0)
    current, _ = dataset_tables("birth_certificates")
    assert _count(current) == 0
    engine = staging.make_engine(load_settings().staging_url)
    with engine.connect() as conn:
        status, reason = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)).one()
    assert status == "rejected" and "longer than" in reason
    assert not _prefetch_threads()

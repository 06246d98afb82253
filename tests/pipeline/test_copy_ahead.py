"""Copy ahead (PostgreSQL): a large first load copied into staging while its file is judged.

Every outcome must be exactly the ordinary load's: the same current rows, versions, change feed
and ledger, whether the copy is used, given up (a repeated key, a held-back batch) or never
started (the table already holds rows); a file refused half way leaves nothing and no open
transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loaders import staging
from loaders.copy_ahead import CopyAhead
from pipeline.batch import run_batch
from pipeline.errors import BatchHeldBack

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROWS = 240


@pytest.fixture
def used(monkeypatch) -> list[str]:
    """Batch ids whose load finished a copy ahead (the real method runs)."""
    seen: list[str] = []
    real = CopyAhead.complete

    def spy(self, conn):
        seen.append(self.batch_id)
        return real(self, conn)

    monkeypatch.setattr(CopyAhead, "complete", spy)
    return seen


def _night(root: Path, monkeypatch, url: str, night: dt.date, *, ahead: bool, edit: bool = False,
           long_value_at: int | None = None, rows: int = ROWS, seed: int | None = None, bad_every: int = 0):
    """The bench's birth CSV for ``night`` (one facility), streamed in small chunks; returns the summary."""
    import extractors.formats as formats
    from bench.bench_pipeline import DATASETS, registry_yaml

    ds = DATASETS["birth_certificates"]
    root.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("S06_DATA_ROOT", str(root))
    monkeypatch.setenv("S06_STAGING_URL", url)
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    (root / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(root / "facilities.yaml"))
    folder = root / "drop" / ds.facility / ds.dataset / night.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ds.file_name
    ds.write(path, rows, seed)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if edit:  # the file's 10th record re-issued at its end: a key repeated in the batch
        header, again = next(csv.reader([lines[0]])), next(csv.reader([lines[10]]))
        again[header.index("ghi_chu")] = "cấp lại"
        again[header.index("cap_lan_dau")] = "0"
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(again)
        lines.append(out.getvalue())
    if bad_every:  # every n-th record's birth time does not parse (quarantined under its rule)
        header = next(csv.reader([lines[0]]))
        at = header.index("ngay_gio_sinh")
        for i in range(1, len(lines), bad_every):
            record = next(csv.reader([lines[i]]))
            record[at] = "không rõ"
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(record)
            lines[i] = out.getvalue()
    if long_value_at is not None:  # a record longer than a reader block: the file is refused there
        lines[long_value_at] = lines[long_value_at].rstrip("\n") + ',"' + "x" * 10_000 + '"\n'
    path.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setenv("S06_SMALL_FILE_BYTES", "0")  # streamed
    monkeypatch.setenv("S06_CHUNK_ROWS", "40")  # several chunks copied while later ones are judged
    monkeypatch.setenv("S06_COPY_AHEAD_BYTES", "1" if ahead else "off")
    start = dt.datetime(night.year, night.month, night.day, tzinfo=TZ)
    return run_batch(ds.dataset, ds.facility, start, start + dt.timedelta(days=1))


def _state(url: str) -> dict[str, list[tuple]]:
    """What a load leaves in staging, in a stable order."""
    engine = staging.make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "current": [tuple(r) for r in conn.exec_driver_sql(
                    "SELECT * FROM birth_certificates ORDER BY certificate_code").all()],
                "versions": [tuple(r) for r in conn.exec_driver_sql(
                    "SELECT certificate_code, version_key, record_hash FROM birth_certificates_versions "
                    "ORDER BY 1, 2").all()],
                "feed": [tuple(r) for r in conn.exec_driver_sql(
                    "SELECT natural_key, operation, version_key, record_hash, batch_id FROM change_feed "
                    "ORDER BY seq").all()],
                "ledger": [tuple(r) for r in conn.exec_driver_sql(
                    "SELECT batch_id, status, received, loaded, inserted, updated, superseded, quarantined, held "
                    "FROM batch_ledger ORDER BY batch_id").all()],
                "quarantine": [tuple(r) for r in conn.exec_driver_sql(
                    "SELECT batch_id, source_ref, rule_id FROM quarantine ORDER BY 1, 2, 3").all()],
            }
    finally:
        engine.dispose()


def _open_transactions(url: str) -> int:
    engine = staging.make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' OR (datname = current_database() AND query LIKE 'COPY%%' "
                "AND pid <> pg_backend_pid())").scalar())
    finally:
        engine.dispose()


NIGHT = dt.date(2026, 11, 21)


def test_a_large_first_load_copied_ahead_leaves_what_the_ordinary_load_leaves(tmp_path, monkeypatch, pg_url,
                                                                              pg_server, used):
    ordinary_url = pg_server.create_database("t_copy_ahead_ordinary")
    plain = _night(tmp_path / "plain", monkeypatch, ordinary_url, NIGHT, ahead=False)
    assert used == []
    copied = _night(tmp_path / "ahead", monkeypatch, pg_url, NIGHT, ahead=True)
    assert len(used) == 1  # the copy was really used
    assert (copied["status"], copied["received"], copied["loaded"]) == ("loaded", ROWS, plain["loaded"])
    assert plain["loaded"] > ROWS * 0.9
    assert _state(pg_url) == _state(ordinary_url)
    assert _open_transactions(pg_url) == 0


def test_a_key_repeated_in_the_file_gives_the_copy_up_and_loads_as_usual(tmp_path, monkeypatch, pg_url, pg_server,
                                                                        used):
    ordinary_url = pg_server.create_database("t_copy_ahead_repeat_ordinary")
    plain = _night(tmp_path / "plain", monkeypatch, ordinary_url, NIGHT, ahead=False, edit=True)
    copied = _night(tmp_path / "ahead", monkeypatch, pg_url, NIGHT, ahead=True, edit=True)
    assert used == []  # the primary key refused the second version: the copy was rolled back
    state = _state(pg_url)
    assert state == _state(ordinary_url)
    assert len(state["versions"]) == 1  # the earlier version of the repeated key is history
    assert copied["received"] == ROWS + 1 and copied["loaded"] == plain["loaded"]
    assert _open_transactions(pg_url) == 0


def test_a_held_back_batch_leaves_nothing_of_its_copy(tmp_path, monkeypatch, pg_url, used):
    monkeypatch.setenv("S06_QUARANTINE_THRESHOLD", "0.4")
    with pytest.raises(BatchHeldBack, match="50% exceeds threshold 40%"):
        _night(tmp_path, monkeypatch, pg_url, NIGHT, ahead=True, bad_every=2)
    assert used == []
    state = _state(pg_url)
    assert state["current"] == [] and state["feed"] == []
    assert [row[1] for row in state["ledger"]] == ["held"]
    assert state["quarantine"]  # the findings are recorded, as for any held batch
    assert _open_transactions(pg_url) == 0


def test_a_file_refused_half_way_leaves_nothing_of_its_copy(tmp_path, monkeypatch, pg_url, used):
    summary = _night(tmp_path, monkeypatch, pg_url, NIGHT, ahead=True, long_value_at=200)
    assert (summary["received"], summary["loaded"]) == (0, 0)
    assert used == []
    state = _state(pg_url)
    assert state["current"] == [] and state["feed"] == []
    assert _open_transactions(pg_url) == 0


def test_only_an_empty_table_is_copied_ahead(tmp_path, monkeypatch, pg_url, used):
    _night(tmp_path, monkeypatch, pg_url, NIGHT, ahead=True)
    assert len(used) == 1
    second = _night(tmp_path, monkeypatch, pg_url, NIGHT + dt.timedelta(days=1), ahead=True, seed=99)
    assert len(used) == 1  # the table held the first night: the ordinary load decides
    assert second["status"] == "loaded" and second["loaded"] > 0
    assert _open_transactions(pg_url) == 0


def test_a_busy_dataset_lock_means_no_copy_ahead(tmp_path, monkeypatch, pg_url):
    """Another load of the dataset holds its lock: copying ahead is not waited for, and gives way."""
    import loaders.copy_ahead as copy_ahead
    from config.contracts import load_contract
    from loaders import locks

    monkeypatch.setattr(copy_ahead, "LOCK_WAIT_S", 0.2)
    engine = staging.make_engine(pg_url)
    try:
        staging.ensure_schema(engine, ["birth_certificates"])
        contract = load_contract("birth_certificates")
        with engine.connect() as other, other.begin():
            locks.hold(other, locks.dataset("birth_certificates"))
            assert CopyAhead.begin(engine, contract, "b1") is None
        first = CopyAhead.begin(engine, contract, "b1")  # free again
        assert first is not None
        try:
            assert CopyAhead.begin(engine, contract, "b2") is None  # the first one holds it now
        finally:
            first.abandon()
        again = CopyAhead.begin(engine, contract, "b3")  # abandoning released it
        assert again is not None
        again.abandon()
    finally:
        engine.dispose()

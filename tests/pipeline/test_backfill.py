"""The backfill command over a range of nights, for every dataset: history lands once, and
running the same range again changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from config.contracts import available_datasets
from config.registry import load_registry
from config.settings import REPO_ROOT, load_settings
from loaders import staging
from loaders.schema import batch_ledger, change_feed, dataset_tables

pytestmark = pytest.mark.integration
START = dt.date(2026, 11, 21)


def _state(engine):
    out = {}
    with engine.connect() as conn:
        for ds in available_datasets():
            for t in dataset_tables(ds):
                out[t.name] = sorted(map(repr, conn.execute(sa.select(t)).all()))
        out["feed"] = sorted(map(repr, conn.execute(sa.select(change_feed.c.natural_key, change_feed.c.version_key)).all()))
    return out


def test_backfill_twice_loads_history_once(tmp_path, monkeypatch, capsys):
    from cli.backfill import main
    from sample_data.generator import generate
    from sample_data.sources import sample_sources

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    generate(tmp_path, START, 3, per_night=10)
    settings = load_settings()
    with sample_sources(tmp_path, load_registry(REPO_ROOT / "sample_data" / "facilities.yaml")):
        first = main(["--from", "2026-11-21", "--to", "2026-11-23"])
        engine = staging.make_engine(settings.staging_url)
        before = _state(engine)
        with engine.connect() as conn:
            ledger_before = {r["batch_id"]: dict(r) for r in conn.execute(sa.select(batch_ledger)).mappings()}
        second = main(["--from", "2026-11-21", "--to", "2026-11-23"])
    # The sample nights carry a held batch and truncated files: the command says so (exit 1).
    assert first == second == 1
    out = capsys.readouterr().out
    assert "needs attention: birth_certificates 2026-11-23" in out and "held" in out
    assert _state(engine) == before
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(batch_ledger)).mappings().all()
    assert {r["dataset"] for r in ledger} == set(available_datasets())
    assert all(r["attempts"] == 2 for r in ledger)
    # Nothing changed, so every batch was recognised as unchanged and skipped: its recorded outcome
    # (counts, status, reason) stands; only the attempt was counted.
    volatile = {"attempts", "started_at", "finished_at", "timings"}
    assert {r["batch_id"]: {k: v for k, v in r.items() if k not in volatile} for r in ledger} == {
        b: {k: v for k, v in r.items() if k not in volatile} for b, r in ledger_before.items()}
    current_rows = sum(len(before[ds]) for ds in available_datasets())
    assert current_rows > 100, "the range's history was loaded"


def test_a_staging_store_that_goes_away_mid_load_is_exit_2_not_a_list_of_failures(tmp_path, monkeypatch, capsys):
    """A real PostgreSQL server is stopped (immediate) as the load takes the change-feed lock, the
    step before it appends to the feed (a COPY, which passes no SQLAlchemy event). The
    facility's ledger row cannot be written; before, the run printed per-step failures that did not
    say the store was gone (exit 1), or with a full disk nothing and exit 0. Now: one ``error:``
    line naming the store, exit 2."""
    import sample_data.generator as gen
    from cli.backfill import main
    from tests.pg_server import start_server

    server = start_server()
    stopped: list[bool] = []

    def stop_at_feed(conn, cursor, statement, parameters, context, executemany):
        if not stopped and "FOR UPDATE" in statement and "change-feed" in str(parameters):
            stopped.append(True)
            server.stop()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", stop_at_feed)
    try:
        monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
        monkeypatch.setenv("S06_STAGING_URL", server.create_database("gone"))
        monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
        (tmp_path / "facilities.yaml").write_text(
            'facilities:\n  - {code: "31011", name: B, province_code: "31", source_kind: file_drop, '
            "datasets: {birth_certificates: {format: csv}}}\n", encoding="utf-8")
        gen.write_births_csv(tmp_path / "drop" / "31011" / "birth_certificates" / START.isoformat() / "b.csv", 5,
                             seed=3, facility_code="31011", end=dt.date(2026, 11, 20))
        code = main(["--dataset", "birth_certificates", "--from", "2026-11-21", "--to", "2026-11-21"])
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", stop_at_feed)
        if not stopped:
            server.stop()
    out = capsys.readouterr()
    err = out.err
    assert stopped, f"the load never reached the change feed: {out.out[-800:]} {err[-800:]}"
    assert code == 2
    assert "error: staging store" in err and "is unreachable" in err

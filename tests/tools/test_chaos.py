"""The chaos tool (tools/chaos.py): its comparison sees what a kill could break, and a small run
per dialect - SIGKILL at random kill points of the backfill, re-run, compare with a clean run -
ends equal to the clean run. ``make chaos N=30`` runs the large version (figures in
docs/chaos.md); ``make test`` runs one kill per dialect, at a kill point drawn anew each day."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from config.contracts import load_contract
from loaders import staging
from loaders.curated import publish_partitions
from tests.loaders.test_staging import rec, rows
from tools import chaos, chaos_child

KEY = b"k" * 32


def test_the_comparison_sees_a_lost_feed_row_a_changed_row_and_a_lost_curated_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'staging.db'}"
    engine = staging.make_engine(url)
    staging.ensure_schema(engine, ["birth_certificates"])
    contract = load_contract("birth_certificates")
    with engine.begin() as conn:
        staging.load_rows(conn, contract, [rows(rec("A", "1", 3000), rec("B", "1", 3100), rec("C", "1", 3200))])
    publish_partitions(engine, contract, {(2026, 11)}, tmp_path / "curated", KEY)
    reference = chaos.snapshot(tmp_path, url)
    assert chaos.compare(reference, chaos.snapshot(tmp_path, url)) == []
    assert reference["curated files"] == ["birth_certificates/birth_year=2026/birth_month=11/part-0000-00-00.parquet"]

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM change_feed WHERE natural_key = 'B'"))
        conn.execute(sa.text("UPDATE birth_certificates SET birth_weight_g = 3001 WHERE certificate_code = 'A'"))
    path = tmp_path / "curated" / reference["curated files"][0]
    pq.write_table(pq.read_table(path).slice(0, 2), path)
    diff = chaos.compare(reference, chaos.snapshot(tmp_path, url))
    assert "change feed: 1 missing, 0 extra of 3" in diff
    assert "staging birth_certificates: 1 missing, 1 extra of 3" in diff
    assert "curated birth_certificates/birth_year=2026/birth_month=11: 1 missing, 0 extra of 3" in diff
    assert not any("3001" in d or "'A'" in d for d in diff), "differences name no value"
    engine.dispose()


def test_kill_points_are_validated():
    assert chaos_child.parse_kill("sql:12") == ("sql", 12)
    assert chaos_child.parse_kill(None) is None
    for bad in ("sql", "sql:0", "fsync:3", "commit:x"):
        with pytest.raises(SystemExit, match="S06_CHAOS_KILL"):
            chaos_child.parse_kill(bad)


@pytest.mark.integration
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_killed_nights_rerun_to_the_clean_runs_state(dialect, tmp_path):
    """A SIGKILL at a random kill point of a night's backfill (births: file drops and the SQL
    facility; drivers: the REST API facilities), followed by a re-run. One kill per dialect keeps
    the default suite short; ``make chaos`` runs many (``N``, default 10 per dialect)."""
    out = tmp_path / "chaos.json"
    code = chaos.main(["--runs", "1", "--dialect", dialect, "--nights", "1", "--per-night", "8", "--seed",
                       str(dt.date.today().toordinal()), "--dataset", "birth_certificates",
                       "--dataset", "driver_health_checks", "--work", str(tmp_path / "work"), "--json", str(out)])
    report = json.loads(out.read_text())
    assert code == 0, report["results"]
    assert report["summary"]["runs"] == 1 and report["summary"]["matched"] == 1
    assert report["summary"]["killed"] == 1, "every drawn kill point is passed by the run"
    [facts] = report["facts"]
    # one load transaction per shard (not per facility): a commit point per dataset at least
    assert facts["reference_exit"] in (0, 1) and facts["points"]["sql"] > 50 and facts["points"]["commit"] >= 2
    assert facts["reference_rows"]["change feed"] > 0 and facts["reference_rows"]["curated files"] > 0


def test_a_store_a_kill_left_without_tables_is_a_difference_not_a_crash(tmp_path):
    good = f"sqlite:///{tmp_path / 'good.db'}"
    engine = staging.make_engine(good)
    staging.ensure_schema(engine, ["birth_certificates"])
    engine.dispose()
    broken = tmp_path / "broken"
    broken.mkdir()
    bad = staging.make_engine(f"sqlite:///{broken / 'staging.db'}")
    with bad.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE batch_ledger (batch_id TEXT)")
    bad.dispose()
    diff = chaos.compare(chaos.snapshot(tmp_path, good), chaos.snapshot(broken, f"sqlite:///{broken / 'staging.db'}"))
    assert "change feed: unreadable (OperationalError) (clean run: readable)" in diff

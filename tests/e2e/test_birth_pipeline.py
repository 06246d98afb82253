"""End to end: the ``birth_certificates`` DAG over the generated sample nights with ``dag.test()``,
checked against the generator's ground truth, then the same interval again (idempotency)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import subprocess
import sys
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from config.settings import load_settings
from loaders import staging
from loaders.schema import batch_ledger, change_feed, dataset_tables, dq_warnings, ingested_files, quarantine

pytestmark = pytest.mark.integration

START = dt.date(2026, 11, 21)
NIGHTS = [START + dt.timedelta(days=i) for i in range(3)]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DATASET = "birth_certificates"


def _ensure_airflow_db() -> None:
    """``make test`` migrates the metadata DB; a bare ``pytest`` run gets it here."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)


def run_night(night: dt.date):
    from pipeline.dag_factory import build_dag

    after = dt.datetime(night.year, night.month, night.day, tzinfo=TZ) + dt.timedelta(days=1)
    return build_dag(DATASET).test(logical_date=after)


@pytest.fixture(scope="module")
def pipeline_run():
    from sample_data.generator import generate

    settings = load_settings()
    _ensure_airflow_db()
    generate(settings.data_root, START, len(NIGHTS))
    runs = {night: run_night(night) for night in NIGHTS}
    engine = staging.make_engine(settings.staging_url)
    with (settings.data_root / "ground_truth.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    return settings, engine, runs, truth


def _select(engine, table):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def _task_states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


def test_ledger_counts_match_ground_truth(pipeline_run):
    _settings, engine, _runs, truth = pipeline_run
    expected: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in truth:
        expected[(row["facility_code"], row["night"])][row["expected_action"]] += 1
    ledger = {(r["facility_code"], r["batch_id"].rsplit("/", 1)[1]): r for r in _select(engine, batch_ledger)}
    assert set(ledger) == set(expected)
    for key, exp in expected.items():
        row = ledger[key]
        assert staging.reconcile(row) is None, key
        assert row["received"] == sum(exp.values()) - exp["reject_file"], key
        assert row["quarantined"] == exp["quarantine"], key
        assert row["superseded"] == exp["supersede"], key
        assert row["files_rejected"] == (1 if exp["reject_file"] else 0), key
        valid = exp["load"] + exp["flag"]
        if row["status"] == "held":
            assert (row["loaded"], row["held"]) == (0, valid), key
        else:
            assert row["status"] == ("partial" if exp["reject_file"] else "loaded"), key
            assert (row["loaded"], row["held"], row["flagged"]) == (valid, 0, exp["flag"]), key


def test_every_defect_caught_with_its_rule_and_no_clean_row_quarantined(pipeline_run):
    _settings, engine, _runs, truth = pipeline_run
    q = defaultdict(set)
    for r in _select(engine, quarantine):
        q[(r["source_file"], r["source_ref"])].add(r["rule_id"])
    held = {r["batch_id"] for r in _select(engine, batch_ledger) if r["status"] == "held"}
    w = defaultdict(set)
    for r in _select(engine, dq_warnings):
        w[(r["source_file"], r["source_ref"])].add(r["rule_id"])
    for row in truth:
        ref = (row["source_file"], row["source_ref"])
        action, rule = row["expected_action"], row["expected_rule"]
        if action == "quarantine":
            assert rule in q[ref], (row["defect"], ref, q[ref])
        elif action == "reject_file":
            assert "FILE" in q[(row["source_file"], None)], ref
        else:
            assert not q[ref], (row["defect"], ref, q[ref])
        batch = f"{DATASET}/{row['facility_code']}/{row['night']}"
        if action == "flag" and batch not in held:  # a held batch loads nothing, so flags nothing
            assert rule in w[ref], (row["defect"], ref, w[ref])
        if action == "load" and not row["defect"]:
            assert not w[ref], (ref, w[ref])


def test_rejected_files_recorded(pipeline_run):
    _settings, engine, _runs, truth = pipeline_run
    rejected = {r["file_name"] for r in _select(engine, ingested_files) if r["status"] == "rejected"}
    assert rejected == {row["source_file"] for row in truth if row["expected_action"] == "reject_file"}


def test_held_batch_fails_its_task_and_the_run_but_not_the_others(pipeline_run):
    _settings, engine, runs, _truth = pipeline_run
    held = [r for r in _select(engine, batch_ledger) if r["status"] == "held"]
    assert [(r["facility_code"], r["batch_id"][-10:]) for r in held] == [("31011", NIGHTS[-1].isoformat())]
    assert "exceeds threshold" in held[0]["reason"]
    last = _task_states(runs[NIGHTS[-1]])
    failed = [k for k, v in last.items() if v == "failed"]
    assert ("reconcile", -1) in failed
    assert sum(1 for (t, _i) in failed if t == "process_facilities") == 1
    assert last[("publish_curated", -1)] == "success"
    # Night 1 is clean; night 2 has a truncated file (partial batch) and night 3 a held batch:
    # both runs end failed so operators see them, with every other facility's data loaded.
    assert [str(runs[n].state) for n in NIGHTS] == ["success", "failed", "failed"]
    partial = [r for r in _select(engine, batch_ledger) if r["status"] == "partial"]
    assert all("rejected" in r["reason"] and "not well-formed" in r["reason"] for r in partial) and partial


def test_curated_parquet_schema_types_and_no_direct_identifiers(pipeline_run):
    settings, engine, _runs, _truth = pipeline_run
    from config.contracts import load_contract
    from loaders.curated import curated_schema

    files = sorted((settings.curated_root / DATASET).glob("birth_year=*/birth_month=*/data.parquet"))
    assert files, "no curated partitions written"
    expected_schema = curated_schema(load_contract(DATASET))
    current, _ = dataset_tables(DATASET)
    staged = _select(engine, current)
    secrets = set()
    for r in staged:
        for col in ("certificate_code", "mother_full_name", "mother_id_number", "mother_social_insurance_no",
                    "mother_health_card_no", "father_full_name", "child_name", "residence_address"):
            if r[col]:
                secrets.add(str(r[col]))
    citizens = (settings.reference_root / "citizen_registry.csv").read_text(encoding="utf-8").splitlines()[1:]
    secrets |= {line.split(",")[0] for line in citizens}
    total = 0
    for path in files:
        table = pq.read_table(path, partitioning=None)
        assert table.schema.equals(expected_schema, check_metadata=False), path
        total += table.num_rows
        for name in table.column_names:
            if pa.types.is_string(table.schema.field(name).type):
                leaked = secrets & set(table.column(name).drop_null().to_pylist())
                assert not leaked, f"direct identifier in curated column {name}"
        raw_bytes = path.read_bytes()
        assert not any(s.encode() in raw_bytes for s in list(secrets)[:500] if len(s) >= 10)
    assert total == len(staged)
    assert "mother_id_number_pseudonym" in expected_schema.names
    assert expected_schema.field("birth_datetime").type == pa.timestamp("ms")
    assert expected_schema.field("birth_weight_g").type == pa.int32()


def _snapshot(settings, engine):
    current, versions = dataset_tables(DATASET)
    tables = {}
    for t in (current, versions, quarantine, dq_warnings, change_feed):
        tables[t.name] = sorted(repr(sorted((k, v) for k, v in r.items() if k != "id")) for r in _select(engine, t))
    parquet = {str(p.relative_to(settings.curated_root)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(settings.curated_root.rglob("*.parquet"))}
    return tables, parquet


def test_rerunning_the_same_intervals_changes_nothing(pipeline_run):
    settings, engine, _runs, _truth = pipeline_run
    before = _snapshot(settings, engine)
    counted = ("status", "received", "loaded", "quarantined", "superseded", "held", "flagged", "files_rejected")
    ledger_before = {r["batch_id"]: {k: r[k] for k in counted} for r in _select(engine, batch_ledger)}
    for night in NIGHTS:
        run_night(night)
    after = _snapshot(settings, engine)
    # Re-running an old night after later nights re-issued some of its certificates reports
    # exactly what its first run reported.
    assert {r["batch_id"]: {k: r[k] for k in counted} for r in _select(engine, batch_ledger)} == ledger_before
    assert after[1] == before[1], "curated Parquet bytes changed on re-run"
    for name in before[0]:
        assert after[0][name] == before[0][name], f"{name} changed on re-run"
    ledger = _select(engine, batch_ledger)
    assert all(r["attempts"] >= 2 for r in ledger)
    assert all(r["inserted"] == 0 and r["updated"] == 0 for r in ledger if r["status"] in ("loaded", "partial"))

"""End to end, every dataset: the four nightly DAGs over the generated sample nights with
``dag.test()`` (file drops, the sample REST API server on a real socket, the sample SQLite facility
database), checked against the generator's ground truth per dataset, then every interval again
(idempotency). The birth-specific checks (held batch, curated types) live in test_birth_pipeline.py
and share this module's run.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from config.contracts import available_datasets, load_contract
from loaders.curated import curated_schema
from loaders.schema import batch_ledger, change_feed, dataset_tables, dq_warnings, quarantine
from tests.e2e.conftest import NIGHTS, run_night, select

pytestmark = pytest.mark.integration


def _truth(settings, dataset: str) -> list[dict[str, str]]:
    with (settings.data_root / "ground_truth" / f"{dataset}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _is_remote(row: dict[str, str]) -> bool:
    return row["source_file"].startswith(("api/", "sql/"))


def _findings_index(rows: list[dict]) -> tuple[dict, dict]:
    """Findings by (file, ref) for file drops and by (source prefix, record key) for API/SQL rows."""
    by_ref: dict[tuple, set[str]] = defaultdict(set)
    by_key: dict[tuple, set[str]] = defaultdict(set)
    for r in rows:
        by_ref[(r["source_file"], r["source_ref"])].add(r["rule_id"])
        if r["source_file"] and r["source_file"].startswith(("api/", "sql/")):
            prefix = r["source_file"].rsplit("/", 1)[0]
            by_key[(prefix, r["record_key"])].add(r["rule_id"])
            by_ref[(prefix, r["source_ref"])].add(r["rule_id"])
    return by_ref, by_key


def _lookup(row: dict[str, str], by_ref: dict, by_key: dict) -> set[str]:
    if not _is_remote(row):
        return by_ref[(row["source_file"], row["source_ref"])]
    if row["source_ref"]:
        return by_ref[(row["source_file"], row["source_ref"])]
    return by_key[(row["source_file"], row["record_key"])]


@pytest.mark.parametrize("dataset", available_datasets())
def test_ledger_counts_match_ground_truth(all_datasets_run, dataset):
    from loaders import staging

    settings, engine, _runs = all_datasets_run
    truth = _truth(settings, dataset)
    expected: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in truth:
        expected[(row["facility_code"], row["night"])][row["expected_action"]] += 1
    ledger = {(r["facility_code"], r["batch_id"].rsplit("/", 1)[1]): r
              for r in select(engine, batch_ledger) if r["dataset"] == dataset}
    assert set(expected) <= set(ledger)
    for key, row in ledger.items():
        exp = expected.get(key, Counter())
        assert staging.reconcile(row) is None, key
        assert row["received"] == sum(exp.values()) - exp["reject_file"], (key, row["status"], row["reason"])
        assert row["quarantined"] == exp["quarantine"], key
        assert row["superseded"] == exp["supersede"], key
        valid = exp["load"] + exp["flag"]
        if row["status"] != "held":
            assert (row["loaded"], row["held"], row["flagged"]) == (valid, 0, exp["flag"]), key


@pytest.mark.parametrize("dataset", available_datasets())
def test_every_defect_caught_with_its_rule_and_no_clean_row_touched(all_datasets_run, dataset):
    settings, engine, _runs = all_datasets_run
    truth = _truth(settings, dataset)
    q_ref, q_key = _findings_index([r for r in select(engine, quarantine) if r["dataset"] == dataset])
    w_ref, w_key = _findings_index([r for r in select(engine, dq_warnings) if r["dataset"] == dataset])
    held = {r["batch_id"] for r in select(engine, batch_ledger) if r["status"] == "held"}
    for row in truth:
        action, rule = row["expected_action"], row["expected_rule"]
        q = _lookup(row, q_ref, q_key)
        w = _lookup(row, w_ref, w_key)
        if action == "quarantine":
            assert rule in q, (row["defect"], row["source_file"], row["source_ref"], q)
        elif action == "reject_file":
            assert "FILE" in q_ref[(row["source_file"], None)], row["source_file"]
        else:
            assert not q, (row["defect"], row["source_file"], row["source_ref"], q)
        batch = f"{dataset}/{row['facility_code']}/{row['night']}"
        if action == "flag" and batch not in held:
            assert rule in w, (row["defect"], row["source_file"], row["source_ref"], w)
        if action == "load" and not row["defect"]:
            assert not w, (row["source_file"], row["source_ref"], w)


@pytest.mark.parametrize("dataset", available_datasets())
def test_curated_parquet_matches_staging_and_carries_no_direct_identifier(all_datasets_run, dataset):
    settings, engine, _runs = all_datasets_run
    contract = load_contract(dataset)
    ycol, mcol = contract.partition_by
    files = sorted((settings.curated_root / dataset).glob(f"{ycol}=*/{mcol}=*/part-*.parquet"))
    assert files, "no curated partitions written"
    expected = curated_schema(contract)
    current, _ = dataset_tables(dataset)
    staged = select(engine, current)
    direct = [n for n, c in contract.columns.items() if c.pii == "direct" or (c.curated in ("pseudonymize", "drop")
              and c.type in ("id", "code", "name"))]
    secrets = {str(r[c]) for r in staged for c in direct if r[c] and len(str(r[c])) >= 6}
    citizens = (settings.reference_root / "citizen_registry.csv").read_text(encoding="utf-8").splitlines()[1:]
    secrets |= {line.split(",")[0] for line in citizens}
    total = 0
    for path in files:
        table = pq.read_table(path, partitioning=None)
        assert table.schema.equals(expected, check_metadata=False), path
        total += table.num_rows
        for name in table.column_names:
            if pa.types.is_string(table.schema.field(name).type):
                leaked = secrets & set(table.column(name).drop_null().to_pylist())
                assert not leaked, f"direct identifier in curated column {name}"
    # tombstones (a withdrawn record: record_status 'cancelled') stay in staging, not in curated Parquet
    assert total == sum(1 for r in staged if r.get("record_status") != "cancelled")


def test_remote_sources_were_really_used(all_datasets_run):
    """REST and SQL facilities went through their extractors (pages / chunks in the raw zone)."""
    settings, engine, _runs = all_datasets_run
    kinds = Counter(r["source_kind"] for r in select(engine, batch_ledger))
    assert kinds["rest_api"] and kinds["sql"] and kinds["file_drop"], kinds
    pages = list(Path(settings.raw_root).rglob("page-*.json"))
    chunks = list(Path(settings.raw_root).rglob("chunk-*.jsonl"))
    assert pages and chunks
    marks = [r["high_water_mark"] for r in select(engine, batch_ledger) if r["source_kind"] == "sql"]
    assert any(marks), "the SQL extractor records its high-water mark in the ledger"


def _snapshot(settings, engine):
    tables = {}
    for ds in available_datasets():
        for t in dataset_tables(ds):
            tables[t.name] = sorted(repr(sorted(r.items())) for r in select(engine, t))
    for t in (quarantine, dq_warnings, change_feed):
        tables[t.name] = sorted(repr(sorted((k, v) for k, v in r.items() if k != "id")) for r in select(engine, t))
    parquet = {str(p.relative_to(settings.curated_root)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(settings.curated_root.rglob("*.parquet"))}
    return tables, parquet


#: Shard size of the forced re-run: more than any dataset's sample facilities, so each dataset's
#: facilities are judged and loaded in one shard (one validation call instead of one per facility).
ONE_SHARD = "1000"


@pytest.mark.parametrize("force", [False, True], ids=["skipping-unchanged", "forced"])
def test_rerunning_every_interval_changes_nothing(all_datasets_run, monkeypatch, force):
    """Re-running every night changes nothing: by default because each completed batch is
    recognised as unchanged and skipped, and also when forced through every stage again.

    The shards differ from the first run's (three facilities per shard): the skipping re-run uses
    the default sharding (one facility per task at this size), the forced one puts all of a
    dataset's facilities in one shard. An identical outcome also shows that a batch does not
    depend on the shard it was judged and loaded in."""
    settings, engine, _runs = all_datasets_run
    if force:
        monkeypatch.setenv("S06_FORCE_RERUN", "1")
        monkeypatch.setenv("S06_FACILITIES_PER_TASK", ONE_SHARD)
    before = _snapshot(settings, engine)
    counted = ("status", "received", "loaded", "quarantined", "superseded", "held", "flagged", "files_rejected")
    ledger_before = {r["batch_id"]: {k: r[k] for k in counted} for r in select(engine, batch_ledger)}
    for night in NIGHTS:
        for ds in available_datasets():
            run_night(ds, night)
    after = _snapshot(settings, engine)
    assert {r["batch_id"]: {k: r[k] for k in counted} for r in select(engine, batch_ledger)} == ledger_before
    assert after[1] == before[1], "curated Parquet bytes changed on re-run"
    for name in before[0]:
        gone = sorted(set(before[0][name]) - set(after[0][name]))[:3]
        new = sorted(set(after[0][name]) - set(before[0][name]))[:3]
        assert after[0][name] == before[0][name], f"{name} changed on re-run: gone {gone}, new {new}"
    ledger = select(engine, batch_ledger)
    assert all(r["attempts"] >= 2 for r in ledger)
    if force:  # every batch went through the load again: nothing new was inserted or updated
        assert all(r["inserted"] == 0 and r["updated"] == 0 for r in ledger if r["status"] in ("loaded", "partial"))

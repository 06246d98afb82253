"""End to end, birth-certificate specifics: the held batch, rejected files and curated types, on
the shared run of every dataset DAG (tests/e2e/conftest.py). Ground truth, defects, curated
privacy and idempotency are checked for every dataset in test_all_datasets.py."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loaders.schema import batch_ledger, dataset_tables, ingested_files
from tests.e2e.conftest import NIGHTS, select

pytestmark = pytest.mark.integration

DATASET = "birth_certificates"


@pytest.fixture(scope="module")
def pipeline_run(all_datasets_run):
    settings, engine, runs = all_datasets_run
    with (settings.data_root / "ground_truth" / f"{DATASET}.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    return settings, engine, {n: runs[(DATASET, n)] for n in NIGHTS}, truth


def _select(engine, table):
    return select(engine, table)


def _task_states(run) -> dict[tuple[str, int], str]:
    return run.tasks


def test_rejected_files_recorded(pipeline_run):
    _settings, engine, _runs, truth = pipeline_run
    rejected = {r["file_name"] for r in _select(engine, ingested_files)
                if r["status"] == "rejected" and r["dataset"] == DATASET}
    assert rejected == {row["source_file"] for row in truth if row["expected_action"] == "reject_file"}


def test_held_batch_fails_its_task_and_the_run_but_not_the_others(pipeline_run):
    _settings, engine, runs, _truth = pipeline_run
    held = [r for r in _select(engine, batch_ledger) if r["status"] == "held" and r["dataset"] == DATASET]
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
    partial = [r for r in _select(engine, batch_ledger) if r["status"] == "partial" and r["dataset"] == DATASET]
    assert all("rejected" in r["reason"] and "not well-formed" in r["reason"] for r in partial) and partial


def test_curated_parquet_schema_types_and_no_direct_identifiers(pipeline_run):
    settings, engine, _runs, _truth = pipeline_run
    from config.contracts import load_contract
    from loaders.curated import curated_schema

    files = sorted((settings.curated_root / DATASET).glob("birth_year=*/birth_month=*/part-*.parquet"))
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



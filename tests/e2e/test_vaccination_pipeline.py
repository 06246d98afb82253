"""End to end, vaccination specifics on the shared run of every dataset DAG (tests/e2e/conftest.py):
entered-in-error doses withdrawn through tombstones, corrected doses as new versions, the FHIR
sources really used (Bulk Data files with their Patient file, FHIR search pages with includes), the
feed consumer's acknowledgements, and no personal ID in findings. Ground truth, defects, curated
privacy and idempotency are checked for every dataset in test_all_datasets.py."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from loaders.schema import batch_ledger, change_feed, dataset_tables, dq_warnings, ingested_files, quarantine
from tests.e2e.conftest import select

pytestmark = pytest.mark.integration

DATASET = "vaccination_records"


@pytest.fixture(scope="module")
def vax(all_datasets_run):
    settings, engine, _runs = all_datasets_run
    with (settings.data_root / "ground_truth" / f"{DATASET}.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    current, versions = dataset_tables(DATASET)
    rows = {f"{r['immunization_id']}|{r['source_system']}": r for r in select(engine, current)}
    feed = [r for r in select(engine, change_feed) if r["dataset"] == DATASET]
    return settings, engine, truth, rows, select(engine, versions), feed


def test_entered_in_error_withdraws_the_dose(vax):
    settings, _engine, truth, rows, _versions, feed = vax
    withdrawn = [r["record_key"] for r in truth if r["defect"] == "entered_in_error"]
    assert len(withdrawn) == 3
    ops = {(f["natural_key"], f["operation"]) for f in feed}
    for key in withdrawn:
        assert rows[key]["record_status"] == "cancelled" and rows[key]["status"] == "entered-in-error"
        assert (key, "insert") in ops and (key, "cancel") in ops
    curated = pq.read_table(settings.curated_root / DATASET)
    assert "entered-in-error" not in set(curated.column("status").to_pylist())
    assert curated.num_rows == sum(1 for r in rows.values() if r["record_status"] == "active")


def test_a_corrected_dose_is_a_new_version_with_the_old_one_kept(vax):
    _settings, _engine, truth, rows, versions, feed = vax
    corrected = [r for r in truth if r["defect"] == "corrected_dose"]
    assert len(corrected) == 3
    old = {f"{v['immunization_id']}|{v['source_system']}": v["lot_number"] for v in versions}
    updates = {f["natural_key"] for f in feed if f["operation"] == "update"}
    for row in corrected:
        key = row["record_key"]
        assert rows[key]["lot_number"].endswith("-R") and rows[key]["record_status"] == "active"
        assert key in old and not old[key].endswith("-R")
        first_night = min(r["night"] for r in truth if r["record_key"] == key)
        if first_night < row["night"]:
            assert key in updates  # corrected on a later night: an update in the feed
        else:
            assert key not in updates  # corrected within the night: one insert of the latest version


def test_the_fhir_sources_were_really_used(vax):
    settings, engine, _truth, _rows, _versions, _feed = vax
    ledger = [r for r in select(engine, batch_ledger) if r["dataset"] == DATASET]
    rest = [r for r in ledger if r["facility_code"] == "79530"]
    assert rest and all(r["source_kind"] == "rest_api" and r["status"] == "loaded" for r in rest)
    assert all(json.loads(r["source_facts"])["protocol"] == "fhir_search" for r in rest)
    raw = settings.raw_root / DATASET / "79530"
    manifests = [json.loads(p.read_text()) for p in sorted(raw.glob("*/manifest.json"))]
    assert manifests and all(m["include"] == "Immunization:patient" and m["pages"] >= 1 for m in manifests)
    assert sum(m["references_unresolved"] for m in manifests) == 1  # the one unresolved_patient of the server
    files = [r for r in select(engine, ingested_files) if r["dataset"] == DATASET and r["facility_code"] == "01920"]
    names = Counter(r["file_name"].rsplit("/", 1)[1] for r in files if r["status"] == "processed")
    assert names == {"Immunization.ndjson": 3, "Patient.ndjson": 3}
    assert all(r["records"] == 0 for r in files if r["file_name"].endswith("Patient.ndjson"))


def test_the_feed_consumer_acknowledges_withdrawals(vax):
    settings, engine, _truth, _rows, _versions, feed = vax
    from cli.consumer import consume, load_registry_ids

    acks = consume(engine, DATASET, "e2e_vaccination", load_registry_ids(settings.reference_root / "citizen_registry.csv"))
    ops = Counter(f["operation"] for f in feed)
    assert acks["withdrawn"] == ops["cancel"] == 3
    assert acks["registered"] > 0
    # newborns dosed before birth registration cannot be matched: rejected, not lost
    assert acks.get("rejected", 0) >= 3
    assert sum(acks.get(k, 0) for k in ("registered", "withdrawn", "rejected")) == len(feed)


def test_findings_carry_no_personal_id(vax):
    settings, engine, _truth, _rows, _versions, _feed = vax
    citizens = (settings.reference_root / "citizen_registry.csv").read_text(encoding="utf-8").splitlines()[1:]
    ids = {line.split(",")[0] for line in citizens}
    for table in (quarantine, dq_warnings):
        for r in select(engine, table):
            if r["dataset"] != DATASET:
                continue
            text = " ".join(str(r[c]) for c in ("reason", "source_ref", "record_key", "column_name") if r[c])
            assert not any(i in text for i in ids), r["rule_id"]

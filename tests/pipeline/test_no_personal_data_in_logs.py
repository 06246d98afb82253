"""Nothing personal reaches logs or the task summaries (XCom), whatever the data holds."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from config.registry import load_registry
from config.settings import REPO_ROOT
from pipeline.errors import BatchFailed, BatchHeldBack
from pipeline.shard import run_shard
from pipeline.stages.load import raise_for, summary
from sample_data.sources import sample_sources

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = dt.date(2026, 11, 21)


def test_logs_and_summaries_carry_no_names_or_ids(tmp_path, monkeypatch, caplog):
    from sample_data.generator import generate

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    generate(tmp_path, START, 3, per_night=15)
    caplog.set_level(logging.DEBUG)
    summaries = []
    registry = load_registry(REPO_ROOT / "sample_data" / "facilities.yaml")
    with sample_sources(tmp_path, registry):  # REST and SQL facilities too, every dataset
        for dataset in sorted({ds for fac in registry for ds in fac.datasets}):
            codes = [fac.code for fac in registry if dataset in fac.datasets]
            for i in range(3):
                night = START + dt.timedelta(days=i)
                start = dt.datetime(night.year, night.month, night.day, tzinfo=TZ)
                # Every facility of the dataset in one shard (one validation call per dataset and
                # night); each batch's summary or failure as run_batch / the DAG task gives it.
                for batch in run_shard(dataset, codes, start, start + dt.timedelta(days=1)):
                    try:
                        raise_for(batch)
                        summaries.append(summary(batch))
                    except (BatchHeldBack, BatchFailed) as exc:
                        summaries.append({"not loaded": str(exc)})
    assert len(summaries) == 3 * sum(len(fac.datasets) for fac in registry)
    with (tmp_path / "reference" / "citizen_registry.csv").open(encoding="utf-8") as fh:
        citizens = list(csv.DictReader(fh))
    secrets = {c["personal_id"] for c in citizens} | {c["full_name"] for c in citizens}
    secrets |= {c["full_name"].upper() for c in citizens}
    text = caplog.text + repr(summaries)
    assert len(caplog.records) > 10
    leaked = [s for s in secrets if s and s in text]
    assert not leaked, f"{len(leaked)} personal values in logs/summaries"


@pytest.mark.parametrize("name", ["quarantine", "dq_warnings", "batch_ledger", "ingested_files"])
def test_bookkeeping_tables_have_no_value_columns(name):
    from loaders import schema

    table = getattr(schema, name)
    assert not {"value", "values", "unexpected_value", "raw_value"} & {c.name for c in table.columns}

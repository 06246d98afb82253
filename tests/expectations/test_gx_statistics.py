"""Validation statistics kept in the file-backed GX project: counts per expectation, never the
failing values (planted markers), named per run, cheap enough to write on every call."""

from __future__ import annotations

import json
import statistics
import time

import pytest

from expectations import runner
from expectations.testing import valid_frame

MARKER_ID = "999877766655"
MARKER_INSURANCE = "MRK7777777"


@pytest.fixture
def gx_root(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_GX_ROOT", str(tmp_path / "gx"))
    monkeypatch.delenv("S06_GX_STATISTICS", raising=False)
    runner._MADE_DIRS.clear()
    return tmp_path / "gx"


def _frame():
    df = valid_frame(12)
    df.loc[1, "mother_cccd"] = MARKER_ID  # B7: unknown province prefix
    df.loc[2, "mother_social_insurance_no"] = MARKER_INSURANCE  # B8: not 10 digits
    df.loc[3, "mother_social_insurance_no"] = MARKER_INSURANCE
    return df


def test_statistics_hold_counts_and_no_value(gx_root):
    runner.begin_validation_run("birth_certificates/01929/2026-11-21", "birth_certificates", "2026-11-21")
    _findings, summary = runner.validate_frame(_frame())
    files = sorted(gx_root.rglob("*.json"))
    assert [p.name for p in files] == ["birth_certificates_01929_2026-11-21.00001.json"]
    text = files[0].read_text(encoding="utf-8")
    assert MARKER_ID not in text and MARKER_INSURANCE not in text and "unexpected_list" not in text
    record = json.loads(text)
    assert record["rows"] == 12 and record["night"] == "2026-11-21" and record["dataset"] == "birth_certificates"
    assert record["evaluated_expectations"] == summary["expectation_count"] == len(record["expectations"])
    per_rule: dict[str, int] = {}
    for e in record["expectations"]:
        per_rule[e["rule_id"]] = per_rule.get(e["rule_id"], 0) + (e["unexpected_count"] or 0)
        assert e["element_count"] == 12
    assert per_rule == summary["per_rule"]  # the same counts the findings came from
    assert per_rule["B8"] == 2 and per_rule["B7"] >= 1
    assert not record["success"]


def test_a_new_run_of_the_label_replaces_the_earlier_files(gx_root):
    label = "birth_certificates/01929/2026-11-21"
    runner.begin_validation_run(label, "birth_certificates", "2026-11-21")
    runner.validate_frame(_frame())
    runner.validate_frame(_frame())  # a second chunk of the same batch
    assert len(list(gx_root.rglob("*.json"))) == 2
    runner.begin_validation_run(label, "birth_certificates", "2026-11-21")  # the batch re-runs
    assert list(gx_root.rglob("*.json")) == []
    runner.validate_frame(_frame())
    assert len(list(gx_root.rglob("*.json"))) == 1
    agg = runner.aggregate_statistics(runner.read_statistics("2026-11-21"))["birth_certificates"]
    assert agg["rows"] == 12 and agg["calls"] == 1


def test_switched_off(gx_root, monkeypatch):
    monkeypatch.setenv("S06_GX_STATISTICS", "off")
    runner.begin_validation_run("x/y/2026-11-21", "birth_certificates", "2026-11-21")
    runner.validate_frame(_frame())
    assert not list(gx_root.rglob("*.json"))


def test_data_docs_show_the_counts_and_no_value(gx_root):
    runner.begin_validation_run("birth_certificates/01929/2026-11-21", "birth_certificates", "2026-11-21")
    runner.validate_frame(_frame())
    index = runner.build_data_docs("2026-11-21", ["birth_certificates"])
    assert index.is_file()
    pages = list(index.parent.rglob("*.html"))
    assert any("validations" in p.parts for p in pages) and any("expectations" in p.parts for p in pages)
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert MARKER_ID not in text and MARKER_INSURANCE not in text
    assert "birth_certificates-2026-11-21" in text
    runner.build_data_docs("2026-11-21", ["birth_certificates"])  # rebuilding replaces, not adds
    results = list((gx_root / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert len(results) == 1


def test_persisting_costs_about_a_millisecond(gx_root):
    """The brief's budget: a few ms per GX call at most (measured: ~0.4 ms median)."""
    import great_expectations as gx  # noqa: F401  (imported by the runner anyway)

    suite = runner.build_suite("birth_certificates")
    frame = runner.validation_view(_frame(), runner.plan_frame(suite))
    batch = runner._batch_definition("birth_certificates").get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format=runner.RESULT_FORMAT)
    runner.begin_validation_run("bench/x/2026-11-21", "birth_certificates", "2026-11-21")
    costs = []
    for _ in range(50):
        start = time.perf_counter()
        runner._persist_statistics("birth_certificates", suite, result, row_count=12)
        costs.append(time.perf_counter() - start)
    assert statistics.median(costs) < 0.005

"""The suites compiled from the contracts' rules find exactly what the hand-written suites found.

``golden/<dataset>.json`` was recorded from the four hand-written suites (``expectations/
<dataset>.py``, deleted since) on the frames of ``parity_frames.py``: the suite's rules in order
(rule id, severity, category, reason, reported column, GX severity) and, per frame, the findings
(row, rule id, severity, category, column, reason) as a count, per-rule counts and a SHA-256 of
the whole ordered list. Before the deletion both suites ran side by side on the same frames and
agreed finding for finding.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from config.contracts import available_datasets
from expectations.compile import compiled
from expectations.runner import validate_with_suite
from tests.expectations.parity_frames import frames

GOLDEN = Path(__file__).resolve().parent / "golden"


def _rules(suite) -> list[list[str]]:
    out = []
    for e in suite.expectations:
        meta, kwargs = e.meta, e.configuration.kwargs
        column = meta.get("column") or kwargs.get("column") or kwargs.get("column_A")
        out.append([meta["rule_id"], meta["severity"], meta["category"], meta["reason"], column, str(e.severity)])
    return out


#: The datasets that had hand-written suites (a dataset added later has no golden record).
RECORDED = sorted(p.stem for p in GOLDEN.glob("*.json"))


def test_the_four_hand_written_suites_were_recorded() -> None:
    assert RECORDED == ["birth_certificates", "death_notices", "driver_health_checks", "health_workforce"]
    assert set(RECORDED) <= set(available_datasets())


@pytest.mark.parametrize("dataset", RECORDED)
def test_compiled_suite_has_the_hand_written_rules(dataset: str) -> None:
    golden = json.loads((GOLDEN / f"{dataset}.json").read_text(encoding="utf-8"))
    assert _rules(compiled(dataset).build_suite()) == golden["rules"]


@pytest.mark.parametrize("dataset", RECORDED)
def test_compiled_suite_finds_what_the_hand_written_suite_found(dataset: str) -> None:
    golden = json.loads((GOLDEN / f"{dataset}.json").read_text(encoding="utf-8"))
    ds = compiled(dataset)
    suite = ds.build_suite()
    built = frames(dataset, ds.COLUMN_KINDS)
    assert set(built) == set(golden["frames"])
    for name, frame in built.items():
        want = golden["frames"][name]
        findings, summary = validate_with_suite(frame, suite, dataset=f"parity_{dataset}")
        got = [[f.row, f.rule_id, f.severity, f.category, f.column, f.reason] for f in findings]
        assert (len(frame), len(got)) == (want["rows"], want["findings"]), name
        assert summary["per_rule"] == want["per_rule"], name
        assert hashlib.sha256(json.dumps(got, ensure_ascii=False).encode()).hexdigest() == want["sha256"], name
        # Every rule id is exercised: it fires somewhere in the fuzz frame.
        if name == "fuzz":
            assert all(n > 0 for n in summary["per_rule"].values()), summary["per_rule"]

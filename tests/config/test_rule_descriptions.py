"""Every rule id the pipeline can report has a Vietnamese and English description (report, feedback)."""

from __future__ import annotations

import pytest

from config.contracts import available_datasets, load_contract
from config.rule_descriptions import load_rule_descriptions, parse_rule_descriptions

#: Rule ids the batch runner emits itself (pipeline/batch.py, pipeline/stages/judge.py): a rejected
#: file, a broken envelope, an envelope naming another facility, and the feedback file's line for a
#: file loaded with a note (pipeline/feedback.py).
RUNNER_RULES = {"FILE", "ENVELOPE", "SENDER", "NOTE"}


def emitted_rule_ids(dataset: str) -> set[str]:
    """Suite rule ids, the contract's parse-failure rule ids (transforms/normalize.py) and the runner's."""
    from expectations.runner import build_suite

    suite = build_suite(dataset)
    ids = {str((e.meta or {}).get("rule_id")) for e in suite.expectations}
    for spec in load_contract(dataset).columns.values():
        if spec.type in ("date", "datetime", "int", "bool"):
            ids.add(spec.parse_rule or (spec.rules[0] if spec.rules else "TYPE"))
        ids |= set(spec.rules)
    return ids | RUNNER_RULES


@pytest.mark.parametrize("dataset", available_datasets())
def test_every_emitted_rule_has_a_description(dataset):
    described = load_rule_descriptions()[dataset]
    emitted = emitted_rule_ids(dataset)
    assert "UNSET" not in emitted
    missing = sorted(emitted - set(described))
    assert not missing, f"{dataset}: no description in config/rule_descriptions.yaml for {missing}"
    for rule_id in emitted:
        text = described[rule_id]
        assert text.description_vi != text.description_en  # really two languages


def test_a_missing_language_is_refused():
    raw = {"births": {"B1": {"title": {"vi": "a", "en": "b"}, "description": {"vi": "c"}, "fix": {"vi": "e", "en": "f"}}}}
    with pytest.raises(ValueError, match=r"births\.B1\.description\.en is missing"):
        parse_rule_descriptions(raw)

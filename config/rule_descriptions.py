"""Plain-language rule descriptions (``config/rule_descriptions.yaml``), Vietnamese and English.

Used by the nightly report (title, description) and the facility feedback files (plus ``fix``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

RULES_FILE = Path(__file__).resolve().parent / "rule_descriptions.yaml"
LANGUAGES = ("vi", "en")
FIELDS = ("title", "description", "fix")


@dataclass(frozen=True)
class RuleText:
    """The texts of one rule of one dataset."""

    rule_id: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    fix_vi: str
    fix_en: str


def parse_rule_descriptions(raw: Any, where: str = "rule_descriptions.yaml") -> dict[str, dict[str, RuleText]]:
    """Validate the mapping: every rule of every dataset has every field in both languages.

    Raises:
        ValueError: naming the dataset, rule and field that is missing.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: top level must be a mapping")
    out: dict[str, dict[str, RuleText]] = {}
    for dataset, rules in raw.items():
        if str(dataset).startswith("_"):
            continue  # shared anchors
        if not isinstance(rules, dict):
            raise ValueError(f"{where}: {dataset} must map rule ids to texts")
        out[str(dataset)] = {}
        for rule_id, spec in rules.items():
            texts: dict[str, str] = {}
            for f in FIELDS:
                for lang in LANGUAGES:
                    value = ((spec or {}).get(f) or {}).get(lang) if isinstance(spec, dict) else None
                    if not isinstance(value, str) or not value.strip():
                        raise ValueError(f"{where}: {dataset}.{rule_id}.{f}.{lang} is missing")
                    texts[f"{f}_{lang}"] = value.strip()
            out[str(dataset)][str(rule_id)] = RuleText(rule_id=str(rule_id), **texts)
    return out


@cache
def load_rule_descriptions(path: Path = RULES_FILE) -> dict[str, dict[str, RuleText]]:
    """``{dataset: {rule_id: RuleText}}`` (loaded once per process)."""
    with path.open(encoding="utf-8") as fh:
        return parse_rule_descriptions(yaml.safe_load(fh), where=path.name)


def describe(dataset: str, rule_id: str) -> RuleText:
    """The texts of a rule; a rule without an entry gets a neutral placeholder (never an error)."""
    found = load_rule_descriptions().get(dataset, {}).get(rule_id)
    if found is not None:
        return found
    return RuleText(rule_id, f"Quy tắc {rule_id}", f"Rule {rule_id}", "(chưa có mô tả)", "(no description yet)",
                    "Xem lý do trong cột 'reason'.", "See the reason column.")

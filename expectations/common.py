"""Pieces every dataset suite shares: the ``meta`` block, severities and option merging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.metadata_types import FailureSeverity

CATEGORIES = frozenset({"conformance", "completeness", "plausibility"})
SEVERITIES = frozenset({"error", "warning"})


def meta(rule_id: str, category: str, severity: str, reason: str, **extra: str) -> dict[str, str]:
    """The ``meta`` block every expectation carries (rule id, category, severity, fixed reason)."""
    if category not in CATEGORIES or severity not in SEVERITIES:
        raise ValueError(f"bad category/severity for rule {rule_id}: {category}/{severity}")
    return {"rule_id": rule_id, "category": category, "severity": severity, "reason": reason, **extra}


def gx_severity(severity: str) -> FailureSeverity:
    """Map our severity onto GX's own expectation ``severity`` field (shown in Data Docs)."""
    from great_expectations.expectations.metadata_types import FailureSeverity

    return {"error": FailureSeverity.CRITICAL, "warning": FailureSeverity.WARNING}[severity]


def with_gx_severity(rules: list[Expectation]) -> list[Expectation]:
    """Set each expectation's GX severity from its ``meta`` severity."""
    for expectation in rules:
        expectation.severity = gx_severity((expectation.meta or {})["severity"])
    return rules


def merge_options(dataset: str, defaults: Mapping[str, Any], options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``options``.

    Raises:
        ValueError: on an unknown key (a typo would otherwise silently keep the default).
    """
    unknown = sorted(set(options or {}) - set(defaults))
    if unknown:
        raise ValueError(f"unknown expectation options for {dataset}: {unknown}")
    return {**defaults, **(options or {})}

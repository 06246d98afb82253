"""``OperationOutcome`` as a clear, content-free reason.

A FHIR server explains a refused request with an ``OperationOutcome``: ``issue[]`` with a
``severity`` (fatal | error | warning | information) and a ``code`` from the IssueType value set
(``invalid``, ``not-supported``, ``too-costly``, ``throttled``, ``login`` ...), plus free text
(``diagnostics``, ``details.text``) that may quote the request or the data. The reason kept here
names the severities and codes only, and only codes of the published value set (anything else is
``other``), so it can go into ledgers, logs and notifications.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

#: FHIR R4 IssueType codes (http://hl7.org/fhir/issue-type).
ISSUE_TYPES = frozenset({
    "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown", "expired",
    "forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches", "not-found",
    "deleted", "too-long", "code-invalid", "extension", "too-costly", "business-rule", "conflict", "transient",
    "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled", "informational",
})
SEVERITIES = ("fatal", "error", "warning", "information")


def outcome_issues(doc: Any) -> Counter[str]:
    """``severity/code`` -> count for an OperationOutcome (empty for anything else)."""
    found: Counter[str] = Counter()
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return found
    for issue in doc.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        severity = issue.get("severity") if issue.get("severity") in SEVERITIES else "unknown"
        code = issue.get("code") if issue.get("code") in ISSUE_TYPES else "other"
        found[f"{severity}/{code}"] += 1
    return found


def outcome_summary(doc: Any) -> str:
    """``OperationOutcome error/not-supported`` (``x2`` when repeated); never free text."""
    issues = outcome_issues(doc)
    if not issues:
        return "OperationOutcome without readable issues"
    order = sorted(issues, key=lambda k: (SEVERITIES.index(k.split("/")[0]) if k.split("/")[0] in SEVERITIES else 9, k))
    return "OperationOutcome " + ", ".join(f"{k}" + (f" x{issues[k]}" if issues[k] > 1 else "") for k in order)


def has_code(doc: Any, *codes: str) -> bool:
    """Whether the outcome has an error/fatal issue with one of ``codes``."""
    return any(k.split("/")[1] in codes and k.split("/")[0] in ("fatal", "error") for k in outcome_issues(doc))

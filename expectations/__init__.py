"""Row-level data-quality rules (Great Expectations suites) for the pipeline's datasets.

Public API::

    from expectations import Finding, build_suite, validate_frame, DEFAULT_OPTIONS

    findings, summary = validate_frame(validation_frame)             # birth_certificates
    errors = {f.row for f in findings if f.severity == "error"}       # rows to quarantine

Importing this package does **not** import Great Expectations (that takes seconds and DAG files
import this package at parse time); GX is imported on the first ``build_suite`` or
``validate_frame`` call. See ``expectations/README.md`` for how to read and add a rule.
"""

from __future__ import annotations

from expectations.birth_certificates import DEFAULT_OPTIONS, REQUIRED_COLUMNS, SUITE_NAME
from expectations.runner import (
    RESULT_FORMAT,
    Finding,
    ValidationEngineError,
    build_suite,
    validate_frame,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "REQUIRED_COLUMNS",
    "RESULT_FORMAT",
    "SUITE_NAME",
    "Finding",
    "ValidationEngineError",
    "build_suite",
    "validate_frame",
]

"""Row-level data-quality rules: suites compiled from the contracts' rules, and the runner.

Public API::

    from expectations import Finding, build_suite, validate_frame

    findings, summary = validate_frame(validation_frame, "death_notices", options)
    errors = {f.row for f in findings if f.severity == "error"}       # rows to quarantine

The rules are declared in ``config/datasets/<dataset>.yaml`` (``rules``, ``options``) and
compiled by :mod:`expectations.compile`. Importing this package does **not** import Great
Expectations or pandas (DAG files import it at parse time); GX is imported on the first
``build_suite`` or ``validate_frame`` call. ``DEFAULT_OPTIONS``, ``REQUIRED_COLUMNS`` and
``SUITE_NAME`` are the birth-certificate suite's (kept for existing callers).
"""

from __future__ import annotations

from typing import Any

from expectations.lazy_modules import defer

defer()  # before anything imports GX: scipy.stats and altair load on first use (see the module)

from expectations.runner import (  # noqa: E402
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


def __getattr__(name: str) -> Any:
    """``DEFAULT_OPTIONS``, ``REQUIRED_COLUMNS``, ``SUITE_NAME`` of ``birth_certificates``, on demand."""
    if name in ("DEFAULT_OPTIONS", "REQUIRED_COLUMNS", "SUITE_NAME"):
        from expectations.compile import compiled

        return getattr(compiled("birth_certificates"), name)
    raise AttributeError(f"module 'expectations' has no attribute {name!r}")

"""Task-log hygiene: one place that quiets third-party INFO noise, and the one-line batch summary.

Every DAG task calls :func:`quiet_third_party` first. Great Expectations alone logs about 200
"Skipping registering function" INFO lines in each new process before the task's own output;
Alembic announces its migration context on every schema check. Those loggers are set to WARNING
(their warnings and errors still show). The pipeline's own loggers stay at INFO.

:func:`summary_line` renders what the batch runner returned (or what the ledger recorded for a
batch that raised) as the line an operator reads first: status, counts, top rules, reason.
Counts, codes and rule ids only: never a value from a record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

#: Third-party loggers whose INFO output is noise in task logs (set to WARNING in task processes).
NOISY_LOGGERS: tuple[str, ...] = (
    "great_expectations",
    "alembic",
    "py.warnings",
    "urllib3",
    "numexpr",
    "tzlocal",
    "fsspec",
    "asyncio",
)


#: Loggers that set their own level on import (``logger.setLevel(logging.INFO)`` in Great Expectations'
#: ``data_context/types/base.py``): a level set before that import would be undone, so they also
#: get a filter, which survives it.
SELF_LEVELLED_LOGGERS: tuple[str, ...] = ("great_expectations.data_context.types.base",)


class _BelowLevel(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


def quiet_third_party(level: int = logging.WARNING, names: Iterable[str] = NOISY_LOGGERS) -> None:
    """Raise the level of the noisy third-party loggers (idempotent, cheap)."""
    for name in names:
        logging.getLogger(name).setLevel(level)
    for name in SELF_LEVELLED_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(f, _BelowLevel) for f in logger.filters):
            logger.addFilter(_BelowLevel(level))


def top_rules(by_rule: Mapping[str, int] | None, limit: int = 3) -> str:
    """``"B2 ×28, B3 ×1"``: the most frequent quarantine rules first (ties by rule id)."""
    if not by_rule:
        return ""
    ranked = sorted(by_rule.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    text = ", ".join(f"{rule} ×{n}" for rule, n in ranked[:limit])
    if len(ranked) > limit:
        text += f", +{len(ranked) - limit} more rule(s)"
    return text


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line per facility batch: ``facility 31011 held: received 35, loaded 0, ... | B2 ×28 | reason``."""
    counts = ", ".join(f"{k} {summary[k]}" for k in ("received", "loaded", "quarantined", "superseded", "held")
                       if summary.get(k) is not None)
    parts = [f"facility {summary.get('facility_code', '?')} {summary.get('status', '?')}: {counts}"]
    rules = top_rules(summary.get("quarantined_by_rule"))
    if rules:
        parts.append(f"top rules {rules}")
    if summary.get("reason"):
        parts.append(f"reason: {summary['reason']}")
    return " | ".join(parts)

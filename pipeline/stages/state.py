"""The explicit state the stages pass along: the shard, and one :class:`Batch` per facility."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # pragma: no cover
    from config.registry import Facility
    from extractors.file_drop import LandedFile

#: Ledger statuses of a batch that completed (a re-run with the same inputs can be skipped).
FINAL_STATUSES = frozenset({"loaded", "partial", "empty", "held"})


@dataclass(frozen=True)
class BatchSpec:
    """Identity of a batch: dataset x facility x data interval."""

    dataset: str
    facility: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    timezone: str = "Asia/Ho_Chi_Minh"

    @property
    def night(self) -> dt.date:
        """The local date whose drop folder this batch reads."""
        return self.interval_start.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def batch_id(self) -> str:
        """Deterministic id, so a re-run of the interval is the same batch."""
        return f"{self.dataset}/{self.facility}/{self.night.isoformat()}"

    @property
    def cutoff(self) -> dt.datetime:
        """Local wall-clock end of the interval: no event may be later than this."""
        return self.interval_end.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)


@dataclass
class Failure:
    """Why a batch failed: the exception class to raise (retryable or not) and a safe reason."""

    kind: type[Exception]
    reason: str
    #: False for a facility that is not a batch at all (unknown code): no ledger row
    record: bool = True


@dataclass
class Batch:
    """One facility's batch inside a shard: what it received, what was found, what it became."""

    index: int
    spec: BatchSpec
    raw_dir: Path
    quarantine_dir: Path
    started: dt.datetime
    facility: Facility | None = None
    source_kind: str | None = None
    landed: list[LandedFile] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    #: ``ingested_files`` rows, one per received (or refused) file
    files: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    received: int = 0
    superseded: int = 0
    quarantined: int = 0
    flagged: int = 0
    partitions: set[tuple[int, int]] = field(default_factory=set)
    #: rows given a version position so far (ties between versions go to the later row)
    rows_seen: int = 0
    quarantine_parts: int = 0
    land_seconds: float = 0.0
    fingerprint: str | None = None
    failure: Failure | None = None
    #: the ledger row of an identical earlier run, when this run is skipped
    skipped_from: dict[str, Any] | None = None
    #: the final ledger row and the summary handed back to the task
    ledger: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    held: bool = False

    @property
    def batch_id(self) -> str:
        """The batch id (dataset/facility/night)."""
        return self.spec.batch_id

    @property
    def active(self) -> bool:
        """Still to be read, judged and loaded (not failed, not skipped)."""
        return self.failure is None and self.skipped_from is None

    def fail(self, kind: type[Exception], reason: str, record: bool = True) -> None:
        """Mark the batch failed; the first failure wins."""
        if self.failure is None:
            self.failure = Failure(kind, reason, record)

    def file_row(self, landed: LandedFile, status: str = "processed", reason: str | None = None) -> dict[str, Any]:
        """An ``ingested_files`` row for one of this batch's files."""
        return {
            "batch_id": self.batch_id, "file_name": landed.name, "dataset": self.spec.dataset,
            "facility_code": self.spec.facility, "sha256": landed.sha256, "size_bytes": landed.size,
            "format": landed.format, "encoding": landed.encoding, "status": status,
            "records": 0, "reason": reason,
        }

    def finding(self, source_file: str, ref: str | None, key: str | None, rule: str, severity: str,
                category: str, column: str | None, reason: str) -> dict[str, Any]:
        """A ``quarantine`` / ``dq_warnings`` row (rule, reason, reference; never a value)."""
        return {
            "batch_id": self.batch_id, "dataset": self.spec.dataset, "facility_code": self.spec.facility,
            "source_file": source_file, "source_ref": ref, "record_key": key, "rule_id": rule,
            "severity": severity, "category": category, "column_name": column, "reason": reason,
        }


@dataclass
class Shard:
    """The batches one task processes together, and the shard-wide costs."""

    dataset: str
    batches: list[Batch]
    work_dir: Path
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: restricted work files holding the valid rows of every batch (with ``batch_id``)
    spills: list[Path] = field(default_factory=list)
    #: positions of the batches that have rows in the work files
    spilled: set[int] = field(default_factory=set)
    #: local copies of inputs from object storage (the drop), when a zone is remote
    scratch: Path | None = None
    #: per landed file name: a note for its ``ingested_files`` row (e.g. columns ignored)
    file_notes: dict[str, str] = field(default_factory=dict)
    #: a batch's rows already copied into staging while judged (:mod:`loaders.copy_ahead`)
    copy_ahead: Any = None

    def active(self) -> list[Batch]:
        """Batches still in flight."""
        return [b for b in self.batches if b.active]

    def timed(self, stage: str, since: float) -> float:
        """Add the time since ``since`` to ``stage``; returns now (for chaining)."""
        now = time.perf_counter()
        self.timings[stage] += now - since
        return now

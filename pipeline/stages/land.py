"""Stage *land*: each facility's input into the raw zone, and what can be known before reading.

Per batch: :func:`extractors.sources.acquire` (file drop, REST API or SQL database) lands the
input with checksums; a source that cannot be reached or used fails *that* batch only. Then, for
the whole shard at once (one query each): an identical re-run of a completed batch is recognised
by its input fingerprint and skipped, files another loaded batch already processed are marked
``skipped_duplicate``, and files of no known format are rejected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from extractors.sources import SourceError, acquire
from loaders.schema import batch_ledger, ingested_files
from pipeline.errors import BatchFailed, TransportError, log_withheld
from pipeline.stages.state import FINAL_STATUSES, Batch, Shard

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from config.contracts import DatasetContract
    from config.settings import Settings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent.parent
#: Code whose change may change a batch's outcome: part of every input fingerprint.
_CODE_PATHS = ("transforms", "expectations", "pipeline/stages", "extractors/formats.py", "config/contracts.py",
               "loaders/staging.py", "config/datasets")  # integration(datasets): the rules live in the contracts
#: Bound parameters per ``IN`` query.
IN_BATCH = 2000


def land(shard: Shard, contract: DatasetContract, settings: Settings) -> None:
    """Acquire every active batch's input; a failing source fails only its own batch."""
    drop = settings.zone("drop")  # a local folder, or object storage (downloaded to shard.scratch)
    for batch in shard.active():
        t0 = time.perf_counter()
        _acquire_one(batch, contract, settings, drop, shard.scratch)
        batch.land_seconds = time.perf_counter() - t0
        shard.timed("land", t0)


def _acquire_one(batch: Batch, contract: DatasetContract, settings: Settings, drop: Any,
                 scratch: Path | None) -> None:
    spec, facility = batch.spec, batch.facility
    assert facility is not None
    batch.source_kind = facility.source_kind
    try:
        acquired = acquire(facility, spec.dataset, contract, spec.interval_start, spec.interval_end,
                           spec.night, drop, batch.raw_dir, scratch=scratch / "drop" if scratch else None)
    except OSError as exc:
        batch.fail(TransportError, f"cannot read the drop for {spec.batch_id}: {type(exc).__name__} (errno {exc.errno})")
        return
    except TransportError as exc:
        batch.fail(TransportError, f"{exc.label}: {exc}")
        return
    except SourceError as exc:
        batch.fail(BatchFailed, f"source rejected: {exc}")
        return
    except Exception as exc:
        # A library error (a malformed connection URI, a driver's message) may quote
        # credentials or data: type and frames only.
        log_withheld(log, f"extraction for {spec.batch_id}", exc)
        batch.fail(BatchFailed, f"source failed: {type(exc).__name__} (see task log frames)")
        return
    batch.landed = list(acquired.files)
    batch.facts = dict(acquired.facts)


# ---------------------------------------------------------------------------- fingerprints


@cache
def code_version() -> str:
    """A digest of the code and contracts that decide a batch's outcome (once per process)."""
    digest = hashlib.sha256()
    for rel in _CODE_PATHS:
        path = REPO / rel
        files = sorted([*path.rglob("*.py"), *path.glob("*.yaml")]) if path.is_dir() else [path]
        for f in files:
            digest.update(f.relative_to(REPO).as_posix().encode())
            digest.update(f.read_bytes())
    for f in sorted((REPO / "config" / "datasets").glob("*.yaml")):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _file_stamp(path: str | None) -> list[Any]:
    if not path:
        return [None]
    try:
        st = os.stat(path)
    except OSError:
        return [path, None]
    return [path, st.st_size, st.st_mtime_ns]


def run_context(settings: Settings, options: dict[str, Any] | None) -> str:
    """What every batch of this run shares: code, settings and reference data versions."""
    from pipeline.lookups import registry_stamp

    payload = {
        "code": code_version(),
        "options": options or {},
        "threshold": settings.quarantine_threshold,
        "chunk_rows": settings.chunk_rows,
        "small_file_bytes": settings.small_file_bytes,
        "timezone": settings.timezone,
        "citizen_registry": registry_stamp(settings.zone("reference")),
        "icd10_list": _file_stamp(os.environ.get("S06_ICD10_LIST")),
    }
    return json.dumps(payload, sort_keys=True, default=str)


def fingerprint(batch: Batch, context: str) -> str:
    """Digest of everything the batch's outcome depends on, apart from other batches' loads."""
    facility = batch.facility
    assert facility is not None
    feed = facility.datasets[batch.spec.dataset]
    payload = {
        "context": context,
        "batch": batch.batch_id,
        "interval": [batch.spec.interval_start.isoformat(), batch.spec.interval_end.isoformat()],
        "source": [facility.source_kind, feed.format, feed.encoding, feed.options, facility.options,
                   feed.rule_options],  # integration(datasets): per-facility rule options
        "files": sorted((f.name, f.sha256, f.format, f.encoding) for f in batch.landed),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def previous_runs(engine: Engine, batch_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ledger rows already recorded for these batches (one query per ``IN_BATCH`` ids)."""
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for part in _chunks(batch_ids):
            for row in conn.execute(sa.select(batch_ledger).where(batch_ledger.c.batch_id.in_(part))):
                found[row.batch_id] = dict(row._mapping)
    return found


def skip_unchanged(shard: Shard, previous: dict[str, dict[str, Any]], context: str, force: bool = False) -> int:
    """Skip the batches whose completed earlier run had exactly these inputs; returns how many.

    With ``force`` nothing is skipped (the fingerprints are still recorded).
    """
    skipped = 0
    for batch in shard.active():
        batch.fingerprint = fingerprint(batch, context)
        before = previous.get(batch.batch_id)
        if force:
            continue
        if before and before.get("status") in FINAL_STATUSES and before.get("input_fingerprint") == batch.fingerprint:
            batch.skipped_from = before
            skipped += 1
    return skipped


# ---------------------------------------------------------------------------- files


def mark_duplicates_and_unknown(shard: Shard, engine: Engine, dataset: str) -> None:
    """Files another loaded batch already processed are skipped; files of no format are rejected.

    One query for the whole shard (checksums in bounded ``IN`` lists).
    """
    batches = shard.active()
    shas = sorted({f.sha256 for b in batches for f in b.landed if f.sha256})
    loaded_by: dict[tuple[str, str], set[str]] = {}
    if shas:
        q = (
            sa.select(ingested_files.c.facility_code, ingested_files.c.sha256, ingested_files.c.batch_id)
            .join(batch_ledger, batch_ledger.c.batch_id == ingested_files.c.batch_id)
            .where(
                ingested_files.c.dataset == dataset,
                ingested_files.c.status == "processed",
                batch_ledger.c.status.in_(("loaded", "partial")),
            )
        )
        with engine.connect() as conn:
            for part in _chunks(shas):
                for fac, sha, other in conn.execute(q.where(ingested_files.c.sha256.in_(part))):
                    loaded_by.setdefault((fac, sha), set()).add(other)
    elsewhere: dict[tuple[str, str], str] = {}
    for b in batches:
        for f in b.landed:
            others = loaded_by.get((b.spec.facility, f.sha256), set()) - {b.batch_id}
            if others:
                elsewhere[(b.spec.facility, f.sha256)] = min(others)
    for b in batches:
        for f in b.landed:
            refused = getattr(f, "refused", None)
            if refused:  # a drop entry refused unread (link, FIFO, dot-file, ...)
                reject(b, f, refused)
                continue
            other = elsewhere.get((b.spec.facility, f.sha256))
            if other:
                b.files.append(b.file_row(f, "skipped_duplicate", f"same checksum already loaded by batch {other}"))
            elif f.format is None:
                reject(b, f, unknown_format_reason(f.name, dataset))


#: Spreadsheet workbooks: a facility that drops one is told to save the sheet as CSV.
WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})


def unknown_format_reason(name: str, dataset: str) -> str:
    """Why a dropped file is none of the dataset's formats, with what would be accepted (the
    suffixes, and for a suffix that fits, the XML root elements), so a facility can fix it."""
    from config.contracts import load_contract

    formats = list(load_contract(dataset).source_formats.values())
    suffix = Path(name).suffix.lower()
    accepted = ", ".join(sorted({s for f in formats for s in f.suffixes}))
    roots = sorted({f.root_tag for f in formats if f.root_tag and suffix in f.suffixes})
    if roots:
        return f"the XML root element is none of this dataset's formats ({', '.join(roots)})"
    reason = f"file is not one of this dataset's source formats (accepted: {accepted})"
    if suffix in WORKBOOK_SUFFIXES:
        reason += "; a spreadsheet workbook is not read: save the sheet as CSV (UTF-8)"
    return reason


def reject(batch: Batch, landed: Any, reason: str) -> None:
    """Reject a whole file of a batch (rule ``FILE``); the batch continues with its other files."""
    batch.files.append(batch.file_row(landed, "rejected", reason))
    batch.quarantine.append(batch.finding(landed.name, None, None, "FILE", "error", "conformance", None, reason))
    log.warning("file rejected: %s (%s)", landed.name, reason)


def files_to_read(batch: Batch) -> list[Any]:
    """The batch's landed files still to be read (not skipped, not rejected)."""
    done = {f["file_name"] for f in batch.files}
    return [f for f in batch.landed if f.format and f.name not in done]


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), IN_BATCH):
        yield values[i: i + IN_BATCH]

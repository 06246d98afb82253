"""Stage *gate/load*: decide per batch, then write every batch of the shard in one transaction.

The **gate**: a batch whose quarantined share exceeds the threshold is *held back* — its findings
are recorded, none of its rows reach staging (a format problem at the facility, not a data
problem). The **load**: findings, file records, staging rows (all versions, change feed) and one
ledger row per batch, with ``received = loaded + quarantined + superseded + held`` checked for
each batch inside the transaction. Batches that send the same natural key load one after the
other (as if they had run in sequence). If the shard's transaction fails, every batch is tried
again in a transaction of its own, so one facility's bad data fails only that facility.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from loaders import staging
from loaders.copy_ahead import CopyAhead, CopyAheadUnusable
from loaders.locks import LockTimeout
from pipeline.errors import BatchFailed, BatchHeldBack, TransportError, log_withheld
from pipeline.stages.spill import read_spills
from transforms.records import natural_key_array

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine

    from config.contracts import DatasetContract
    from pipeline.stages.state import Batch, Shard

log = logging.getLogger(__name__)

#: How many rules the ledger reason and the summary name.
TOP_RULES = 3


def gate(shard: Shard, threshold: float) -> None:
    """Hold back every batch whose quarantined share exceeds ``threshold``."""
    for b in shard.active():
        share = b.quarantined / b.received if b.received else 0.0
        b.held = b.received > 0 and share > threshold


def top_rules(batch: Batch, limit: int = TOP_RULES) -> str:
    """``"B2 ×28: birth_datetime does not parse as datetime; REQ ×7 (+6 other reasons): …"``.

    Per rule: the number of findings, then its most frequent reason, and how many other reasons
    the rule gave (one record missing seven fields is seven REQ findings with seven reasons: the
    one shown is not the only one).
    """
    counts: Counter[tuple[str, str]] = Counter()
    for q in batch.quarantine:
        counts[(q["rule_id"], q["reason"])] += 1
    by_rule: Counter[str] = Counter()
    reason_of: dict[str, str] = {}
    reasons: Counter[str] = Counter()
    for (rule, reason), n in counts.items():
        by_rule[rule] += n
        reasons[rule] += 1
        if rule not in reason_of or counts[(rule, reason_of[rule])] < n:
            reason_of[rule] = reason

    def others(rule: str) -> str:
        more = reasons[rule] - 1
        return f" (+{more} other reason{'s' if more > 1 else ''})" if more else ""

    return "; ".join(f"{rule} ×{n}{others(rule)}: {reason_of[rule]}" for rule, n in by_rule.most_common(limit))


def key_groups(shard: Shard, contract: DatasetContract, loadable: list[Batch]) -> list[tuple[list[Batch], bool]]:
    """Split the loadable batches into groups in which no natural key belongs to two batches.

    Returns ``(batches, unique_keys)`` per group, in shard order; ``unique_keys`` is True when no
    key repeats at all within the group (the load can skip a window sort).
    """
    if not loadable:
        return []
    ids = {b.batch_id for b in loadable}
    parts = [t.append_column("_k", natural_key_array(t, contract.natural_key)).select(["_k", "batch_id"])
             for t in read_spills(shard.spills, [*contract.natural_key, "batch_id"], ids)]
    if not parts:
        return [(loadable, True)]
    keys = pa.concat_tables(parts)
    per_key = keys.group_by("_k").aggregate([("batch_id", "count_distinct"), ("batch_id", "count")])
    shared = per_key.filter(pc.greater(per_key.column("batch_id_count_distinct"), 1)).column("_k")
    repeats_in = set()
    if len(per_key) and pc.max(per_key.column("batch_id_count")).as_py() > 1:
        repeated = per_key.filter(pc.greater(per_key.column("batch_id_count"), 1)).column("_k")
        repeats_in = set(pc.unique(keys.filter(pc.is_in(keys.column("_k"), value_set=repeated.combine_chunks()))
                                   .column("batch_id")).to_pylist())
    if len(shared) == 0:
        return [(loadable, not repeats_in)]
    shared_rows = keys.filter(pc.is_in(keys.column("_k"), value_set=shared.combine_chunks()))
    keys_of: dict[str, set[str]] = {}
    for k, b in zip(shared_rows.column("_k").to_pylist(), shared_rows.column("batch_id").to_pylist(), strict=True):
        keys_of.setdefault(b, set()).add(k)
    groups: list[tuple[list[Batch], set[str]]] = []
    for b in loadable:
        mine = keys_of.get(b.batch_id, set())
        # after the last group that shares a key with this batch (keeps shard order per key)
        last = max((i for i, (_, taken) in enumerate(groups) if taken & mine), default=-1)
        if last + 1 < len(groups):
            groups[last + 1][0].append(b)
            groups[last + 1][1].update(mine)
        else:
            groups.append(([b], set(mine)))
    return [(members, not (repeats_in & {m.batch_id for m in members})) for members, _ in groups]


def ledger_row(batch: Batch, status: str, shard: Shard, **extra: Any) -> dict[str, Any]:
    """The ledger row of a batch (counts, status, reason, timings, source facts, fingerprint)."""
    spec = batch.spec
    timings = {"land": round(batch.land_seconds, 4)}
    timings.update({f"shard_{k}": round(v, 3) for k, v in sorted(shard.timings.items()) if k != "land"})
    timings["shard_batches"] = len(shard.batches)
    row = {
        "batch_id": spec.batch_id, "dataset": spec.dataset, "facility_code": spec.facility,
        "interval_start": spec.interval_start.isoformat(), "interval_end": spec.interval_end.isoformat(),
        "night": spec.night.isoformat(), "status": status, "received": batch.received, "superseded": batch.superseded,
        "quarantined": batch.quarantined, "flagged": batch.flagged,
        "files_received": len(batch.files),
        "files_rejected": sum(1 for f in batch.files if f["status"] == "rejected"),
        "files_skipped": sum(1 for f in batch.files if f["status"] == "skipped_duplicate"),
        "timings": timings,
        "source_kind": batch.source_kind, "source_facts": batch.facts,
        "high_water_mark": batch.facts.get("high_water_mark"),
        "input_fingerprint": batch.fingerprint,
        "started_at": batch.started, "finished_at": staging.utcnow(),
    }
    row.update(extra)
    return row


def failure_row(batch: Batch, shard: Shard) -> dict[str, Any]:
    """The ledger row of a failed batch (nothing loaded, no fingerprint: never skipped)."""
    assert batch.failure is not None
    row = ledger_row(batch, "failed", shard, loaded=0, inserted=0, updated=0, unchanged=0, held=0,
                     partitions=[], reason=batch.failure.reason, received=0, superseded=0, quarantined=0,
                     flagged=0)
    row["input_fingerprint"] = None
    return row


def _outcome_row(conn: Connection, batch: Batch, counts: staging.UpsertCounts, threshold: float,
                 shard: Shard) -> dict[str, Any]:
    valid_rows = batch.received - batch.quarantined - batch.superseded
    if batch.held:
        share = batch.quarantined / batch.received
        reason = (f"quarantine share {share:.0%} exceeds threshold {threshold:.0%}: batch held back from "
                  f"staging; top rules: {top_rules(batch)}")
        return ledger_row(batch, "held", shard, inserted=0, updated=0, unchanged=0, reason=reason,
                          partitions=[], held=valid_rows, loaded=0, flagged=0)
    rejected = [f for f in batch.files if f["status"] == "rejected"]
    status = "partial" if rejected else ("loaded" if batch.files else "empty")
    reasons = []
    if rejected:
        reasons.append(f"{len(rejected)} of {len(batch.files)} file(s) rejected: " +
                       "; ".join(f"{Path(f['file_name']).name}: {f['reason']}" for f in rejected[:5]))
    if batch.quarantined and not rejected:
        reasons.append(f"{batch.quarantined} record(s) quarantined; top rules: {top_rules(batch)}")
    elif batch.quarantined:
        reasons.append(f"top rules: {top_rules(batch)}")
    if batch.facts.get("null_cursor_rows"):
        reasons.append(f"{batch.facts['null_cursor_rows']} row(s) of the source table have no cursor value and are "
                       "never extracted (fix at the source)")
    if batch.facts.get("misshapen_cursor_rows"):
        reasons.append(f"{batch.facts['misshapen_cursor_rows']} row(s) of the source table have a cursor value not "
                       "written YYYY-MM-DD HH:MM:SS: compared as text, they are extracted on the wrong night or never "
                       "(fix at the source)")
    loaded = counts.inserted + counts.updated + counts.unchanged
    batch.partitions |= counts.replaced_months  # a re-issue may have left another month
    # Versions of the same key within the batch, and versions older than the current one, are
    # kept in history but do not become current: superseded.
    batch.superseded += valid_rows - loaded
    return ledger_row(batch, status, shard, inserted=counts.inserted, updated=counts.updated,
                      unchanged=counts.unchanged, reason=" | ".join(reasons) or None,
                      partitions=[f"{y:04d}-{m:02d}" for y, m in sorted(batch.partitions)], held=0, loaded=loaded)


def _write(conn: Connection, shard: Shard, contract: DatasetContract, batches: list[Batch], threshold: float,
           ahead: CopyAhead | None = None) -> None:
    """Everything of ``batches`` in the caller's transaction; raises on an imbalance (rollback).

    ``ahead``: the transaction is that of a copy ahead (:mod:`loaders.copy_ahead`), whose rows
    are already in the current table; raises :class:`CopyAheadUnusable` unless they are exactly
    the rows this load would copy.
    """
    working = [b for b in batches if b.failure is None]
    ids = [b.batch_id for b in working]
    loadable = [b for b in working if not b.held and b.received - b.quarantined - b.superseded > 0]
    if ahead is not None:
        # The copied batch alone, every one of its valid rows copied: the primary key accepted
        # them all, so no key repeats (the load's plain first-load path, one group).
        if not (len(loadable) == 1 and loadable[0].batch_id == ahead.batch_id
                and ahead.rows == loadable[0].received - loadable[0].quarantined - loadable[0].superseded):
            raise CopyAheadUnusable("the batch is not a plain first load of the rows copied")
        groups = [(loadable, True)]
    else:
        groups = key_groups(shard, contract, loadable)
    staging.replace_findings(conn, ids, [q for b in working for q in b.quarantine],
                             [w for b in working if not b.held for w in b.warnings])
    staging.replace_files(conn, ids, [f for b in working for f in b.files])
    counts: dict[str, staging.UpsertCounts] = {}
    for group, unique in groups:
        wanted = {b.batch_id for b in group}
        everything = {b.index for b in group} == shard.spilled

        def source(columns: list[str] | None = None, wanted: set[str] = wanted, everything: bool = everything) -> Any:
            return read_spills(shard.spills, columns, None if everything else wanted)

        if ahead is not None:
            counts.update(ahead.complete(conn))
        else:
            counts.update(staging.load_batches(conn, contract, source, unique_keys=unique))
    rows = []
    for b in batches:
        if b.failure is not None:
            rows.append(failure_row(b, shard))
            continue
        row = _outcome_row(conn, b, counts.get(b.batch_id, staging.UpsertCounts()), threshold, shard)
        problem = staging.reconcile(row)
        if problem:
            raise RuntimeError(problem)  # rolls the transaction back: nothing half-loaded
        rows.append(row)
    staging.write_ledger_rows(conn, rows)
    for b, row in zip(batches, rows, strict=True):
        b.ledger = row


def load(shard: Shard, engine: Engine, contract: DatasetContract, threshold: float) -> None:
    """Gate, then load every batch to record (active and failed) — per shard, else per batch."""
    batches = [b for b in shard.batches if b.skipped_from is None and (b.failure is None or b.failure.record)]
    t0 = time.perf_counter()
    ahead, shard.copy_ahead = shard.copy_ahead, None
    if ahead is not None and not batches:
        ahead.abandon()
        ahead = None
    skipped = [b.batch_id for b in shard.batches if b.skipped_from is not None]
    if skipped:
        with engine.begin() as conn:
            staging.count_attempts(conn, skipped)
    if not batches:
        shard.timed("load", t0)
        return
    snapshot = [(b.superseded, set(b.partitions)) for b in batches]
    if ahead is not None:
        if _finish_ahead(shard, contract, batches, threshold, ahead):
            shard.timed("load", t0)
            return
        for b, (superseded, parts) in zip(batches, snapshot, strict=True):
            b.superseded, b.partitions = superseded, parts  # undo what the attempt added
    try:
        with engine.begin() as conn:
            _write(conn, shard, contract, batches, threshold)
        shard.timed("load", t0)
        return
    except LockTimeout as exc:
        # Another session held a lock past its timeout: nothing of this shard was written, and
        # trying each batch alone would wait once more per batch. Retryable, the lock named.
        for b, (superseded, parts) in zip(batches, snapshot, strict=True):
            b.superseded, b.partitions = superseded, parts
            _record_alone_failed(shard, engine, b, TransportError(f"staging store busy: {exc}"))
        shard.timed("load", t0)
        return
    except Exception as exc:
        if len(batches) == 1:
            _record_alone_failed(shard, engine, batches[0], exc)
            shard.timed("load", t0)
            return
        log_withheld(log, f"loading a shard of {len(batches)} {contract.dataset} batches together", exc)
        log.warning("loading the shard's batches one by one to isolate the failure")
    for b, (superseded, parts) in zip(batches, snapshot, strict=True):
        b.superseded, b.partitions = superseded, parts  # undo what the failed attempt added
    for b in batches:
        try:
            with engine.begin() as conn:
                _write(conn, shard, contract, [b], threshold)
        except Exception as exc:
            _record_alone_failed(shard, engine, b, exc)
    shard.timed("load", t0)


def _finish_ahead(shard: Shard, contract: DatasetContract, batches: list[Batch], threshold: float,
                  ahead: CopyAhead) -> bool:
    """Finish a load whose rows were copied ahead, in the copy's transaction; False when it was
    rolled back instead (the copy failed, or the batch is not a plain first load of its rows):
    nothing of it stays, and the caller loads the ordinary way."""
    def rows(columns: list[str] | None = None) -> Any:
        return read_spills(shard.spills, columns, {ahead.batch_id})

    try:
        ahead.prepare(rows)  # the change feed's rows, built while the copy drains (else a wait)
    except Exception as exc:
        log_withheld(log, f"preparing the change feed of {ahead.batch_id}", exc)
        ahead.abandon()
        return False
    if ahead.finish() is None:
        return False
    try:
        with ahead.transaction() as conn:
            _write(conn, shard, contract, batches, threshold, ahead=ahead)
        return True
    except CopyAheadUnusable as exc:
        log.info("%s: %s; loading the ordinary way", ahead.batch_id, exc)
    except Exception as exc:
        log_withheld(log, f"finishing the copy ahead of {ahead.batch_id}", exc)
        log.warning("loading %s the ordinary way", ahead.batch_id)
    return False


def _record_alone_failed(shard: Shard, engine: Engine, batch: Batch, exc: Exception) -> None:
    """A batch that cannot be loaded even on its own: record it as failed (if the store answers)."""
    if isinstance(exc, LockTimeout):
        exc = TransportError(f"staging store busy: {exc}")
    if isinstance(exc, TransportError):
        batch.fail(TransportError, str(exc))
    else:
        log_withheld(log, f"loading batch {batch.batch_id}", exc)
        batch.fail(BatchFailed, f"{type(exc).__name__} while loading (see task log frames)")
    try:
        with engine.begin() as conn:
            row = failure_row(batch, shard)
            staging.write_ledger_rows(conn, [row])
            batch.ledger = row
    except Exception as again:  # the store itself is unreachable
        log_withheld(log, f"recording the failure of {batch.batch_id}", again)
        batch.fail(TransportError, f"staging store unavailable: {type(again).__name__}")


def summary(batch: Batch) -> dict[str, Any]:
    """The personal-data-free summary of a batch (XCom, logs), from its ledger row."""
    row = batch.ledger or batch.skipped_from or {}
    out = {k: row.get(k) for k in (
        "batch_id", "dataset", "facility_code", "status", "received", "loaded", "inserted", "updated",
        "unchanged", "superseded", "quarantined", "held", "flagged", "files_received", "files_rejected",
        "files_skipped", "partitions", "reason")}
    if isinstance(out["partitions"], str):
        import json

        out["partitions"] = json.loads(out["partitions"] or "[]")
    out["quarantined_by_rule"] = dict(sorted(Counter(q["rule_id"] for q in batch.quarantine).items()))
    if batch.skipped_from is not None:
        out["skipped"] = "inputs unchanged since the recorded run"
    return out


def raise_for(batch: Batch) -> None:
    """Raise what the batch's outcome means for its task (failed, or held back)."""
    if batch.failure is not None:
        raise batch.failure.kind(f"batch {batch.batch_id}: {batch.failure.reason}")
    row = batch.ledger or batch.skipped_from or {}
    if row.get("status") == "held":
        raise BatchHeldBack(row.get("reason") or "held")

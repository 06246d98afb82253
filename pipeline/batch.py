"""Run one batch (dataset x facility x night) through extract, normalize, validate and load.

The stages, for each received file and each bounded chunk of it:

1. **land**: copy the file unchanged into the raw zone with a manifest (checksum, size, format,
   encoding, received time); skip a file another loaded batch already processed;
2. **read** the format into string columns; **normalize** to the canonical typed model; derive
   the validation columns; detect duplicates and re-issues;
3. **validate** with Great Expectations; error findings quarantine the row (rule, reason,
   reference, never the value), warnings flag it;
4. **spill** valid rows to a restricted work file, so memory stays bounded and nothing touches
   staging before the whole batch has been judged;

then, for the batch: the **gate** (quarantine share above the threshold holds the batch back),
and the **load** of staging rows, findings, file records and the ledger in one transaction.
A file that cannot be read is rejected whole (its partial rows discarded) and the rest of the
batch proceeds.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from config.contracts import DatasetContract, load_contract
from config.registry import Facility, load_registry
from config.settings import Settings, load_settings
from extractors.file_drop import LandedFile
from extractors.file_drop.helpers import write_manifest
from extractors.formats import FileRejected, reader
from extractors.sources import SourceError, acquire
from loaders import staging
from loaders.locks import LockTimeout  # integration(hardening)
from loaders.schema import data_columns
from pipeline.datasets import DatasetHooks, hooks_for
from pipeline.errors import BatchFailed, BatchHeldBack, TransportError, log_withheld
from pipeline.lookups import StagingLookups
from transforms.dedup import SeenKeys
from transforms.normalize import normalize, year_column
from transforms.records import natural_key_array, record_hash, version_key

log = logging.getLogger(__name__)


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
class _UnitResult:
    """What one unit (a large file, or a group of small ones) contributed.

    Merged into the batch only when every file of the unit was read to the end.
    """

    received: int = 0
    records_per_file: Counter[str] = field(default_factory=Counter)
    superseded: int = 0
    quarantined: int = 0
    flagged: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    rejected_rows: list[pa.Table] = field(default_factory=list)
    spill: Path | None = None
    partitions: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class _BatchState:
    received: int = 0
    superseded: int = 0
    quarantined: int = 0
    flagged: int = 0
    valid: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    seen: SeenKeys = field(default_factory=SeenKeys)
    spills: list[Path] = field(default_factory=list)
    partitions: set[tuple[int, int]] = field(default_factory=set)
    timings: Counter[str] = field(default_factory=Counter)
    rows_offset: int = 0


def _finding_row(spec: BatchSpec, source_file: str, ref: str | None, key: str | None, rule: str, severity: str,
                 category: str, column: str | None, reason: str) -> dict[str, Any]:
    return {
        "batch_id": spec.batch_id,
        "dataset": spec.dataset,
        "facility_code": spec.facility,
        "source_file": source_file,
        "source_ref": ref,
        "record_key": key,
        "rule_id": rule,
        "severity": severity,
        "category": category,
        "column_name": column,
        "reason": reason,
    }


def _validation_frame(table: pa.Table, columns: tuple[str, ...], flag_columns: set[str]) -> Any:
    """The narrow pandas frame GX validates (nullable dtypes, RangeIndex).

    Contract flags (``bool`` columns such as ``caesarean``) are handed over as 0/1 integers, the
    code system the rules are written in; derived booleans stay booleans.
    """
    import pandas as pd

    mapping = {
        pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype(),
        pa.float64(): pd.Float64Dtype(),
    }
    narrow = table.select(list(columns))
    casts = []
    for f in narrow.schema:
        if f.name in flag_columns and pa.types.is_boolean(f.type):
            casts.append(pa.field(f.name, pa.int64()))
        elif pa.types.is_date(f.type) or pa.types.is_timestamp(f.type):
            casts.append(pa.field(f.name, pa.timestamp("ns")))
        else:
            casts.append(f)
    narrow = narrow.cast(pa.schema(casts))
    return narrow.to_pandas(types_mapper=mapping.get)


class BatchLookups:
    """The staging/registry lookups, plus this batch's own accepted keys for ``existing_keys``:
    an EDIT whose ADD arrived in an earlier chunk of the same batch refers to a known key."""

    def __init__(self, inner: StagingLookups, seen: SeenKeys) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def existing_keys(self, dataset: str, keys: pa.Array) -> pa.Array:
        """Known in staging, or accepted earlier in this batch."""
        staged = self._inner.existing_keys(dataset, keys)
        if not self._seen.keys:
            return staged
        earlier = pc.is_in(keys, value_set=pa.concat_arrays(self._seen.keys))
        return pc.or_kleene(staged, pc.if_else(pc.is_valid(keys), earlier, pa.scalar(None, pa.bool_())))


class BatchRunner:
    """Runs one batch. Create one per batch; call :meth:`run`."""

    def __init__(self, spec: BatchSpec, settings: Settings | None = None, engine: Any = None,
                 options: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.settings = settings or load_settings()
        self.engine = engine or staging.make_engine(self.settings.staging_url)
        self.options = options
        self.contract: DatasetContract = load_contract(spec.dataset)
        self.hooks: DatasetHooks = hooks_for(spec.dataset)
        self.stored = [n for n, _ in data_columns(self.contract)]
        rel = Path(spec.dataset) / spec.facility / spec.night.isoformat()
        self.raw_dir = self.settings.raw_root / rel
        self.work_dir = self.settings.data_root / "work" / rel
        self.quarantine_dir = self.settings.quarantine_root / rel
        self.state = _BatchState()
        self.source_kind: str | None = None
        self.lookups = BatchLookups(StagingLookups(self.engine, self.settings.reference_root), self.state.seen)
        self.source_facts: dict[str, Any] = {}

    # ------------------------------------------------------------------ helpers

    def _facility(self) -> Facility:
        for fac in load_registry(self.settings.facilities_file):
            if fac.code == self.spec.facility:
                return fac
        raise BatchFailed(f"facility {self.spec.facility} is not in the registry")

    def _timed(self, stage: str, start: float) -> None:
        self.state.timings[stage] += time.perf_counter() - start

    # ------------------------------------------------------------------ per chunk

    def _record_status(self, table: pa.Table) -> pa.Array:
        """'cancelled' where the source withdraws the record (contract ``cancellation``), else 'active'."""
        n = table.num_rows
        cancel = self.contract.cancellation
        if cancel is None:
            return pa.array(["active"] * n, pa.string())
        hit = pc.fill_null(pc.is_in(pc.utf8_upper(table.column(cancel.column).cast(pa.string())),
                                    value_set=pa.array([v.upper() for v in cancel.values])), False)
        return pc.if_else(hit, "cancelled", "active")

    def _dedup(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Mark exact duplicates (superseded) and conflicting first issues (B9), in order."""
        first_col = self.hooks.first_issue_column
        reissue = (
            pc.fill_null(pc.equal(table.column(first_col), False), False).to_numpy(zero_copy_only=False)
            if first_col else np.zeros(table.num_rows, bool)
        )
        key = natural_key_array(table, self.contract.natural_key)
        return self.state.seen.mark(key, table.column("record_hash").combine_chunks(), reissue)

    def _process_chunk(self, raw: pa.Table, fmt: str, writer_box: list[Any], result: _UnitResult) -> None:
        spec, contract = self.spec, self.contract
        n = raw.num_rows
        files = raw.column("_source_file").to_pylist()
        result.records_per_file.update(files)
        t0 = time.perf_counter()
        norm = normalize(raw, contract, fmt)
        table = self.hooks.derive(norm.table, spec.facility, spec.cutoff, self.lookups)
        fmt_spec = contract.source_formats[fmt]
        content = [c for c in contract.columns]
        lineage = {
            "source_format": pa.array([fmt] * n, pa.string()),
            "spec_version": pa.array([fmt_spec.spec_version] * n, pa.string()),
            "source_file": raw.column("_source_file").combine_chunks(),
            "source_ref": table.column("_source_ref") if "_source_ref" in table.column_names else pa.nulls(n, pa.string()),
            "batch_id": pa.array([spec.batch_id] * n, pa.string()),
            "record_hash": record_hash(table, content),
            "record_status": self._record_status(table),
        }
        for name, arr in lineage.items():
            table = table.append_column(name, arr)
        order = [c for c in contract.version_order if c in table.column_names]
        table = table.append_column(
            "version_key",
            version_key(table, order, spec.interval_start.strftime("%Y%m%dT%H%M"), self.state.rows_offset + result.received),
        )
        exact, conflict = self._dedup(table)
        table = table.append_column("duplicate_first_issue", pa.array(conflict))
        self._timed("normalize", t0)

        # ---- findings: reader errors, parse failures, then Great Expectations
        t0 = time.perf_counter()
        errors = np.zeros(n, bool)
        warned = np.zeros(n, bool)
        refs = table.column("source_ref").to_pylist()
        keys = natural_key_array(table, contract.natural_key).to_pylist()
        findings: list[tuple[int, str, str, str, str | None, str]] = []
        if "_reader_error" in raw.column_names:
            reader_err = raw.column("_reader_error").to_pylist()
            for i, reason in enumerate(reader_err):
                if reason:
                    findings.append((i, "ENVELOPE", "error", "conformance", None, reason))
        failed_cols: dict[int, set[str]] = {}
        for failure in norm.failures:
            for i in np.flatnonzero(failure.rows):
                findings.append((int(i), failure.rule_id, "error", "conformance", failure.column, failure.reason))
                failed_cols.setdefault(int(i), set()).update({failure.column, year_column(failure.column)})
        from expectations import validate_frame

        flags = {n for n, c in contract.columns.items() if c.type == "bool" and c.sources}
        frame = _validation_frame(table, self.hooks.validation_columns, flags)
        gx_findings, _summary = validate_frame(frame, spec.dataset, self.options)
        envelope_rows = {row for row, rule, *_ in findings if rule == "ENVELOPE"}
        for f in gx_findings:
            if f.rule_id == "REQ" and f.column in failed_cols.get(f.row, set()):
                continue  # present but unparseable: already reported with its own rule
            if f.row in envelope_rows:
                continue  # the record could not be decoded: its content is not judged
            findings.append((f.row, f.rule_id, f.severity, f.category, f.column, f.reason))
        self._timed("validate", t0)

        t0 = time.perf_counter()
        for row, _rule, severity, *_ in findings:
            if severity == "error" and not exact[row]:
                errors[row] = True
        for row, rule, severity, category, column, reason in findings:
            if exact[row] or (severity != "error" and errors[row]):
                # An exact re-send is superseded, not judged twice; warnings on a row that is
                # quarantined anyway stay with its quarantine story.
                continue
            rec = _finding_row(spec, files[row], refs[row], keys[row], rule, severity, category, column, reason)
            if severity == "error":
                result.quarantine.append(rec)
            else:
                warned[row] = True
                result.warnings.append(rec)
        valid = ~errors & ~exact
        result.received += n
        result.superseded += int(exact.sum())
        result.quarantined += int(errors.sum())
        result.flagged += int((warned & valid).sum())
        if errors.any():
            bad = raw.filter(pa.array(errors))
            rules_by_row: dict[tuple[str, str], set[str]] = {}
            for q in result.quarantine:
                rules_by_row.setdefault((q["source_file"], q["source_ref"]), set()).add(q["rule_id"])
            bad_keys = zip(bad.column("_source_file").to_pylist(), bad.column("_source_ref").to_pylist(), strict=True)
            bad = bad.append_column("_rule_ids", pa.array([",".join(sorted(rules_by_row.get(k, ()))) for k in bad_keys], pa.string()))
            result.rejected_rows.append(bad)
        good = table.filter(pa.array(valid)).select(self.stored)
        if good.num_rows:
            ev = good.column(self.contract.event_date)
            months = pc.unique(pc.add(pc.multiply(pc.year(ev), 100), pc.month(ev))).to_pylist()
            result.partitions.update((m // 100, m % 100) for m in months if m is not None)
            if writer_box[0] is None:
                self.work_dir.mkdir(parents=True, exist_ok=True)
                path = self.work_dir / f"valid-{len(self.state.spills):05d}.parquet"
                writer_box[0] = pq.ParquetWriter(str(path), good.schema, compression="lz4")
                result.spill = path
            writer_box[0].write_table(good)
        self._timed("spill", t0)

    # ------------------------------------------------------------------ per file

    def _file_row(self, landed: LandedFile, status: str = "processed", reason: str | None = None) -> dict[str, Any]:
        spec = self.spec
        return {
            "batch_id": spec.batch_id, "file_name": landed.name, "dataset": spec.dataset,
            "facility_code": spec.facility, "sha256": landed.sha256, "size_bytes": landed.size,
            "format": landed.format, "encoding": landed.encoding, "status": status,
            "records": 0, "reason": reason,
        }

    def _reject(self, landed: LandedFile, reason: str) -> None:
        self.state.files.append(self._file_row(landed, "rejected", reason))
        self.state.quarantine.append(
            _finding_row(self.spec, landed.name, None, None, "FILE", "error", "conformance", None, reason)
        )
        log.warning("file rejected: %s (%s)", landed.name, reason)

    def _read(self, landed: LandedFile) -> Any:
        """Chunks of one file, each with a ``_source_file`` column."""
        fmt = self.contract.source_formats[landed.format or ""]
        t0 = time.perf_counter()
        read = reader(fmt.reader)
        for chunk in read(Path(landed.raw_path), self.settings.chunk_rows, encoding=landed.encoding, **fmt.reader_options):
            chunk = chunk.append_column("_source_file", pa.array([landed.name] * chunk.num_rows, pa.string()))
            self._timed("read", t0)
            yield chunk
            t0 = time.perf_counter()
        self._timed("read", t0)

    def _units(self, landed: list[LandedFile]) -> list[list[LandedFile]]:
        """Split files into units: each large file alone (streamed), small files grouped per format.

        Small files (one certificate per file is common) are read whole before any of their rows
        is processed, so a broken one is rejected before it touches the batch; grouping them keeps
        one validation call per chunk instead of one per file, and lets twins delivered in two
        files be checked together (B5).
        """
        small: dict[str, list[LandedFile]] = {}
        units: list[list[LandedFile]] = []
        for lf in landed:
            if lf.format and lf.size <= self.settings.small_file_bytes:
                small.setdefault(lf.format, []).append(lf)
            else:
                units.append([lf])
        return [group for _fmt, group in sorted(small.items())] + units

    def _process_unit(self, unit: list[LandedFile]) -> None:
        state = self.state
        result = _UnitResult()
        writer_box: list[Any] = [None]
        checkpoint = state.seen.checkpoint()
        accepted: list[LandedFile] = []
        fmt = unit[0].format
        try:
            if len(unit) == 1 and unit[0].size > self.settings.small_file_bytes:
                # A large file streams chunk by chunk; failing half-way rejects all of it.
                accepted = unit
                pending: list[pa.Table] = []
                rows = 0
                for chunk in self._read(unit[0]):
                    pending.append(chunk)
                    rows += chunk.num_rows
                    if rows >= self.settings.chunk_rows:  # reader blocks are smaller than a chunk
                        self._process_chunk(pa.concat_tables(pending), fmt or "", writer_box, result)
                        pending, rows = [], 0
                if pending:
                    self._process_chunk(pa.concat_tables(pending), fmt or "", writer_box, result)
            else:
                buffer: list[pa.Table] = []
                rows = 0
                for lf in unit:
                    try:
                        tables = list(self._read(lf))
                    except FileRejected as exc:
                        self._reject(lf, exc.reason)
                        continue
                    accepted.append(lf)
                    buffer += tables
                    rows += sum(t.num_rows for t in tables)
                    if rows >= self.settings.chunk_rows:
                        self._process_chunk(pa.concat_tables(buffer, promote_options="default"), fmt or "",
                                            writer_box, result)
                        buffer, rows = [], 0
                if buffer:
                    self._process_chunk(pa.concat_tables(buffer, promote_options="default"), fmt or "",
                                        writer_box, result)
        except FileRejected as exc:
            if writer_box[0] is not None:
                writer_box[0].close()
            if result.spill:
                result.spill.unlink(missing_ok=True)
            state.seen.rollback(checkpoint)
            self._reject(unit[0], exc.reason)
            return
        if writer_box[0] is not None:
            writer_box[0].close()
            state.spills.append(result.spill)  # type: ignore[arg-type]
        for lf in accepted:
            row = self._file_row(lf)
            row["records"] = result.records_per_file.get(lf.name, 0)
            state.files.append(row)
        state.received += result.received
        state.superseded += result.superseded
        state.quarantined += result.quarantined
        state.flagged += result.flagged
        state.quarantine += result.quarantine
        state.warnings += result.warnings
        state.partitions |= result.partitions
        state.rows_offset += result.received
        if result.rejected_rows:
            self._write_quarantine_zone(result.rejected_rows)

    def _write_quarantine_zone(self, tables: list[pa.Table]) -> None:
        """Keep the held-back rows as received (restricted zone) so they can be re-processed."""
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        table = pa.concat_tables(tables, promote_options="default")
        target = self.quarantine_dir / f"part-{len(list(self.quarantine_dir.glob('part-*.parquet'))):05d}.parquet"
        tmp = target.with_name("." + target.name + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(target)

    # ------------------------------------------------------------------ batch

    def _spill_chunks(self, columns: list[str] | None = None) -> Any:
        """The batch's valid rows from the restricted work files (callable again: a fresh pass)."""
        for path in self.state.spills:
            pf = pq.ParquetFile(path)
            for rb in pf.iter_batches(batch_size=100_000, columns=columns):
                yield pa.Table.from_batches([rb])

    def run(self) -> dict[str, Any]:
        """Process the batch and record it in the ledger.

        Returns:
            A small, personal-data-free summary (counts, status, partitions touched), fit for XCom.

        Raises:
            TransportError: the drop could not be read (retryable).
            BatchHeldBack: the batch was recorded but held back from staging.
            BatchFailed: anything else; the ledger records the failure.
        """
        spec = self.spec
        started = staging.utcnow()
        t_all = time.perf_counter()
        facility = self._facility()
        if spec.dataset not in facility.datasets:
            raise BatchFailed(f"facility {spec.facility} does not send {spec.dataset}")
        staging.ensure_schema(self.engine, [spec.dataset])
        # Start from a clean slate for this batch's derived files (re-runs replace them).
        shutil.rmtree(self.work_dir, ignore_errors=True)
        shutil.rmtree(self.quarantine_dir, ignore_errors=True)
        t0 = time.perf_counter()
        self.source_kind = facility.source_kind
        try:
            acquired = acquire(facility, spec.dataset, self.contract, spec.interval_start, spec.interval_end,
                               spec.night, self.settings.drop_root, self.raw_dir)
        except OSError as exc:
            reason = f"cannot read the drop for {spec.batch_id}: {type(exc).__name__} (errno {exc.errno})"
            self._record_failure(started, reason)
            raise TransportError(reason) from None
        except TransportError as exc:
            self._record_failure(started, f"source unreachable: {exc}")
            raise
        except SourceError as exc:
            self._record_failure(started, f"source rejected: {exc}")
            raise BatchFailed(f"batch {spec.batch_id}: {exc}") from None
        except Exception as exc:
            # A library error (a malformed connection URI, a driver's message) may quote
            # credentials or data: type and frames only.
            log_withheld(log, f"extraction for {spec.batch_id}", exc)
            self._record_failure(started, f"source failed: {type(exc).__name__} (see task log frames)")
            raise BatchFailed(f"batch {spec.batch_id}: extraction failed with {type(exc).__name__}") from None
        landed = acquired.files
        self.source_facts = acquired.facts
        self._timed("land", t0)
        try:
            for lf in landed:
                other = staging.processed_elsewhere(self.engine, spec.dataset, spec.facility, lf.sha256, spec.batch_id)
                if other:
                    self.state.files.append(self._file_row(lf, "skipped_duplicate", f"same checksum already loaded by batch {other}"))
                elif lf.format is None:
                    self._reject(lf, "file is not one of this dataset's source formats")
            todo = [lf for lf in landed if lf.format and not any(f["file_name"] == lf.name for f in self.state.files)]
            for unit in self._units(todo):
                self._process_unit(unit)
            return self._finish(started, t_all)
        except (BatchHeldBack, TransportError):
            raise
        except LockTimeout as exc:  # integration(hardening): a lock wait ran out: retryable, named
            self._record_failure(started, f"staging store busy: {exc}")
            raise TransportError(f"batch {spec.batch_id}: staging store busy: {exc}") from None
        except Exception as exc:
            log_withheld(log, f"batch {spec.batch_id}", exc)
            self._record_failure(started, f"{type(exc).__name__} during processing (see task log frames)")
            raise BatchFailed(f"batch {spec.batch_id} failed: {type(exc).__name__}") from None
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _ledger_row(self, status: str, started: dt.datetime, t_all: float, **extra: Any) -> dict[str, Any]:
        state, spec = self.state, self.spec
        self.state.timings["total"] = time.perf_counter() - t_all
        return {
            "batch_id": spec.batch_id, "dataset": spec.dataset, "facility_code": spec.facility,
            "interval_start": spec.interval_start.isoformat(), "interval_end": spec.interval_end.isoformat(),
            "status": status, "received": state.received, "superseded": state.superseded,
            "quarantined": state.quarantined, "flagged": state.flagged,
            "files_received": len(state.files),
            "files_rejected": sum(1 for f in state.files if f["status"] == "rejected"),
            "files_skipped": sum(1 for f in state.files if f["status"] == "skipped_duplicate"),
            "timings": {k: round(v, 3) for k, v in sorted(state.timings.items())},
            "source_kind": self.source_kind, "source_facts": self.source_facts,
            "high_water_mark": self.source_facts.get("high_water_mark"),
            "started_at": started, "finished_at": staging.utcnow(),
            **extra,
        }

    def _record_failure(self, started: dt.datetime, reason: str) -> None:
        with self.engine.begin() as conn:
            staging.write_ledger(conn, self._ledger_row(
                "failed", started, time.perf_counter(), loaded=0, inserted=0, updated=0, unchanged=0,
                held=0, partitions=[], reason=reason, received=0, superseded=0, quarantined=0, flagged=0,
            ))

    def _finish(self, started: dt.datetime, t_all: float) -> dict[str, Any]:
        spec, state = self.spec, self.state
        share = state.quarantined / state.received if state.received else 0.0
        held = state.received > 0 and share > self.settings.quarantine_threshold
        valid_rows = state.received - state.quarantined - state.superseded
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            staging.replace_findings(conn, spec.batch_id, state.quarantine, [] if held else state.warnings)
            staging.replace_files(conn, spec.batch_id, state.files)
            if held:
                counts = staging.UpsertCounts()
                status = "held"
                reason = (f"quarantine share {share:.0%} exceeds threshold "
                          f"{self.settings.quarantine_threshold:.0%}: batch held back from staging")
                extra = {"held": valid_rows, "loaded": 0, "flagged": 0}
            else:
                unique = state.seen.unique
                counts = (staging.load_rows(conn, self.contract, self._spill_chunks, unique_keys=unique)
                          if state.spills else staging.UpsertCounts())
                rejected = [f for f in state.files if f["status"] == "rejected"]
                status = "partial" if rejected else ("loaded" if state.files else "empty")
                reason = (f"{len(rejected)} of {len(state.files)} file(s) rejected: " +
                          "; ".join(f"{Path(f['file_name']).name}: {f['reason']}" for f in rejected[:5])) if rejected else None
                extra = {"held": 0, "loaded": counts.inserted + counts.updated + counts.unchanged}
                state.partitions |= counts.replaced_months  # a re-issue may have left another month
                state.partitions |= staging.recorded_partitions(conn, spec.batch_id)  # integration(hardening)
                # Versions of the same key within the batch, and versions older than the current
                # one, are kept in history but do not become current: superseded.
                state.superseded += valid_rows - extra["loaded"]
            self._timed("load", t0)
            row = self._ledger_row(
                status, started, t_all, inserted=counts.inserted, updated=counts.updated,
                unchanged=counts.unchanged, reason=reason,
                partitions=[] if held else [f"{y:04d}-{m:02d}" for y, m in sorted(state.partitions)],
                **extra,
            )
            problem = staging.reconcile(row)
            if problem:
                raise RuntimeError(problem)  # rolls the transaction back: nothing half-loaded
            staging.write_ledger(conn, row)
        write_manifest(self.raw_dir, [], {"batch_id": spec.batch_id, "files_status": [
            {k: f[k] for k in ("file_name", "sha256", "status", "records", "reason")} for f in state.files]})
        summary = {k: row[k] for k in (
            "batch_id", "dataset", "facility_code", "status", "received", "loaded", "inserted", "updated",
            "unchanged", "superseded", "quarantined", "held", "flagged", "files_received", "files_rejected",
            "files_skipped", "partitions", "reason")}
        summary["quarantined_by_rule"] = dict(sorted(Counter(q["rule_id"] for q in state.quarantine).items()))
        log.info("batch %s %s: received=%d loaded=%d quarantined=%d superseded=%d held=%d",
                 spec.batch_id, status, row["received"], row["loaded"], row["quarantined"], row["superseded"], row["held"])
        if held:
            raise BatchHeldBack(reason or "held")
        return summary


def run_batch(dataset: str, facility: str, interval_start: dt.datetime, interval_end: dt.datetime,
              settings: Settings | None = None, engine: Any = None,
              options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Convenience wrapper: build the spec and run it (see :meth:`BatchRunner.run`)."""
    settings = settings or load_settings()
    spec = BatchSpec(dataset, facility, interval_start, interval_end, settings.timezone)
    return BatchRunner(spec, settings, engine, options).run()

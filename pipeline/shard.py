"""Run the batches of a shard of facilities through the stages (see :mod:`pipeline.stages`).

::

    land ──▶ read ──▶ conform ──▶ judge ──▶ spill ──▶ gate/load ──▶ (publish: its own task)

One facility's failure never stops the others: a source that cannot be reached, a file that
cannot be read, a chunk whose processing raises, a load that the database refuses — each is
recorded against its own batch, and the rest of the shard proceeds. Results are per batch
(ledger row, findings, files, gate); only fixed costs are shared.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from config.contracts import DatasetContract, load_contract
from config.registry import facility_index
from config.settings import Settings, load_settings
from extractors.file_drop.helpers import write_manifest
from extractors.formats import FileRejected
from loaders import staging
from loaders.copy_ahead import CopyAhead
from loaders.prefetch import prefetched
from loaders.schema import data_columns
from pipeline.datasets import DatasetHooks, hooks_for
from pipeline.errors import BatchFailed, log_withheld
from pipeline.lookups import StagingLookups
from pipeline.stages import land as land_stage
from pipeline.stages import load as load_stage
from pipeline.stages.conform import Conformed, ShardLookups, conform
from pipeline.stages.judge import Judged, judge
from pipeline.stages.read import READ_AHEAD_CHUNKS, Item, Unit, read_ahead, read_file, units
from pipeline.stages.remote import RemoteZones
from pipeline.stages.spill import SpillWriter, write_quarantine_zone
from pipeline.stages.state import Batch, BatchSpec, Shard
from transforms.dedup import SeenKeys

log = logging.getLogger(__name__)


class ShardRunner:
    """Runs the batches of one dataset × a list of facilities × one data interval."""

    def __init__(self, dataset: str, facilities: list[str], interval_start: dt.datetime, interval_end: dt.datetime,
                 settings: Settings | None = None, engine: Any = None, options: dict[str, Any] | None = None) -> None:
        self.settings = settings or load_settings()
        self.engine = engine or staging.engine_for(self.settings.staging_url)
        self.options = options
        self.contract: DatasetContract = load_contract(dataset)
        self.hooks: DatasetHooks = hooks_for(dataset)
        self.stored = [n for n, _ in data_columns(self.contract)]
        started = staging.utcnow()
        # integration(objstore): zones on object storage are worked on through local copies
        self.remote = RemoteZones.for_settings(self.settings, dataset)
        raw_root = self.remote.raw_local if self.remote else self.settings.raw_root
        quarantine_root = self.remote.quarantine_local if self.remote else self.settings.quarantine_root
        batches = []
        for i, code in enumerate(facilities):
            spec = BatchSpec(dataset, code, interval_start, interval_end, self.settings.timezone)
            rel = Path(dataset) / code / spec.night.isoformat()
            batches.append(Batch(i, spec, raw_root / rel, quarantine_root / rel, started))
        self.shard = Shard(dataset, batches, self.settings.work_dir,
                           scratch=self.remote.scratch if self.remote else None)
        self.seen = SeenKeys()
        self._spill_no = 0

    # ------------------------------------------------------------------ the flow

    def run(self) -> list[Batch]:
        """Process every batch; returns them with their ledger rows (nothing raised per batch)."""
        try:
            return self._run()
        finally:
            if self.remote:
                self.remote.cleanup()

    def _run(self) -> list[Batch]:
        shard, contract = self.shard, self.contract
        t_all = time.perf_counter()
        index = facility_index(self.settings.facilities_file)
        for b in shard.batches:
            # A code that is not a batch at all gets no ledger row (as a mapped task with a typo).
            b.facility = index.get(b.spec.facility)
            if b.facility is None:
                b.fail(BatchFailed, f"facility {b.spec.facility} is not in the registry", record=False)
            elif shard.dataset not in b.facility.datasets:
                b.fail(BatchFailed, f"facility {b.spec.facility} does not send {shard.dataset}", record=False)
        staging.ensure_schema(self.engine, [shard.dataset])
        land_stage.land(shard, contract, self.settings)
        previous = land_stage.previous_runs(self.engine, [b.batch_id for b in shard.active()])
        skipped = land_stage.skip_unchanged(shard, previous, land_stage.run_context(self.settings, self.options),
                                            force=self.settings.force_rerun)
        land_stage.mark_duplicates_and_unknown(shard, self.engine, shard.dataset)
        active = shard.active()
        log.info("%s %s: %d facilities, %d with input, %d unchanged since their last run (skipped), %d failed",
                 shard.dataset, shard.batches[0].spec.night if shard.batches else "-", len(shard.batches),
                 sum(1 for b in active if b.landed), skipped, sum(1 for b in shard.batches if b.failure))
        for b in active:
            # Start from a clean slate for this batch's derived files (re-runs replace them).
            if b.quarantine_dir.exists():
                shutil.rmtree(b.quarantine_dir, ignore_errors=True)
        shard.work_dir.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix=f"{shard.dataset}-", dir=shard.work_dir))
        try:
            self._judge_all()
            if self.remote:  # inputs and quarantine parts kept before anything is loaded
                self.remote.upload_inputs(shard, active, previous)
            load_stage.gate(shard, self.settings.quarantine_threshold)
            load_stage.load(shard, self.engine, contract, self.settings.quarantine_threshold)
        finally:
            if shard.copy_ahead is not None:  # the load never came: nothing of it stays
                shard.copy_ahead.abandon()
                shard.copy_ahead = None
            shutil.rmtree(self.work, ignore_errors=True)
        for b in shard.batches:
            if b.ledger is not None and b.failure is None and b.landed:
                self._final_manifest(b)
                if self.remote:
                    self.remote.upload_manifest(b)
        shard.timings["total"] = time.perf_counter() - t_all
        for b in shard.batches:
            if b.ledger is not None:
                row = b.ledger
                log.info("batch %s %s: received=%d loaded=%d quarantined=%d superseded=%d held=%d%s",
                         b.batch_id, row["status"], row["received"], row["loaded"], row["quarantined"],
                         row["superseded"], row["held"], f" ({row['reason']})" if row.get("reason") else "")
        return shard.batches

    # ------------------------------------------------------------------ read, conform, judge, spill

    def _judge_all(self) -> None:
        from expectations.runner import begin_validation_run

        shard = self.shard
        codes = [b.spec.facility for b in shard.batches]
        todo = units(shard, self.settings.small_file_bytes)
        if todo:
            # Validation statistics (counts only) are kept per shard run; a re-run replaces them.
            label = (shard.batches[0].batch_id if len(codes) == 1
                     else f"{shard.dataset}/{codes[0]}..{codes[-1]}x{len(codes)}/{shard.batches[0].spec.night}")
            begin_validation_run(label, shard.dataset, shard.batches[0].spec.night)
        self.lookups = ShardLookups(StagingLookups(self.engine, self.settings.zone("reference")), self.seen)
        self.spill = self._new_spill()
        self.pending: list[tuple[pa.Table, str, Conformed]] = []
        self.pending_rows = 0
        self.checkpoint = self.seen.checkpoint()
        for unit in todo:
            if unit.streamed:
                self._flush()
                self._streamed(unit, alone=len(todo) == 1)
            else:
                self._small(unit)
        self._flush()
        path = self.spill.close()
        if path:
            shard.spills.append(path)

    def _new_spill(self) -> SpillWriter:
        self._spill_no += 1
        return SpillWriter(self.work / f"valid-{self._spill_no:05d}.arrow")

    def _small(self, unit: Unit) -> None:
        """Small files of one format: read whole, then conformed in chunks of at most chunk_rows."""
        buffer: list[pa.Table] = []
        rows = 0
        for item in unit.items:
            if not item.batch.active:
                continue
            try:
                tables = list(read_file(item, self.contract, self.settings.chunk_rows, self.shard))
            except FileRejected as exc:
                land_stage.reject(item.batch, item.landed, exc.reason)
                continue
            n = sum(t.num_rows for t in tables)
            row = item.batch.file_row(item.landed, reason=self.shard.file_notes.get(item.landed.name))
            row["records"] = n
            item.batch.files.append(row)
            buffer += tables
            rows += n
            if rows >= self.settings.chunk_rows:
                self._conform_pending(_concat(buffer), unit.format)
                buffer, rows = [], 0
        if buffer:
            self._conform_pending(_concat(buffer), unit.format)

    def _conform_pending(self, raw: pa.Table, fmt: str) -> None:
        t0 = time.perf_counter()
        try:
            c = conform(raw, fmt, self.contract, self.hooks, self.shard.batches, self.seen, self.lookups)
        except Exception as exc:
            self.shard.timed("normalize", t0)
            self._isolate([*[(r, f) for r, f, _ in self.pending], (raw, fmt)], exc)
            return
        self.shard.timed("normalize", t0)
        self.pending.append((raw, fmt, c))
        self.pending_rows += c.num_rows
        if self.pending_rows >= self.settings.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        """Judge the pending small-file chunks together and commit the results."""
        if not self.pending:
            self.checkpoint = self.seen.checkpoint()
            return
        pending, self.pending, self.pending_rows = self.pending, [], 0
        t0 = time.perf_counter()
        try:
            judged = judge([c for _, _, c in pending], self.contract, self.hooks, self.shard.batches, self.stored,
                           self.options)
        except Exception as exc:
            self.shard.timed("validate", t0)
            self._isolate([(r, f) for r, f, _ in pending], exc)
            self.checkpoint = self.seen.checkpoint()
            return
        t0 = self.shard.timed("validate", t0)
        self._commit(judged, self.spill)
        self.shard.timed("spill", t0)
        self.checkpoint = self.seen.checkpoint()

    def _commit(self, judged: Judged, spill: SpillWriter) -> None:
        judged.commit(self.shard.batches)
        if judged.valid is not None:
            spill.write(judged.valid)
            self.shard.spilled.update(int(i) for i in _batch_positions(judged.valid, self.shard))
        for bi, tables in judged.rejected.items():
            write_quarantine_zone(self.shard.batches[bi], tables)

    def _isolate(self, raws: list[tuple[pa.Table, str]], exc: Exception) -> None:
        """A chunk of several facilities failed: retry each facility's rows alone."""
        self.seen.rollback(self.checkpoint)
        present = sorted({int(i) for raw, _ in raws for i in np.unique(raw.column("_batch").to_numpy())})
        if len(present) <= 1:
            for bi in present:
                self._fail_processing(self.shard.batches[bi], exc)
            return
        log_withheld(log, f"a chunk of {len(present)} {self.shard.dataset} batches", exc)
        log.warning("processing those batches one by one to isolate the failure")
        for bi in present:
            batch = self.shard.batches[bi]
            if not batch.active:
                continue
            point = self.seen.checkpoint()
            mine = [(raw.filter(pc.equal(raw.column("_batch"), bi)), fmt) for raw, fmt in raws]
            mine = [(r, f) for r, f in mine if r.num_rows]
            try:
                chunks = [conform(r, f, self.contract, self.hooks, self.shard.batches, self.seen, self.lookups)
                          for r, f in mine]
                judged = judge(chunks, self.contract, self.hooks, self.shard.batches, self.stored, self.options)
            except Exception as again:
                self.seen.rollback(point)
                self._fail_processing(batch, again)
                continue
            self._commit(judged, self.spill)

    def _fail_processing(self, batch: Batch, exc: Exception) -> None:
        log_withheld(log, f"batch {batch.batch_id}", exc)
        batch.fail(BatchFailed, f"{type(exc).__name__} during processing (see task log frames)")

    def _copy_ahead(self, item: Item) -> CopyAhead | None:
        """Copy the file's valid rows into staging while judging it, when that applies: a file of
        at least ``copy_ahead_bytes``, the shard's only unit and batch (see :mod:`loaders.copy_ahead`)."""
        limit = self.settings.copy_ahead_bytes
        if limit is None or item.landed.size < limit or len(self.shard.active()) != 1:
            return None
        return CopyAhead.begin(self.engine, self.contract, item.batch.batch_id)

    def _streamed(self, unit: Unit, alone: bool = False) -> None:
        """A large file: chunk by chunk into its own work file, kept only if the file reads to the end.

        ``alone``: the file is the shard's only unit (it may then be copied ahead)."""
        item: Item = unit.items[0]
        batch = item.batch
        spill = self._new_spill()
        copying = self._copy_ahead(item) if alone else None
        point = self.seen.checkpoint()
        results: list[Judged] = []
        rows = 0

        def process(buffer: list[pa.Table]) -> None:
            t0 = time.perf_counter()
            c = conform(_concat(buffer), unit.format, self.contract, self.hooks, self.shard.batches, self.seen,
                        self.lookups)
            t0 = self.shard.timed("normalize", t0)
            judged = judge([c], self.contract, self.hooks, self.shard.batches, self.stored, self.options)
            t0 = self.shard.timed("validate", t0)
            if copying is not None:
                copying.send(judged.valid)
            spill.write(judged.valid)
            judged.valid = None
            results.append(judged)
            self.shard.timed("spill", t0)

        chunks: Iterator[pa.Table] | None = None
        read_whole = False
        try:
            pending: list[pa.Table] = []
            pending_rows = 0
            # A CSV file is parsed a chunk ahead in a thread (pyarrow releases the GIL), so the
            # parse of the next chunk overlaps the conform and validation of this one; its
            # errors (a rejected file) are raised here, at the chunk where they happened.
            ahead = read_ahead(item, self.contract)
            source = read_file(item, self.contract, self.settings.chunk_rows, self.shard, clock=not ahead)
            chunks = (self._timed_reads(prefetched(source, depth=READ_AHEAD_CHUNKS, name="read-ahead")) if ahead
                      else source)
            for chunk in chunks:
                pending.append(chunk)
                pending_rows += chunk.num_rows
                rows += chunk.num_rows
                if pending_rows >= self.settings.chunk_rows:  # reader blocks are smaller than a chunk
                    process(pending)
                    pending, pending_rows = [], 0
            if pending:
                process(pending)
            read_whole = True
        except FileRejected as exc:
            spill.discard()
            self.seen.rollback(point)
            land_stage.reject(batch, item.landed, exc.reason)
            return
        except Exception as exc:
            spill.discard()
            self.seen.rollback(point)
            self._fail_processing(batch, exc)
            return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a read-ahead thread stops here, not when the generator is collected
            if copying is not None and read_whole and batch.active:
                copying.close()  # the load finishes it (or gives it up)
                self.shard.copy_ahead = copying
            elif copying is not None:
                copying.abandon()
        path = spill.close()
        if path:
            self.shard.spills.append(path)
            self.shard.spilled.add(batch.index)
        for judged in results:
            self._commit(judged, spill)
        row = batch.file_row(item.landed, reason=self.shard.file_notes.get(item.landed.name))
        row["records"] = rows
        batch.files.append(row)

    def _timed_reads(self, chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
        """``chunks``, the wait for each added to the shard's *read* timing."""
        t0 = time.perf_counter()
        for chunk in chunks:
            self.shard.timed("read", t0)
            yield chunk
            t0 = time.perf_counter()
        self.shard.timed("read", t0)

    # ------------------------------------------------------------------ after the load

    def _final_manifest(self, batch: Batch) -> None:
        """Add the outcome of each file to the landing manifest (the landing facts are kept)."""
        import json

        path = batch.raw_dir / "manifest.json"
        try:
            landing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            landing = {}
        extra = {k: v for k, v in landing.items() if k != "files"}
        extra.update({
            "batch_id": batch.batch_id,
            "status": (batch.ledger or {}).get("status"),
            "files_status": [{k: f[k] for k in ("file_name", "sha256", "status", "records", "reason")}
                             for f in batch.files],
        })
        write_manifest(batch.raw_dir, self.remote.published(batch, batch.landed) if self.remote else batch.landed, extra)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")


def _batch_positions(valid: pa.Table, shard: Shard) -> np.ndarray:
    ids = {b.batch_id: b.index for b in shard.batches}
    return np.array([ids[v] for v in pc.unique(valid.column("batch_id")).to_pylist()], dtype=np.int64)


def run_shard(dataset: str, facilities: list[str], interval_start: dt.datetime, interval_end: dt.datetime,
              settings: Settings | None = None, engine: Any = None,
              options: dict[str, Any] | None = None) -> list[Batch]:
    """Run a shard (see :class:`ShardRunner`); returns its batches with their outcomes."""
    return ShardRunner(dataset, facilities, interval_start, interval_end, settings, engine, options).run()

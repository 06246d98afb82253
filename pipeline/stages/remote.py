"""Data zones on object storage: what a shard keeps on local disk, and what it uploads when.

Work stays local (``S06_WORK_DIR``): a remote drop is downloaded to the shard's scratch folder
before the ordinary landing runs on it, landed files and quarantine parts are written to local
copies of their zones, and the readers and spill files never touch the network. Uploads follow
the order that keeps the zones truthful:

1. after judging, **before** the load: each batch's landed files (raw zone) and its quarantine
   parts (replacing the parts of an earlier run of the batch) — a batch whose upload fails is
   failed (retryable) and not loaded, so staging never holds rows whose inputs are not kept;
2. after the load: the final ``manifest.json`` of each batch, last (its ``raw_path`` entries
   name the objects). A failed manifest upload fails the batch's task (retryable) after the
   load; the ledger row stands.

With local zones none of this runs: the stages write the zones directly, as before.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import TransportError, log_withheld

if TYPE_CHECKING:  # pragma: no cover
    from config.settings import Settings
    from config.storage import Zone
    from extractors.file_drop import LandedFile
    from pipeline.stages.state import Batch, Shard

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class RemoteZones:
    """The local stand-ins of one shard's remote zones, and their uploads."""

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.dataset = dataset
        self.raw: Zone = settings.zone("raw")
        self.quarantine: Zone = settings.zone("quarantine")
        work = settings.work_dir
        work.mkdir(parents=True, exist_ok=True)
        #: local scratch of this shard run: drop downloads, local copies of the raw and quarantine zones
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{dataset}-zones-", dir=work))
        self.raw_local = self.scratch / "raw" if self.raw.remote else Path(self.raw.location())
        self.quarantine_local = (self.scratch / "quarantine" if self.quarantine.remote
                                 else Path(self.quarantine.location()))

    @classmethod
    def for_settings(cls, settings: Settings, dataset: str) -> RemoteZones | None:
        """The remote-zone handling a shard needs, or None when every zone it writes or reads is local."""
        if not settings.remote and not settings.zone("drop").remote:
            return None
        return cls(settings, dataset)

    @staticmethod
    def rel(batch: Batch) -> str:
        """The batch's folder in the raw and quarantine zones: ``<dataset>/<facility>/<night>``."""
        return f"{batch.spec.dataset}/{batch.spec.facility}/{batch.spec.night.isoformat()}"

    # ------------------------------------------------------------------ before the load

    def upload_inputs(self, shard: Shard, cleaned: list[Batch], previous: dict[str, Any]) -> None:
        """Upload every processed batch's landed files, and the quarantine parts of the batches
        whose quarantine folder this run replaces (``cleaned``). A failing upload fails its batch."""
        cleaned_ids = {b.batch_id for b in cleaned}
        for batch in shard.batches:
            if batch.skipped_from is not None or batch.facility is None:
                continue
            try:
                if self.raw.remote:
                    self._upload_raw(batch)
                if self.quarantine.remote and batch.batch_id in cleaned_ids:
                    self._replace_quarantine(batch, listed=bool(batch.landed) or batch.batch_id in previous)
            except Exception as exc:
                log_withheld(log, f"uploading the files of batch {batch.batch_id}", exc)
                batch.fail(TransportError, f"cannot write the data zones on object storage: {type(exc).__name__}")

    def _upload_raw(self, batch: Batch) -> None:
        if not batch.raw_dir.is_dir():
            return
        rel = self.rel(batch)
        for path in sorted(batch.raw_dir.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.name != MANIFEST:
                self.raw.put_file(path, f"{rel}/{path.relative_to(batch.raw_dir).as_posix()}")

    def _replace_quarantine(self, batch: Batch, listed: bool) -> None:
        """The batch's parts replace those of its earlier run: upload, then remove the extra old ones.

        The folder is listed only for a batch that delivered something or ran before (a silent
        facility's first night costs no request).
        """
        rel = self.rel(batch)
        mine = sorted(p for p in batch.quarantine_dir.glob("part-*.parquet")) if batch.quarantine_dir.is_dir() else []
        for path in mine:
            self.quarantine.put_file(path, f"{rel}/{path.name}")
        if not listed:
            return
        keep = {p.name for p in mine}
        for entry in self.quarantine.list(rel):
            if not entry.is_dir and entry.name not in keep:
                self.quarantine.remove(f"{rel}/{entry.name}")

    # ------------------------------------------------------------------ after the load

    def published(self, batch: Batch, landed: list[LandedFile]) -> list[LandedFile]:
        """The landed files as the manifest names them: their objects in the raw zone."""
        if not self.raw.remote:
            return landed
        rel = self.rel(batch)
        out = []
        for f in landed:
            if f.raw_path:
                path = Path(f.raw_path)
                name = path.relative_to(batch.raw_dir).as_posix() if path.is_relative_to(batch.raw_dir) else path.name
                f = dataclasses.replace(f, raw_path=self.raw.location(f"{rel}/{name}"))
            out.append(f)
        return out

    def upload_manifest(self, batch: Batch) -> None:
        """Upload the batch's final manifest (after everything else of the batch)."""
        if not self.raw.remote:
            return
        path = batch.raw_dir / MANIFEST
        if not path.is_file():
            return
        try:
            self.raw.put_file(path, f"{self.rel(batch)}/{MANIFEST}")
        except Exception as exc:
            log_withheld(log, f"uploading the manifest of batch {batch.batch_id}", exc)
            batch.fail(TransportError, f"loaded, but its manifest could not be written to object storage: "
                                       f"{type(exc).__name__}")

    def cleanup(self) -> None:
        """Remove the shard's local scratch."""
        shutil.rmtree(self.scratch, ignore_errors=True)

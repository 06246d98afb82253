"""Stage *read*: landed files into string-typed Arrow chunks, grouped into units.

A *unit* is what is read and judged as one: every large file alone (streamed chunk by chunk, so
memory does not grow with the file), and the small files of one format together across all the
shard's facilities (one certificate per file is common, and thousands of facilities send a few
records each). Small files are read whole before any of their rows is used, so a broken one is
rejected before it touches its batch. Each chunk carries ``_source_file`` and ``_batch`` (the
position of its facility in the shard).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from extractors.formats import reader
from pipeline.stages.land import files_to_read

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract
    from extractors.file_drop import LandedFile
    from pipeline.stages.state import Batch, Shard

log = logging.getLogger(__name__)

#: Readers whose columns come from a header: a required column absent from it means the whole
#: file is in the wrong layout, not that each record lacks a value.
HEADER_READERS = frozenset({"csv"})
#: A progress line in the task log every this many rows of one large file.
PROGRESS_ROWS = 100_000


@dataclass(frozen=True)
class Item:
    """One file of one batch."""

    batch: Batch
    landed: LandedFile


@dataclass(frozen=True)
class Unit:
    """Files read and judged together: one large file, or the small files of one format."""

    format: str
    items: tuple[Item, ...]
    streamed: bool


def units(shard: Shard, small_file_bytes: int) -> list[Unit]:
    """Split the shard's files into units: small files grouped per format, large ones alone.

    Order: the small-file groups by format name, then the large files; within a group, the
    batches in shard order and each batch's files in name order (the order decides which of two
    versions of a record in one batch is the later one).
    """
    small: dict[str, list[Item]] = {}
    large: list[Unit] = []
    for batch in shard.active():
        for lf in files_to_read(batch):
            item = Item(batch, lf)
            if lf.size <= small_file_bytes:
                small.setdefault(lf.format or "", []).append(item)
            else:
                large.append(Unit(lf.format or "", (item,), streamed=True))
    return [Unit(fmt, tuple(items), streamed=False) for fmt, items in sorted(small.items())] + large


def read_file(item: Item, contract: DatasetContract, chunk_rows: int, shard: Shard) -> Iterator[pa.Table]:
    """Chunks of one file with the lineage columns; raises ``FileRejected`` if it cannot be read."""
    landed = item.landed
    fmt = contract.source_formats[landed.format or ""]
    read = reader(fmt.reader)
    rows = 0
    next_progress = PROGRESS_ROWS
    t0 = time.perf_counter()
    for chunk in read(Path(landed.raw_path), chunk_rows, encoding=landed.encoding, **fmt.reader_options):
        n = chunk.num_rows
        if rows == 0:
            missing = missing_required_columns(chunk, contract, landed.format or "", fmt.reader)
            if missing:
                from extractors.formats import FileRejected

                raise FileRejected(f"missing required column(s) {', '.join(missing)} in the header")
        chunk = chunk.append_column("_source_file", pa.array([landed.name] * n, pa.string()))
        chunk = chunk.append_column("_batch", pa.array([item.batch.index] * n, pa.int32()))
        rows += n
        if rows >= next_progress:
            log.info("%s: %d rows read from %s", item.batch.batch_id, rows, Path(landed.name).name)
            next_progress += PROGRESS_ROWS
        t0 = shard.timed("read", t0)
        yield chunk
        t0 = time.perf_counter()
    shard.timed("read", t0)


def missing_required_columns(chunk: pa.Table, contract: DatasetContract, fmt: str, reader_name: str) -> list[str]:
    """Source tags of required columns absent from a header-based file (empty: none missing)."""
    if reader_name not in HEADER_READERS:
        return []
    present = set(chunk.column_names)
    missing = []
    for name, spec in contract.columns.items():
        if not spec.required:
            continue
        tag = contract.tag_for(name, fmt)
        if tag is not None and tag not in present:
            missing.append(tag)
    return missing

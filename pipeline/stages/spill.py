"""Stage *spill*: valid rows to restricted work files, held-back rows to the quarantine zone.

Nothing touches staging before every batch of the shard has been judged, and memory stays
bounded: valid rows wait in Parquet work files (lz4) under the data root's ``work/`` folder,
which the load reads back in bounded chunks and the runner deletes at the end. A unit whose file
turns out unreadable half-way discards its work file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.stages.state import Batch


class SpillWriter:
    """One work file of valid rows, opened on the first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table | None) -> None:
        """Append rows (nothing for None or an empty table)."""
        if table is None or table.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(str(self.path), table.schema, compression="lz4")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None when nothing was written."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        return self.path

    def discard(self) -> None:
        """Forget everything written (the unit was rejected)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.path.unlink(missing_ok=True)
        self.rows = 0


def read_spills(paths: list[Path], columns: list[str] | None = None, batch_ids: set[str] | None = None,
                batch_size: int = 100_000) -> Iterator[pa.Table]:
    """The valid rows back from the work files, optionally only some columns and batches."""
    wanted = pa.array(sorted(batch_ids), pa.string()) if batch_ids is not None else None
    read_cols = columns
    if wanted is not None and columns is not None and "batch_id" not in columns:
        read_cols = [*columns, "batch_id"]
    for path in paths:
        pf = pq.ParquetFile(path)
        for rb in pf.iter_batches(batch_size=batch_size, columns=read_cols):
            table = pa.Table.from_batches([rb])
            if wanted is not None:
                table = table.filter(pc.is_in(table.column("batch_id"), value_set=wanted))
                if columns is not None and read_cols is not columns:
                    table = table.select(columns)
            if table.num_rows:
                yield table


def write_quarantine_zone(batch: Batch, tables: list[pa.Table]) -> None:
    """Keep a batch's held-back rows as received (restricted zone) so they can be re-processed."""
    if not tables:
        return
    folder = batch.quarantine_dir
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables(tables, promote_options="default")
    target = folder / f"part-{batch.quarantine_parts:05d}.parquet"
    batch.quarantine_parts += 1
    tmp = target.with_name("." + target.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(target)

"""Stage *spill*: valid rows to restricted work files, held-back rows to the quarantine zone.

Nothing touches staging before every batch of the shard has been judged, and memory stays
bounded: valid rows wait in work files under the local scratch folder (``Settings.work_dir``),
which the load reads back in bounded chunks and the runner deletes at the end. A unit whose file
turns out unreadable half-way discards its work file.

The work files are Arrow IPC files with lz4-compressed buffers: written and read back without
any encoding (the load reads each file two or three times, once per column subset it needs). On
a million births the shard's *spill* stage took 0.65 s where lz4 Parquet took 3.1
(``bench.bench_pipeline``), at 240 MB on disk instead of 105. They live only as long as the shard
run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.stages.state import Batch


#: Buffer compression of the work files (Arrow IPC: "lz4", "zstd" or None).
SPILL_COMPRESSION = "lz4"
#: Rows per record batch in a work file (what one read back holds decompressed, per column).
SPILL_BATCH_ROWS = 100_000


class SpillWriter:
    """One work file of valid rows, opened on the first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: ipc.RecordBatchFileWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table | None) -> None:
        """Append rows (nothing for None or an empty table)."""
        if table is None or table.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = ipc.new_file(str(self.path), table.schema,
                                        options=ipc.IpcWriteOptions(compression=SPILL_COMPRESSION))
        self._writer.write_table(table, max_chunksize=SPILL_BATCH_ROWS)  # bounded reads back
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
        with pa.OSFile(str(path), "rb") as source:
            reader = ipc.open_file(source)
            fields = None
            if read_cols is not None:
                names = reader.schema.names
                fields = [names.index(c) for c in read_cols]
                reader = ipc.open_file(source, options=ipc.IpcReadOptions(included_fields=fields))
            for i in range(reader.num_record_batches):
                rb = reader.get_batch(i)
                if fields is not None:  # in the order asked for (the file's order otherwise)
                    rb = rb.select(read_cols)
                for start in range(0, rb.num_rows, batch_size):
                    table = pa.Table.from_batches([rb.slice(start, batch_size)])
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

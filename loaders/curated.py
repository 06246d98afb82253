"""Curated Parquet for analysts: pseudonymized, typed, zstd, hive-partitioned, atomically replaced.

A partition (``<dataset>/<year col>=YYYY/<month col>=MM/``) holds exactly one file,
``data.parquet``, rebuilt from the staging store's *current* rows of that month whenever a batch
touches it. The new file is written under a hidden temporary name in the same folder and then
``os.replace``-d over the old one, so a reader sees the old file or the new file, never half a
file, and a crash leaves at most a hidden temp file that every Parquet reader ignores. Because
the content comes from the current staging rows, a re-issued certificate appears once, and a
late record rewrites only the month it belongs to.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from loaders.schema import SA_TYPES, data_columns, dataset_tables
from transforms.normalize import ARROW_TYPES, not_measured_column, year_column
from transforms.pseudonymize import pseudonymize

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from config.contracts import DatasetContract

#: Lineage columns analysts get; the rest (file paths, hashes, version keys) stay in staging.
CURATED_LINEAGE = ("facility_code", "source_format", "spec_version", "batch_id")
PARQUET_FILE = "data.parquet"
_SA_TO_ARROW = {
    sa.Text: pa.string(),
    sa.Integer: pa.int32(),
    sa.BigInteger: pa.int64(),
    sa.Boolean: pa.bool_(),
    sa.Date: pa.date32(),
    sa.DateTime: pa.timestamp("s"),
}


def partition_dir(root: Path, contract: DatasetContract, year: int, month: int) -> Path:
    """Folder of one month partition."""
    ycol, mcol = contract.partition_by
    return root / contract.dataset / f"{ycol}={year:04d}" / f"{mcol}={month:02d}"


def curated_schema(contract: DatasetContract) -> pa.Schema:
    """The analyst-facing schema: what each column becomes under its ``curated`` action."""
    fields: list[pa.Field] = []
    for name, spec in contract.columns.items():
        if spec.curated == "keep":
            # Parquet has no second-precision timestamp: declare what readers get back (ms).
            arrow_type = pa.timestamp("ms") if spec.type == "datetime" else ARROW_TYPES[spec.type]
            fields.append(pa.field(name, arrow_type))
        elif spec.curated == "pseudonymize":
            fields.append(pa.field(f"{name}_pseudonym", pa.string()))
        if spec.year_only_allowed and spec.curated in ("keep", "year"):
            fields.append(pa.field(year_column(name), pa.int32()))
        elif spec.curated == "year":
            fields.append(pa.field(year_column(name), pa.int32()))
        if spec.not_measured_values and spec.curated == "keep":
            fields.append(pa.field(not_measured_column(name), pa.bool_()))
    fields += [pa.field(n, pa.string()) for n in CURATED_LINEAGE]
    return pa.schema(fields)


def to_curated(table: pa.Table, contract: DatasetContract, key: bytes) -> pa.Table:
    """Apply each column's curated action (keep / pseudonymize / year / drop)."""
    schema = curated_schema(contract)
    out: dict[str, pa.Array] = {}
    for name, spec in contract.columns.items():
        col = table.column(name)
        if spec.curated == "keep":
            out[name] = col
        elif spec.curated == "pseudonymize":
            out[f"{name}_pseudonym"] = pseudonymize(col, key, domain=spec.pseudonym_domain or name)
        ycol = year_column(name)
        if ycol in schema.names:
            out[ycol] = table.column(ycol) if ycol in table.column_names else pc.cast(pc.year(col), pa.int32())
        if spec.not_measured_values and spec.curated == "keep":
            out[not_measured_column(name)] = table.column(not_measured_column(name))
    for name in CURATED_LINEAGE:
        out[name] = table.column(name)
    return pa.table(out).cast(schema)


def _read_month(engine: Engine, contract: DatasetContract, year: int, month: int) -> pa.Table:
    current, _ = dataset_tables(contract.dataset)
    names = [n for n, _ in data_columns(contract)]
    start = dt.datetime(year, month, 1)
    end = start + dt.timedelta(days=calendar.monthrange(year, month)[1])
    event = current.c[contract.event_date]
    q = (
        sa.select(*[current.c[n] for n in names])
        .where(event >= start, event < end)
        .order_by(*[current.c[k] for k in contract.natural_key])
    )
    types = {n: _SA_TO_ARROW[t] for n, t in data_columns(contract)}
    cols: dict[str, list[Any]] = {n: [] for n in names}
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=50_000).execute(q)
        for part in result.partitions():
            for i, column in enumerate(zip(*part, strict=True)):
                cols[names[i]].extend(column)
    return pa.table({n: pa.array(cols[n], type=types[n]) for n in names})


def _atomic_write(table: pa.Table, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PARQUET_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{PARQUET_FILE}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=256_000)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def publish_partitions(
    engine: Engine, contract: DatasetContract, partitions: set[tuple[int, int]], root: Path, key: bytes
) -> list[str]:
    """Rebuild the given month partitions from current staging rows.

    Args:
        engine: the staging store.
        contract: dataset contract.
        partitions: ``(year, month)`` pairs touched by the batches being published.
        root: the curated zone root.
        key: the pseudonymization key.

    Returns:
        Paths of the files written (or removed, when a month has no rows any more).
    """
    written: list[str] = []
    for year, month in sorted(partitions):
        rows = _read_month(engine, contract, year, month)
        folder = partition_dir(root, contract, year, month)
        if rows.num_rows == 0:
            (folder / PARQUET_FILE).unlink(missing_ok=True)
            continue
        written.append(str(_atomic_write(to_curated(rows, contract, key), folder)))
    return written


__all__ = ["SA_TYPES", "curated_schema", "partition_dir", "publish_partitions", "to_curated"]

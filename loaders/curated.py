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
import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from loaders.schema import data_columns, dataset_tables
from transforms.icd10_chapters import CHAPTERS, first_chapter, split_list
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


#: The pipeline-added (lineage) columns, documented like contract columns: (Vietnamese, English).
LINEAGE_DOCS: dict[str, tuple[str, str]] = {
    "facility_code": ("Mã cơ sở đã gửi bản ghi (5 ký tự, theo danh sách cơ sở của hệ thống)",
                      "Code of the facility that sent the record (5 characters, as in the facility registry)"),
    "source_format": ("Định dạng nguồn của bản ghi (khoá trong hợp đồng dữ liệu: xml9, pl02, csv, gksk_jsonl...)",
                      "Source format the record arrived in (the contract's key: xml9, pl02, csv, gksk_jsonl...)"),
    "spec_version": ("Phiên bản đặc tả của định dạng nguồn (ví dụ QD3176-2025)",
                     "Specification version of the source format (e.g. QD3176-2025)"),
    "batch_id": ("Lô đã nạp phiên bản này: nhóm dữ liệu/cơ sở/đêm",
                 "Batch that loaded this version: dataset/facility/night"),
}
_LOGICAL = {"string": "text", "code": "code (text)", "id": "identifier", "name": "name", "text": "free text",
            "date": "date", "datetime": "timestamp without time zone", "int": "integer", "bool": "boolean"}


def _meta(**items: Any) -> dict[bytes, bytes]:
    """Parquet field metadata: keys and values as UTF-8 bytes, empty items left out."""
    out: dict[bytes, bytes] = {}
    for key, value in items.items():
        if value is None or value == "" or value == {} or value == ():
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        out[key.encode()] = text.encode("utf-8")
    return out


def _values(spec_values: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {code: {"vi": vi, "en": en} for code, (vi, en) in spec_values.items()}


def curated_fields(contract: DatasetContract) -> list[tuple[pa.Field, str]]:
    """Every curated column as an Arrow field with its dictionary in the field metadata.

    Returns ``(field, contract column it comes from)`` pairs; lineage columns name themselves.
    Metadata keys: ``description_vi``, ``description_en``, ``logical_type``, ``unit``,
    ``values`` (JSON ``{code: {vi, en}}``), ``timezone`` (naive timestamps), ``personal_data``,
    ``treatment``, ``rules``, ``source_column``.
    """
    tz = contract.timezone
    out: list[tuple[pa.Field, str]] = []
    for name, spec in contract.columns.items():
        base = {"personal_data": spec.pii, "rules": ",".join(spec.rules), "source_column": name}
        if spec.curated == "keep":
            # Parquet has no second-precision timestamp: declare what readers get back (ms).
            arrow_type = pa.timestamp("ms") if spec.type == "datetime" else ARROW_TYPES[spec.type]
            logical = _LOGICAL[spec.type]
            if spec.curated_list:
                arrow_type, logical = pa.list_(pa.string()), f"list of {_LOGICAL[spec.type]}"
            meta = _meta(description_vi=spec.description_vi, description_en=spec.description_en,
                         logical_type=logical, unit=spec.unit, values=_values(spec.values),
                         timezone=f"{tz} (naive local wall-clock time)" if spec.type == "datetime" else None,
                         treatment="kept as in staging" + (f"; split on '{spec.curated_list}' into a list"
                                                           if spec.curated_list else ""), **base)
            out.append((pa.field(name, arrow_type, metadata=meta), name))
            if spec.curated_chapter:
                chapters = {k: {"vi": v[2], "en": v[3]} for k, v in CHAPTERS.items()}
                out.append((pa.field(spec.curated_chapter, pa.string(), metadata=_meta(
                    description_vi=f"Chương ICD-10 của mã đầu tiên trong {name}",
                    description_en=f"ICD-10 chapter of the first code in {name}",
                    logical_type="code (Roman numeral)", values=chapters,
                    treatment=f"derived from {name} (WHO ICD-10 2019 chapter ranges)", **base)), name))
        elif spec.curated == "pseudonymize":
            domain = spec.pseudonym_domain or name
            out.append((pa.field(f"{name}_pseudonym", pa.string(), metadata=_meta(
                description_vi=f"Bút danh của: {spec.description_vi}", description_en=f"Pseudonym of: {spec.description_en}",
                logical_type="pseudonym (64 hex characters)",
                treatment=f"HMAC-SHA256 keyed pseudonym, domain '{domain}': the same value gives the same pseudonym "
                          "in every dataset that shares the domain; the value itself is not in curated Parquet",
                **base)), name))
        if (spec.year_only_allowed and spec.curated in ("keep", "year")) or spec.curated == "year":
            treatment = ("reduced to the year (the full date is not in curated Parquet)" if spec.curated == "year"
                         else "year of the date (set even when the source sent only a year)")
            out.append((pa.field(year_column(name), pa.int32(), metadata=_meta(
                description_vi=f"Năm của: {spec.description_vi}", description_en=f"Year of: {spec.description_en}",
                logical_type="integer (year)", treatment=treatment, **base)), name))
        if spec.not_measured_values and spec.curated == "keep":
            out.append((pa.field(not_measured_column(name), pa.bool_(), metadata=_meta(
                description_vi=f"Đúng khi nguồn ghi là không đo ({', '.join(spec.not_measured_values)}); khi đó {name} để trống",
                description_en=f"True when the source said not measured ({', '.join(spec.not_measured_values)}); "
                               f"{name} is then NULL",
                logical_type="boolean", treatment="derived", **base)), name))
    for n in CURATED_LINEAGE:
        vi, en = LINEAGE_DOCS[n]
        out.append((pa.field(n, pa.string(), metadata=_meta(
            description_vi=vi, description_en=en, logical_type="code (text)", personal_data="none",
            treatment="added by the pipeline", source_column=n)), n))
    return out


def curated_schema(contract: DatasetContract) -> pa.Schema:
    """The analyst-facing schema: what each column becomes under its ``curated`` action.

    Every field carries its dictionary entry as Parquet field metadata (see :func:`curated_fields`);
    the schema metadata names the dataset, its title and the timezone of naive timestamps.
    """
    return pa.schema([f for f, _ in curated_fields(contract)], metadata=_meta(**{
        "s06.dataset": contract.dataset, "s06.title": contract.title,
        "s06.naive_timestamps": f"local wall-clock time, {contract.timezone}",
        "s06.dictionary": f"docs/data_dictionary/{contract.dataset}.md"}))


def curated_source_columns(contract: DatasetContract) -> set[str]:
    """Stored columns that :func:`to_curated` reads (dropped columns are never fetched)."""
    needed = set(CURATED_LINEAGE)
    for name, spec in contract.columns.items():
        if spec.curated != "drop":
            needed.add(name)
            needed.add(year_column(name))
            needed.add(not_measured_column(name))
    return needed


def to_curated(table: pa.Table, contract: DatasetContract, key: bytes) -> pa.Table:
    """Apply each column's curated action (keep / pseudonymize / year / drop)."""
    schema = curated_schema(contract)
    out: dict[str, pa.Array] = {}
    for name, spec in contract.columns.items():
        if spec.curated == "drop":
            continue
        col = table.column(name)
        if spec.curated == "keep" and spec.curated_list:
            out[name] = split_list(col, spec.curated_list)
            if spec.curated_chapter:
                out[spec.curated_chapter] = first_chapter(out[name])
        elif spec.curated == "keep":
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
    return pa.table({f.name: out[f.name] for f in schema}).cast(schema)


def _month_chunks(engine: Engine, contract: DatasetContract, year: int, month: int,
                  chunk_rows: int = 100_000) -> Iterator[pa.Table]:
    """Current rows of one month, in natural-key order, as Arrow chunks (bounded memory).

    Uses the DB-API cursor directly: SQLAlchemy's per-value result processing costs more than
    the whole Parquet write. Dates arrive as ISO strings from SQLite and as ``date``/``datetime``
    objects from PostgreSQL; both are converted vectorized.
    """
    current, _ = dataset_tables(contract.dataset)
    needed = curated_source_columns(contract)
    cols = [(n, t) for n, t in data_columns(contract) if n in needed]
    names = [n for n, _ in cols]
    types = {n: _SA_TO_ARROW[t] for n, t in cols}
    start = dt.datetime(year, month, 1)
    end = start + dt.timedelta(days=calendar.monthrange(year, month)[1])
    event = current.c[contract.event_date]
    if contract.columns[contract.event_date].type == "date":
        # A DATE column compares as a date ('2026-01-01' < '2026-01-01 00:00:00' as SQLite text).
        start, end = start.date(), end.date()  # type: ignore[assignment]
    stmt = (
        sa.select(*[current.c[n] for n in names])
        .where(event >= start, event < end)
        # Tombstones stay in staging (with their history) but are not analysable records.
        .where(sa.or_(current.c.record_status.is_(None), current.c.record_status != "cancelled"))
        .order_by(*[current.c[k] for k in contract.natural_key])
    )
    with engine.connect() as conn:
        compiled = stmt.compile(conn.engine, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        positional = [params[k] for k in compiled.positiontup] if compiled.positiontup else params
        if conn.dialect.name == "sqlite":
            positional = [v.strftime("%Y-%m-%d %H:%M:%S.000000") if isinstance(v, dt.datetime)
                          else v.isoformat() if isinstance(v, dt.date) else v for v in positional]
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(str(compiled), positional)
        while rows := cursor.fetchmany(chunk_rows):
            columns = list(zip(*rows, strict=True))
            yield pa.table({n: _to_arrow(columns[i], types[n]) for i, n in enumerate(names)})
        cursor.close()


def _to_arrow(values: tuple[Any, ...], arrow_type: pa.DataType) -> pa.Array:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, str) and (pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)):
        text = pc.utf8_slice_codeunits(pa.array(values, pa.string()), 0, 19 if pa.types.is_timestamp(arrow_type) else 10)
        fmt = "%Y-%m-%d %H:%M:%S" if pa.types.is_timestamp(arrow_type) else "%Y-%m-%d"
        parsed = pc.strptime(text, format=fmt, unit="s")
        return parsed.cast(arrow_type)
    if pa.types.is_boolean(arrow_type) and isinstance(sample, int):
        return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
    return pa.array(values, type=arrow_type)


def _atomic_write(chunks: Iterator[pa.Table], folder: Path, schema: pa.Schema) -> Path | None:
    """Stream chunks into a hidden temp file, then rename it over ``data.parquet``."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PARQUET_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{PARQUET_FILE}.", suffix=".tmp", dir=folder)
    os.close(fd)
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for chunk in chunks:
                writer.write_table(chunk, row_group_size=256_000)
                rows += chunk.num_rows
        if rows == 0:
            Path(tmp).unlink()
            target.unlink(missing_ok=True)
            return None
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
    schema = curated_schema(contract)
    for year, month in sorted(partitions):
        folder = partition_dir(root, contract, year, month)
        # Read-then-swap under a lock per month: a nightly run and a backfill publishing the same
        # month must not let the one that read staging first swap its (older) file in last.
        with _partition_lock(folder):
            chunks = (to_curated(t, contract, key) for t in _month_chunks(engine, contract, year, month))
            path = _atomic_write(chunks, folder, schema)
        if path is not None:
            written.append(str(path))
    return written


@contextlib.contextmanager
def _partition_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<folder>.lock`` (processes on this host or a POSIX shared mount)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


__all__ = ["LINEAGE_DOCS", "curated_fields", "curated_schema", "partition_dir", "publish_partitions", "to_curated"]

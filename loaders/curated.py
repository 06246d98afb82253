"""Curated Parquet for analysts: pseudonymized, typed, zstd, hive-partitioned, atomic files.

Layout: ``<dataset>/<year col>=YYYY/<month col>=MM/part-<nights>.parquet``. A month partition
holds *parts*: ``part-2026-11-21.parquet`` holds the current rows of that month that the batches
of night 2026-11-21 delivered; a compacted ``part-2026-11-02_2026-11-08.parquet`` holds those of a
range of nights. Every current, active row of the month is in exactly one part (the part of the
night whose batch made it current), so readers (DuckDB, pandas, Polars, Spark) see each record
once, and a night's publish costs what the night delivered, not what the month already holds:

* the night's own part is rebuilt from the staging rows of that night's batches (an index
  lookup through the ledger), then
* the parts that held the previous versions of the keys this night replaced (re-issues,
  corrections, cancellations) are rebuilt so those versions disappear — a single night's part
  cheaply, a compacted range by scanning the month.

Each file is written under a hidden temporary name and renamed into place, so a reader sees a
whole old or a whole new file, never half of one; a crash leaves at most a hidden temp file
that every Parquet reader ignores. While a night is being published (seconds), a record that
night re-issued can briefly be in both its old and its new part; query after the DAG's publish
task (its Asset event). Each month is published under a lock (in the staging database on
PostgreSQL), so a nightly run and a backfill never swap an older file in last.

The zone may be a local folder or object storage (:mod:`config.storage`): on object storage a
part is prepared on local disk and uploaded as one object (readers see the old object or the new
one), listings and removals go through fsspec, and the layout is the same.
:func:`compact` merges the parts of past weeks (fewer, larger files); :func:`publish_partitions`
rebuilds whole months (repairs, tests).
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from config.storage import LocalZone, Zone
from loaders.prefetch import prefetched
from loaders.schema import data_columns, dataset_tables
from transforms.icd10_chapters import CHAPTERS, first_chapter, split_list
from transforms.normalize import ARROW_TYPES, not_measured_column, year_column
from transforms.pseudonymize import pseudonymize

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from config.contracts import DatasetContract

#: Lineage columns analysts get; the rest (file paths, hashes, version keys) stay in staging.
CURATED_LINEAGE = ("facility_code", "source_format", "spec_version", "batch_id")
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
    return root / month_rel(contract, year, month)


def month_rel(contract: DatasetContract, year: int, month: int) -> str:
    """A month partition's folder relative to the curated zone: ``<dataset>/<y>=YYYY/<m>=MM``."""
    ycol, mcol = contract.partition_by
    return f"{contract.dataset}/{ycol}={year:04d}/{mcol}={month:02d}"


def as_zone(root: Path | Zone) -> Zone:
    """The curated zone: a :class:`~config.storage.Zone`, or a local folder."""
    return root if isinstance(root, Zone) else LocalZone(root)


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


#: A run of nine or more digits, ASCII or full-width, with up to two separators between them
#: (space, dot, dash, en/em dash, slash, parentheses) and an optional leading ``+`` or ``(``: a
#: phone number (``(091) 234-5678``, ``0912–345–678``), a citizen ID, an insurance number typed
#: into a text field. It may also catch a long date-time or amount written there (masked too:
#: erring on the side of the person).
DIGIT_RUN = r"[+(]?[0-9０-９](?:[ .\-–—/()]{0,2}[0-9０-９]){8,}"
#: What such a run becomes in curated Parquet.
DIGIT_RUN_MASK = "[số đã ẩn]"


def mask_digit_runs(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Kept text with every :data:`DIGIT_RUN` replaced by :data:`DIGIT_RUN_MASK`.

    Curated Parquet keeps a few short descriptive text columns (a professional title, a licence
    issuer, disease names, ...): no column meant for a person's identifier, but a facility's
    system may let a clerk type one in. None of those columns has a legitimate nine-digit number.
    """
    return pc.replace_substring_regex(col, DIGIT_RUN, DIGIT_RUN_MASK)


def _kept_text(spec: Any) -> bool:
    return spec.curated == "keep" and spec.type == "text"


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
                                                           if spec.curated_list else "")
                         + (f"; runs of nine or more digits (a phone or ID number typed in) become "
                            f"'{DIGIT_RUN_MASK}'" if _kept_text(spec) else ""), **base)
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


def to_curated(table: pa.Table, contract: DatasetContract, key: bytes,
               memo: dict[str, dict[str, str]] | None = None) -> pa.Table:
    """Apply each column's curated action (keep / pseudonymize / year / drop).

    ``memo``: pseudonyms already computed, per domain, shared by the chunks of one publish (a
    mother or a card number met in an earlier chunk is not hashed again)."""
    schema = curated_schema(contract)
    out: dict[str, pa.Array] = {}
    for name, spec in contract.columns.items():
        if spec.curated == "drop":
            continue
        col = table.column(name)
        if _kept_text(spec):
            col = mask_digit_runs(col)
        if spec.curated == "keep" and spec.curated_list:
            out[name] = split_list(col, spec.curated_list)
            if spec.curated_chapter:
                out[spec.curated_chapter] = first_chapter(out[name])
        elif spec.curated == "keep":
            out[name] = col
        elif spec.curated == "pseudonymize":
            domain = spec.pseudonym_domain or name
            out[f"{name}_pseudonym"] = pseudonymize(col, key, domain=domain,
                                                    memo=None if memo is None else memo.setdefault(domain, {}))
        ycol = year_column(name)
        if ycol in schema.names:
            out[ycol] = table.column(ycol) if ycol in table.column_names else pc.cast(pc.year(col), pa.int32())
        if spec.not_measured_values and spec.curated == "keep":
            out[not_measured_column(name)] = table.column(not_measured_column(name))
    for name in CURATED_LINEAGE:
        out[name] = table.column(name)
    return pa.table({f.name: out[f.name] for f in schema}).cast(schema)


PART_RE = re.compile(r"^part-(\d{4}-\d{2}-\d{2})(?:_(\d{4}-\d{2}-\d{2}))?\.parquet$")
#: Night of rows whose batch id does not end in a date (rows loaded outside the pipeline).
NO_NIGHT = "0000-00-00"


def part_name(first: str, last: str | None = None) -> str:
    """``part-<first>.parquet`` for one night, ``part-<first>_<last>.parquet`` for a range."""
    return f"part-{first}.parquet" if last is None or last == first else f"part-{first}_{last}.parquet"


def parse_part(name: str) -> tuple[str, str] | None:
    """The night range ``(first, last)`` of a part file name, or None if it is not a part."""
    m = PART_RE.match(name)
    if m is None:
        return None
    return m.group(1), m.group(2) or m.group(1)


def parts(folder: Path | Zone, rel: str = "") -> dict[str, tuple[str, str]]:
    """The part files of a month folder (a local folder, or ``rel`` in a zone) and their night ranges."""
    if isinstance(folder, Zone):
        return {e.name: rng for e in folder.list(rel) if not e.is_dir and (rng := parse_part(e.name)) is not None}
    if not folder.is_dir():
        return {}
    found = {}
    for p in folder.iterdir():
        rng = parse_part(p.name)
        if rng is not None:
            found[p.name] = rng
    return found


def _night_of(column: Any) -> Any:
    """SQL: the night a batch id ends with (its last ten characters)."""
    return sa.func.substr(column, sa.func.length(column) - 9)


def _month_chunks(engine: Engine, contract: DatasetContract, year: int | None, month: int | None, *,
                  nights: list[str] | None = None, night_range: tuple[str, str] | None = None,
                  chunk_rows: int = 100_000, ordered: bool = True) -> Iterator[pa.Table]:
    """Current, active rows of one month, in natural-key order, as Arrow chunks (bounded memory).

    ``nights``: only rows whose batch belongs to these nights (found through the ledger's night
    index: cost follows those nights); ``night_range``: only rows whose batch night falls in the
    range (a scan of the month); neither: the whole month. ``year``/``month`` None: every month
    (used with ``nights``: one read of a night instead of one per month it touched). Natural-key
    order is byte (code point) order whatever the server's collation (:func:`_byte_order`), the
    order Arrow sorts in; ``ordered=False`` leaves the rows in storage order (the caller sorts).

    PostgreSQL is read straight into Arrow through ADBC (:func:`_arrow_chunks`). SQLite uses the
    DB-API cursor directly (SQLAlchemy's per-value result processing costs more than the whole
    Parquet write); its dates arrive as ISO strings and are converted vectorized.
    """
    from loaders.schema import batch_ledger

    current, _ = dataset_tables(contract.dataset)
    needed = curated_source_columns(contract) | {contract.event_date}  # the month split reads it
    cols = [(n, t) for n, t in data_columns(contract) if n in needed]
    names = [n for n, _ in cols]
    types = {n: _SA_TO_ARROW[t] for n, t in cols}
    event = current.c[contract.event_date]
    stmt = (
        sa.select(*[current.c[n] for n in names])
        # Tombstones stay in staging (with their history) but are not analysable records.
        .where(sa.or_(current.c.record_status.is_(None), current.c.record_status != "cancelled"))
    )
    if ordered:
        stmt = stmt.order_by(*[_byte_order(current.c[k], engine) for k in contract.natural_key])
    if year is not None and month is not None:
        start = dt.datetime(year, month, 1)
        end = start + dt.timedelta(days=calendar.monthrange(year, month)[1])
        if contract.columns[contract.event_date].type == "date":
            # A DATE column compares as a date ('2026-01-01' < '2026-01-01 00:00:00' as SQLite text).
            start, end = start.date(), end.date()  # type: ignore[assignment]
        stmt = stmt.where(event >= start, event < end)
    if nights is not None:
        of_nights = sa.select(batch_ledger.c.batch_id).where(
            batch_ledger.c.dataset == contract.dataset, batch_ledger.c.night.in_(nights))
        stmt = stmt.where(current.c.batch_id.in_(of_nights))
    if night_range is not None:
        night = _night_of(current.c.batch_id)
        if night_range == (NO_NIGHT, NO_NIGHT):
            # rows whose batch id does not end in a night (loaded outside the nightly pipeline)
            op = "GLOB" if engine.dialect.name == "sqlite" else "~"
            stmt = stmt.where(sa.not_(night.op(op)(_DATE_PATTERN[engine.dialect.name])))
        else:
            stmt = stmt.where(night >= night_range[0], night <= night_range[1])
    if engine.dialect.name == "postgresql":
        # Rendered for a named-parameter dialect: with the engine's (pyformat) dialect every '%'
        # in a literal would be doubled.
        from sqlalchemy.dialects import postgresql

        literal = stmt.compile(dialect=postgresql.dialect(paramstyle="named"), compile_kwargs={"literal_binds": True})
        yield from _arrow_chunks(engine, str(literal), names, types, chunk_rows)
        return
    with engine.connect() as conn:
        compiled = stmt.compile(conn.engine, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        positional = [params[k] for k in compiled.positiontup] if compiled.positiontup else params
        if conn.dialect.name == "sqlite":
            positional = [v.strftime("%Y-%m-%d %H:%M:%S.000000") if isinstance(v, dt.datetime)
                          else v.isoformat() if isinstance(v, dt.date) else v for v in positional]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open connection
        cursor.execute(str(compiled), positional)
        while rows := cursor.fetchmany(chunk_rows):
            columns = list(zip(*rows, strict=True))
            yield pa.table({n: _to_arrow(columns[i], types[n]) for i, n in enumerate(names)})
        cursor.close()


def _byte_order(column: Any, engine: Engine) -> Any:
    """A key column ordered by its bytes (code point order), as Arrow sorts: PostgreSQL's database
    collation may order text otherwise (``en_US``), SQLite compares bytes already."""
    if engine.dialect.name == "postgresql" and isinstance(column.type, sa.String):
        return column.collate("C")
    return column


def _arrow_chunks(engine: Engine, query: str, names: list[str], types: dict[str, pa.DataType],
                  chunk_rows: int) -> Iterator[pa.Table]:
    """PostgreSQL: the query's rows as Arrow through ADBC (``adbc-driver-postgresql``).

    The driver reads PostgreSQL's binary COPY stream into Arrow columns in C++: a million-row night
    read back for its curated parts takes a few seconds instead of the ten or more spent fetching
    tuples through the DB-API and converting them value by value (psycopg's ``COPY TO`` still hands
    Python one row at a time). Record batches are re-chunked to about ``chunk_rows`` rows, so
    memory stays bounded by a chunk, not by the month. The statement carries its values as
    literals (rendered and quoted by SQLAlchemy): the driver reads through COPY only without bound
    parameters. Autocommit, so no transaction stays open between months.
    """
    import adbc_driver_postgresql.dbapi as adbc

    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in cursor.fetch_record_batch():
            pending.append(_retype(batch, names, types))
            rows += batch.num_rows
            if rows >= chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, rows = [], 0
        if pending:
            yield pa.Table.from_batches(pending)


def _retype(batch: pa.RecordBatch, names: list[str], types: dict[str, pa.DataType]) -> pa.RecordBatch:
    """The batch with the curated source types (timestamps at seconds, the driver's field metadata dropped)."""
    return pa.RecordBatch.from_arrays(
        [col if col.type == types[name] else col.cast(types[name], safe=False)
         for name, col in zip(names, batch.columns, strict=True)],
        schema=pa.schema([pa.field(n, types[n]) for n in names]))


#: What a batch id's night looks like (SQLite GLOB / PostgreSQL regex).
_DATE_PATTERN = {"sqlite": "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", "postgresql": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


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


def _stage_file(chunks: Iterator[pa.Table], zone: Zone, folder: str, name: str, schema: pa.Schema) -> Path | None:
    """Stream chunks into a temp file for ``folder/name`` (a hidden sibling locally, a local file
    to upload for object storage); None (and no file) when empty."""
    tmp = zone.temp_for(f"{folder}/{name}")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for chunk in chunks:
                writer.write_table(chunk, row_group_size=256_000)
                rows += chunk.num_rows
    except BaseException:
        zone.discard(tmp)
        raise
    if rows == 0:
        zone.discard(tmp)
        return None
    return tmp


def _commit_files(zone: Zone, folder: str, staged: dict[str, Path | None]) -> list[str]:
    """Put the staged files in place (rename, or one upload each), or remove the parts that became empty."""
    written = []
    for name, tmp in staged.items():
        rel = f"{folder}/{name}"
        if tmp is None:
            zone.remove(rel)
        else:
            zone.commit(tmp, rel)
            written.append(zone.location(rel))
    return written


def _chunks_for(engine: Engine, contract: DatasetContract, key: bytes, year: int, month: int,
                rng: tuple[str, str], single_night: bool) -> Iterator[pa.Table]:
    """The curated rows a part covering the nights ``rng`` must hold."""
    if single_night and rng[0] == rng[1] and rng[0] != NO_NIGHT:
        source = _month_chunks(engine, contract, year, month, nights=[rng[0]])
    else:
        source = _month_chunks(engine, contract, year, month, night_range=rng)
    return (to_curated(t, contract, key) for t in source)


def previous_parts(engine: Engine, contract: DatasetContract, night: str) -> set[tuple[str, int, int]]:
    """``(night, year, month)`` of the parts that held the previous current version of each key
    that night ``night``'s batches made current (so those versions can be dropped from them)."""
    from loaders.schema import batch_ledger

    current, versions = dataset_tables(contract.dataset)
    keys = list(contract.natural_key)
    mine = (
        sa.select(*[current.c[k] for k in keys], current.c.version_key, current.c.batch_id)
        .where(current.c.batch_id.in_(
            sa.select(batch_ledger.c.batch_id).where(batch_ledger.c.dataset == contract.dataset,
                                                     batch_ledger.c.night == night)))
        .subquery("mine")
    )
    on = sa.and_(*[versions.c[k] == mine.c[k] for k in keys])
    prev = (
        sa.select(*[versions.c[k] for k in keys], sa.func.max(versions.c.version_key).label("vk"))
        .select_from(versions.join(mine, on))
        .where(versions.c.version_key < mine.c.version_key, versions.c.batch_id != mine.c.batch_id)
        .group_by(*[versions.c[k] for k in keys])
        .subquery("prev")
    )
    event = versions.c[contract.event_date]
    stmt = (
        sa.select(versions.c.batch_id, event)
        .select_from(versions.join(prev, sa.and_(*[versions.c[k] == prev.c[k] for k in keys],
                                                 versions.c.version_key == prev.c.vk)))
    )
    found: set[tuple[str, int, int]] = set()
    with engine.connect() as conn:
        for batch_id, when in conn.execute(stmt):
            if when is None:
                continue
            if isinstance(when, str):
                when = dt.datetime.fromisoformat(when[:19]) if len(when) > 10 else dt.date.fromisoformat(when)
            tail = str(batch_id)[-10:]
            found.add((tail if re.match(r"^\d{4}-\d{2}-\d{2}$", tail) else NO_NIGHT, when.year, when.month))
    return found


def publish_night(engine: Engine, contract: DatasetContract, night: str, months: set[tuple[int, int]],
                  root: Path | Zone, key: bytes) -> list[str]:
    """Publish what night ``night`` changed: its own parts, and the parts it made stale.

    Args:
        engine: the staging store.
        contract: dataset contract.
        night: the night (``YYYY-MM-DD``) whose loaded batches are published.
        months: ``(year, month)`` the night's batches touched (ledger ``partitions``).
        root: the curated zone (a local folder or a zone on object storage).
        key: the pseudonymization key.

    Returns:
        Paths (URLs on object storage) of the files written.
    """
    schema = curated_schema(contract)
    zone = as_zone(root)
    todo: dict[tuple[int, int], set[str]] = {ym: {night} for ym in months}
    for other, year, month in previous_parts(engine, contract, night):
        todo.setdefault((year, month), set()).add(other)
    # The night's own rows, read once for every month (one read instead of one per month: a
    # backfill night touches a hundred months; see _night_by_month). Each month is
    # written under its lock; if staging changed after the read (another load committed: the
    # change feed moved on), that month is read again under its lock, as before, so a
    # concurrent backfill or a later night's publish is never overwritten with older rows.
    own: dict[tuple[int, int], pa.Table] | None = None
    mark: int | None = None
    written: list[str] = []
    for (year, month), nights in sorted(todo.items()):
        folder = month_rel(contract, year, month)
        with month_lock(engine, contract, year, month, zone):
            existing = parts(zone, folder)
            targets: dict[str, tuple[str, str]] = {}
            for n in sorted(nights):
                holder = next((name for name, (a, b) in existing.items() if a <= n <= b), None)
                if holder is None and n != night:
                    continue  # that night's part is already gone: nothing to drop
                targets[holder or part_name(n)] = existing.get(holder or "", (n, n))
            staged = {}
            for name, rng in sorted(targets.items()):
                if rng == (night, night) and own is None:
                    mark = _feed_mark(engine, contract.dataset)
                    own = _night_by_month(engine, contract, key, night)
                if rng == (night, night) and own is not None and _feed_mark(engine, contract.dataset) == mark:
                    chunks: Iterator[pa.Table] = iter([own[(year, month)]] if (year, month) in own else [])
                else:
                    chunks = _chunks_for(engine, contract, key, year, month, rng, True)
                staged[name] = _stage_file(chunks, zone, folder, name, schema)
            written += _commit_files(zone, folder, staged)
    return written


def _feed_mark(engine: Engine, dataset: str) -> int | None:
    """The dataset's last change-feed sequence number: every load that changes a current row of
    the dataset appends to the feed in its transaction, so an unchanged mark means unchanged rows."""
    from loaders.schema import change_feed

    with engine.connect() as conn:
        mark = conn.execute(sa.select(sa.func.max(change_feed.c.seq)).where(change_feed.c.dataset == dataset)).scalar()
    return None if mark is None else int(mark)


def _night_by_month(engine: Engine, contract: DatasetContract, key: bytes, night: str) -> dict[tuple[int, int], pa.Table]:
    """The curated rows of night ``night``'s batches, split by event month, each in natural-key order.

    Held in memory: a night (tens of thousands of rows nationally; a million-row backfill night
    is a few hundred MB of Arrow, less than its batch held while loading). Read unordered and
    sorted here: the server would sort the whole night at once (a million rows spill to disk
    with the default ``work_mem``), Arrow sorts it in memory in a fraction of that.
    """
    curated, months, keys = [], [], []
    memo: dict[str, dict[str, str]] = {}
    for chunk in prefetched(_month_chunks(engine, contract, None, None, nights=[night], ordered=False),
                             name="curated-prefetch"):
        event = chunk.column(contract.event_date)  # staging's value (curated may keep only its year)
        months.append(pc.add(pc.multiply(pc.cast(pc.year(event), pa.int32()), 100), pc.cast(pc.month(event), pa.int32())))
        keys.append(chunk.select(list(contract.natural_key)))
        curated.append(to_curated(chunk, contract, key, memo))
    if not curated:
        return {}
    # Sorted by month, then key: each month is one slice (a filter per month scanned the whole
    # night once per month: 1.3 s for a million rows over 131 months).
    ym_all = pa.chunked_array(months).combine_chunks()
    sortable = pa.concat_tables(keys).append_column("_ym", ym_all)
    order = pc.sort_indices(sortable, sort_keys=[("_ym", "ascending"), *[(k, "ascending") for k in contract.natural_key]],
                            null_placement="at_end")
    table = pa.concat_tables(curated).take(order)
    ym = ym_all.take(order)
    runs = pc.run_end_encode(ym.combine_chunks() if isinstance(ym, pa.ChunkedArray) else ym)
    out = {}
    start = 0
    for end, v in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
        if v is not None:  # no event date: in no month (as before)
            out[(v // 100, v % 100)] = table.slice(start, end - start)
        start = end
    return out




def compact(engine: Engine, contract: DatasetContract, root: Path | Zone, key: bytes, before: str,
            min_parts: int = 2) -> list[str]:
    """Merge the single-night parts of complete weeks before ``before`` into one part per week.

    A week (Monday-Sunday) is compacted once it has at least ``min_parts`` files in a month;
    the new file is written first, then the nights it replaces are removed, under the month lock.
    """
    schema = curated_schema(contract)
    written: list[str] = []
    zone = as_zone(root)
    base = contract.dataset
    months = [f"{base}/{y.name}/{m.name}" for y in zone.list(base) if y.is_dir and "=" in y.name
              for m in zone.list(f"{base}/{y.name}") if m.is_dir and "=" in m.name]
    for folder in sorted(months):
        year, month = (int(part.split("=", 1)[1]) for part in folder.split("/")[-2:])
        weeks: dict[str, list[str]] = {}
        for name, (a, b) in parts(zone, folder).items():
            if a == NO_NIGHT:
                continue
            day = dt.date.fromisoformat(a)
            week_start = day - dt.timedelta(days=day.weekday())
            week_end = week_start + dt.timedelta(days=6)
            if b <= week_end.isoformat() and week_end.isoformat() < before:
                weeks.setdefault(week_start.isoformat(), []).append(name)
        for monday, names in sorted(weeks.items()):
            if len(names) < min_parts:
                continue
            sunday = (dt.date.fromisoformat(monday) + dt.timedelta(days=6)).isoformat()
            with month_lock(engine, contract, year, month, zone):
                name = part_name(monday, sunday)
                tmp = _stage_file(_chunks_for(engine, contract, key, year, month, (monday, sunday), False),
                                  zone, folder, name, schema)
                written += _commit_files(zone, folder, {name: tmp})
                for old in names:
                    if old != name:
                        zone.remove(f"{folder}/{old}")
    return written


def publish_partitions(
    engine: Engine, contract: DatasetContract, partitions: set[tuple[int, int]], root: Path | Zone, key: bytes
) -> list[str]:
    """Rebuild whole months from current staging rows, one part per night (repairs, tests).

    Args:
        engine: the staging store.
        contract: dataset contract.
        partitions: ``(year, month)`` pairs to rebuild.
        root: the curated zone (a local folder or a zone on object storage).
        key: the pseudonymization key.

    Returns:
        Paths (URLs on object storage) of the files written (a month with no rows any more is
        left without files).
    """
    written: list[str] = []
    schema = curated_schema(contract)
    zone = as_zone(root)
    for year, month in sorted(partitions):
        folder = month_rel(contract, year, month)
        with month_lock(engine, contract, year, month, zone):
            if isinstance(zone, LocalZone):
                zone.path(folder).mkdir(parents=True, exist_ok=True)
            writers: dict[str, tuple[pq.ParquetWriter, Path]] = {}
            try:
                for chunk in _month_chunks(engine, contract, year, month):
                    table = to_curated(chunk, contract, key)
                    tails = pc.utf8_slice_codeunits(table.column("batch_id"), -10)
                    nights = pc.if_else(pc.match_substring_regex(tails, r"^\d{4}-\d{2}-\d{2}$"), tails, NO_NIGHT)
                    for night in pc.unique(nights).to_pylist():
                        if night not in writers:
                            tmp = zone.temp_for(f"{folder}/{part_name(night)}")
                            writers[night] = (pq.ParquetWriter(tmp, schema, compression="zstd"), tmp)
                        writers[night][0].write_table(table.filter(pc.equal(nights, night)), row_group_size=256_000)
                staged: dict[str, Path | None] = {}
                for night, (writer, tmp) in writers.items():
                    writer.close()
                    staged[part_name(night)] = tmp
            except BaseException:
                for writer, tmp in writers.values():
                    with contextlib.suppress(Exception):
                        writer.close()
                    zone.discard(tmp)
                raise
            for old in parts(zone, folder):
                staged.setdefault(old, None)
            written += _commit_files(zone, folder, dict(sorted(staged.items())))
    return written


@contextlib.contextmanager
def month_lock(engine: Engine, contract: DatasetContract, year: int, month: int, root: Path | Zone) -> Iterator[None]:
    """Exclusive lock on one curated month (read staging, then swap files, under it).

    The one place the curated locks are taken (so the lock mechanism can be swapped here alone).
    PostgreSQL staging: a ``pipeline_locks`` row in the staging database (works for workers on any
    number of hosts, no shared POSIX file system needed, object storage needs nothing else; reader
    logins cannot take it). SQLite staging (one host): an ``flock`` on a file under
    ``S06_LOCK_DIR``, default ``<data root>/locks/`` (outside the analysts' tree; the database lock
    would make loads wait for the rebuild) — or, when the curated zone is on object storage,
    ``locks/`` beside the SQLite database file: every process that can open that database shares
    its disk, so the lock is exactly as shared as the staging store.
    """
    if engine.dialect.name == "postgresql":
        from loaders import locks

        # A row of pipeline_locks that reader logins cannot lock; the wait is bounded
        # (S06_CURATED_LOCK_TIMEOUT_S) and a timeout names the lock.
        with locks.holding(engine, locks.curated(contract.dataset, year, month)):
            yield
        return
    name = f"curated:{contract.dataset}:{year:04d}-{month:02d}"
    lock_dir = _lock_dir(engine, root)
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name.replace(':', '_')}.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _lock_dir(engine: Engine, root: Path | Zone) -> Path:
    """Where the SQLite-staging month locks live (see :func:`month_lock`)."""
    explicit = os.environ.get("S06_LOCK_DIR")
    if explicit:
        return Path(explicit)
    if isinstance(root, Zone) and root.remote:
        db = engine.url.database
        if not db or db == ":memory:" or db.startswith("file:"):
            raise ValueError("a curated zone on object storage with this staging store needs S06_LOCK_DIR "
                             "(or PostgreSQL staging, where the locks live in the database)")
        return Path(db).resolve().parent / "locks"
    local = root.path() if isinstance(root, LocalZone) else Path(root)  # type: ignore[arg-type]
    return local.parent / "locks"


__all__ = ["LINEAGE_DOCS", "as_zone", "compact", "curated_fields", "curated_schema", "month_lock", "month_rel",
           "partition_dir", "parts", "publish_night", "publish_partitions", "to_curated"]

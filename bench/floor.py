"""The hand-written floor: the same night's work with plain pyarrow, a few checks and COPY.

No framework: no registry objects, contracts, Great Expectations, versions, change feed or
findings. What it does for every registered facility of every dataset, on the same files as the
pipeline, into the same kind of store:

* list the facility's drop folder (a silent facility costs a failed ``stat``);
* land each file: read its bytes, SHA-256, write the raw copy;
* parse the CSV with ``pyarrow.csv`` (every column a string);
* per dataset, all facilities at once: cast every contract column to its type (dates tried
  against the formats the sample files use), check required fields, parse failures and events
  after the night (a row-level valid mask);
* ``COPY`` the valid rows into a keyed table and one ledger row per facility into a ledger
  table, in one transaction per dataset (straight into the table while it is empty; once it
  holds rows, into a temporary table merged by key with ``INSERT … ON CONFLICT DO UPDATE``, so a
  re-delivered record or a re-run night replaces what is stored, as the pipeline's does);
* pseudonymize the direct identifiers (HMAC-SHA256 once per distinct value, as the pipeline
  does) and write one zstd Parquet file per event month.

It is the lower bound the pipeline is measured against (``bench.bench_national``): a real
pipeline does more (versions, change feed, findings with reasons, cross-dataset checks, per
facility isolation), so the target is a ratio, not equality.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

CONTRACTS = Path(__file__).resolve().parent.parent / "config" / "datasets"
DATE_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%Y%m%d%H%M", "%Y%m%d", "%Y-%m-%d",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M")
PG_TYPES = {"date": "DATE", "datetime": "TIMESTAMP", "int": "INTEGER", "bool": "BOOLEAN"}


def _contract(dataset: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (CONTRACTS / f"{dataset}.yaml").open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def _dates(text: pa.Array) -> pa.Array:
    out = pa.nulls(len(text), pa.timestamp("s"))
    for fmt in DATE_FORMATS:
        out = pc.coalesce(out, pc.strptime(text, format=fmt, unit="s", error_is_null=True))
    return out


def _columns(contract: dict[str, Any], fmt: str = "csv") -> list[tuple[str, str, str, bool, str]]:
    """(name, csv tag, type, required, curated) of the contract columns the format carries."""
    cols = []
    for name, spec in contract["columns"].items():
        tag = (spec.get("sources") or {}).get(fmt)
        if tag:
            cols.append((name, tag, spec["type"], bool(spec.get("required")), spec.get("curated", "keep")))
    return cols


def _code_maps(contract: dict[str, Any], fmt: str = "csv") -> dict[str, tuple[pa.Array, pa.Array]]:
    """Per column, the format's label -> code map (``code_map`` in the contract) as two arrays."""
    maps = {}
    for name, spec in contract["columns"].items():
        mapping = (spec.get("code_map") or {}).get(fmt)
        if mapping:
            maps[name] = (pa.array([str(k).upper() for k in mapping], pa.string()),
                          pa.array([str(v) for v in mapping.values()], pa.string()))
    return maps


def _normalize(raw: pa.Table, cols: list[tuple[str, str, str, bool, str]], cutoff: dt.datetime,
               event: str, code_maps: dict[str, tuple[pa.Array, pa.Array]] | None = None
               ) -> tuple[pa.Table, pa.Array]:
    """Typed columns and the valid mask (required present, every value parses, event not later)."""
    n = raw.num_rows
    valid = pa.array([True] * n)
    out: dict[str, pa.Array] = {}
    for name, tag, ctype, required, _ in cols:
        text = raw.column(tag).combine_chunks() if tag in raw.column_names else pa.nulls(n, pa.string())
        text = pc.utf8_trim_whitespace(text)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        if code_maps and name in code_maps:  # labels to codes (an unknown label fails to parse)
            keys, codes = code_maps[name]
            found = pc.index_in(pc.utf8_upper(text), value_set=keys)
            text = pc.if_else(pc.is_valid(found), pc.take(codes, found), pc.if_else(pc.is_null(text), text, "?"))
        if ctype in ("date", "datetime"):
            value = _dates(text)
            if ctype == "date":
                value = pc.cast(value, pa.date32())
        elif ctype == "int":
            ok = pc.fill_null(pc.match_substring_regex(text, r"^[+-]?\d{1,9}$"), False)
            value = pc.if_else(ok, pc.cast(pc.if_else(ok, text, "0"), pa.int32()), pa.scalar(None, pa.int32()))
        elif ctype == "bool":
            value = pc.if_else(pc.is_in(text, value_set=pa.array(["1", "true", "True"])), True,
                               pc.if_else(pc.is_in(text, value_set=pa.array(["0", "false", "False"])), False,
                                          pa.scalar(None, pa.bool_())))
        else:
            value = text
        parsed = pc.or_(pc.is_null(text), pc.is_valid(value))
        valid = pc.and_(valid, parsed)
        if required:
            valid = pc.and_(valid, pc.is_valid(value))
        out[name] = value
    if event in out:
        ev = out[event]
        ev = pc.cast(ev, pa.timestamp("s")) if pa.types.is_date(ev.type) else ev
        valid = pc.and_(valid, pc.fill_null(pc.less_equal(ev, pa.scalar(cutoff, pa.timestamp("s"))), True))
    return pa.table(out), valid


def _pseudonymize(arr: pa.Array, key: bytes, domain: str) -> pa.Array:
    base = hmac.new(key, digestmod=hashlib.sha256)
    prefix = domain.encode() + b"\x1f"
    uniques = pc.unique(arr.drop_null())
    digests = []
    for value in uniques.to_pylist():
        h = base.copy()
        h.update(prefix + value.encode("utf-8"))
        digests.append(h.hexdigest()[:32])
    return pc.take(pa.array(digests, pa.string()), pc.index_in(arr, value_set=uniques))


def _copy_target(cur: Any, table: str) -> str:
    """Where to COPY: the table itself while it is empty (a first load), else a temporary twin
    that :func:`_upsert_from` merges by key (a re-delivered record replaces the stored one)."""
    cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")')
    if not cur.fetchone()[0]:
        return table
    cur.execute(f'CREATE TEMP TABLE "tmp_{table}" (LIKE "{table}") ON COMMIT DROP')
    return f"tmp_{table}"


def _upsert_from(cur: Any, source: str, table: str, columns: list[str], key: list[str]) -> None:
    if source == table:
        return
    cols = ", ".join(f'"{c}"' for c in columns)
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in key)
    keys = ", ".join(f'"{k}"' for k in key)
    cur.execute(f'INSERT INTO "{table}" ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM "{source}" '
                f"ON CONFLICT ({keys}) DO UPDATE SET {sets}")


def run_floor(registry: Path, drop: Path, out: Path, night: dt.date, pg_url: str, key: bytes,
              datasets: list[str]) -> dict[str, Any]:
    """Process the night; returns timings and counts per dataset."""
    import psycopg

    t_all = time.perf_counter()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with registry.open(encoding="utf-8") as fh:
        facilities = yaml.load(fh, Loader=loader)["facilities"]
    cutoff = dt.datetime(night.year, night.month, night.day) + dt.timedelta(days=1)
    result: dict[str, Any] = {"datasets": {}}
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        for dataset in datasets:
            t0 = time.perf_counter()
            contract = _contract(dataset)
            cols = _columns(contract)
            senders = [f["code"] for f in facilities if dataset in f["datasets"]]
            tables, ledger = [], []
            for code in senders:
                folder = drop / code / dataset / night.isoformat()
                try:
                    entries = sorted(os.scandir(folder), key=lambda e: e.name)
                except FileNotFoundError:
                    ledger.append((code, "empty", 0))
                    continue
                rows = 0
                for entry in entries:
                    data = Path(entry.path).read_bytes()
                    digest = hashlib.sha256(data).hexdigest()
                    raw_dir = out / "raw" / dataset / code / night.isoformat()
                    raw_dir.mkdir(parents=True, exist_ok=True)
                    (raw_dir / entry.name).write_bytes(data)
                    table = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
                        column_types={}, strings_can_be_null=False, auto_dict_encode=False),
                        read_options=pacsv.ReadOptions(autogenerate_column_names=False))
                    table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
                    table = table.append_column("facility_code", pa.array([code] * table.num_rows, pa.string()))
                    table = table.append_column("sha256", pa.array([digest] * table.num_rows, pa.string()))
                    tables.append(table)
                    rows += table.num_rows
                ledger.append((code, "loaded", rows))
            t_read = time.perf_counter()
            raw = pa.concat_tables(tables, promote_options="default") if tables else None
            loaded = 0
            with conn.transaction():
                cur = conn.cursor()
                names = [c[0] for c in cols]
                ddl = ", ".join(f'"{c[0]}" {PG_TYPES.get(c[2], "TEXT")}' for c in cols)
                key_cols = ", ".join(f'"{k}"' for k in contract["natural_key"])
                cur.execute(f'CREATE TABLE IF NOT EXISTS "floor_{dataset}" ({ddl}, facility_code TEXT, '
                            f"PRIMARY KEY ({key_cols}))")
                cur.execute("CREATE TABLE IF NOT EXISTS floor_ledger (dataset TEXT, facility_code TEXT, night DATE, "
                            "status TEXT, received INTEGER, loaded INTEGER, PRIMARY KEY (dataset, facility_code, night))")
                if raw is not None:
                    typed, valid = _normalize(raw, cols, cutoff, contract["event_date"], _code_maps(contract))
                    typed = typed.append_column("facility_code", raw.column("facility_code"))
                    good = typed.filter(valid)
                    loaded = good.num_rows
                    buf = io.BytesIO()
                    pacsv.write_csv(good.select([*names, "facility_code"]), buf,
                                    pacsv.WriteOptions(include_header=False, quoting_style="needed"))
                    quoted = ", ".join(f'"{n}"' for n in [*names, "facility_code"])
                    target = _copy_target(cur, f"floor_{dataset}")
                    with cur.copy(f'COPY "{target}" ({quoted}) FROM STDIN WITH (FORMAT csv)') as copy:
                        copy.write(buf.getvalue())
                    _upsert_from(cur, target, f"floor_{dataset}", [*names, "facility_code"], contract["natural_key"])
                target = _copy_target(cur, "floor_ledger")
                with cur.copy(f'COPY "{target}" FROM STDIN') as copy:
                    for code, status, rows in ledger:
                        copy.write_row((dataset, code, night, status, rows, rows))
                _upsert_from(cur, target, "floor_ledger", ["dataset", "facility_code", "night", "status", "received",
                                                           "loaded"], ["dataset", "facility_code", "night"])
            t_load = time.perf_counter()
            if raw is not None and loaded:
                curated = {}
                for name, _tag, _ctype, _req, action in cols:
                    if action == "keep":
                        curated[name] = good.column(name)
                    elif action == "pseudonymize":
                        curated[name + "_pseudonym"] = _pseudonymize(good.column(name).combine_chunks(), key, name)
                curated["facility_code"] = good.column("facility_code")
                ctable = pa.table(curated)
                ev = good.column(contract["event_date"])
                month = pc.add(pc.multiply(pc.year(ev), 100), pc.month(ev))
                for ym in pc.unique(month).drop_null().to_pylist():
                    folder = out / "curated" / dataset / f"month={ym}"
                    folder.mkdir(parents=True, exist_ok=True)
                    pq.write_table(ctable.filter(pc.equal(month, ym)), folder / f"part-{night}.parquet",
                                   compression="zstd")
            t_end = time.perf_counter()
            result["datasets"][dataset] = {
                "facilities": len(senders), "rows": 0 if raw is None else raw.num_rows, "loaded": loaded,
                "read_s": t_read - t0, "load_s": t_load - t_read, "publish_s": t_end - t_load, "total_s": t_end - t0,
            }
    result["total_s"] = time.perf_counter() - t_all
    return result

"""Benchmark: the PostgreSQL staging load alone, against a plain COPY of the same rows.

Not a test: it measures and prints. Budget (issue): 1,000,000 rows, first load and an idempotent
re-load of the same rows, each within 2x of a plain ``COPY`` of the same rows into an unindexed
table on the same server, measured in the same run::

    python -m bench.bench_pg_load --rows 1000000 [--dataset birth_certificates] [--profile] [--variants]

1. **prepare** (not timed against the budget): generate the dataset's bench CSV and run the real
   batch runner in a child process up to the spill, keeping the spilled work files (Arrow IPC) of valid
   rows - exactly what :func:`loaders.staging.load_rows` receives in a nightly run (same
   columns, types, chunking, ``unique_keys`` flag);
2. start a throwaway PostgreSQL 15 (``tests/pg_server.py``: fsync off, default buffers);
3. measure, each from the same spilled chunks and including the commit:

   (a) **COPY**: the loader's own bulk path (``staging._bulk_insert``: a binary ``COPY`` encoded from Arrow) into
       a normal, unindexed table with the same columns (created beforehand, not timed); run
       before and after the loads, the faster run is the baseline;
   (b) **first load**: ``load_rows`` into a fresh store (``ensure_schema`` beforehand, not timed);
   (c) **re-load**: ``load_rows`` of the same rows again (writes nothing).

``--profile`` adds the time per SQL statement of (b) and (c) and replays both with
``EXPLAIN (ANALYZE, BUFFERS)`` (rolled back). ``--variants`` measures candidate changes to the
loader, implemented here only (see :mod:`bench.pg_load_variants`). Results go to
``bench/results/pg_load_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from bench.bench_pipeline import DATASETS, NIGHT, RESULTS, machine_facts, registry_yaml
from pipeline.stages.spill import read_spills

# --------------------------------------------------------------------------- prepare


def _prepare_child(dataset: str, root: Path, out: Path, queue: mp.Queue) -> None:
    """Run the batch runner up to the spill (SQLite scratch store) and keep the spill files."""
    os.environ["S06_DATA_ROOT"] = str(root)
    os.environ["S06_FACILITIES_FILE"] = str(root / "facilities.yaml")
    os.environ.setdefault("S06_PSEUDONYM_KEY", "benchmark-only-key-0123456789abcdef")
    from config.settings import load_settings
    from pipeline.shard import ShardRunner
    from pipeline.stages import load as load_stage

    captured: dict[str, Any] = {}

    def spill_only(shard: Any, engine: Any, contract: Any, threshold: float) -> None:
        """Stops where the load would start; copies the shard's valid-row files out."""
        files = []
        for i, path in enumerate(shard.spills):
            target = out / f"valid-{i:05d}.arrow"
            shutil.copyfile(path, target)
            files.append(str(target))
        (b,) = shard.batches
        captured.update({
            "files": files,
            "unique_keys": runner.seen.unique,
            "received": b.received,
            "quarantined": b.quarantined,
            "superseded": b.superseded,
            "valid": b.received - b.quarantined - b.superseded,
            "timings": dict(shard.timings),
        })

    load_stage.load = spill_only  # type: ignore[assignment]
    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    ds = DATASETS[dataset]
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=tz)
    runner = ShardRunner(ds.dataset, [ds.facility], start, start + dt.timedelta(days=1), settings)
    runner.run()
    queue.put(captured)


def prepare(dataset: str, rows: int, seed: int | None, work: Path) -> dict[str, Any]:
    """Generate the CSV and spill its valid rows to ``work/spill``; returns what the load needs."""
    ds = DATASETS[dataset]
    root = work / "root"
    folder = root / "drop" / ds.facility / ds.dataset / NIGHT.isoformat()
    folder.mkdir(parents=True)
    (root / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
    t = time.perf_counter()
    ds.write(folder / ds.file_name, rows, seed)
    gen_s = time.perf_counter() - t
    out = work / "spill"
    out.mkdir()
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    t = time.perf_counter()
    proc = ctx.Process(target=_prepare_child, args=(dataset, root, out, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"prepare child failed (exit code {proc.exitcode})")
    result["generate_s"] = gen_s
    result["prepare_s"] = time.perf_counter() - t
    shutil.rmtree(root, ignore_errors=True)  # the CSV and the scratch store are not needed any more
    return result


def chunk_source(files: list[str]) -> Callable[[list[str] | None], Iterator[pa.Table]]:
    """The runner's ``_spill_chunks``: 100,000-row Arrow tables from the spill files, re-readable."""

    def source(columns: list[str] | None = None) -> Iterator[pa.Table]:
        yield from read_spills([Path(f) for f in files], columns)

    return source


# --------------------------------------------------------------------------- statement capture


class Capture:
    """Times every SQL statement (SQLAlchemy cursor events) and every bulk COPY of ``load_rows``."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.active = False
        self._t = 0.0

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self._t = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self.active:
            self.steps.append(
                {
                    "kind": "sql",
                    "label": label(statement),
                    "sql": statement,
                    "params": dict(parameters) if isinstance(parameters, dict) and parameters else None,
                    "seconds": time.perf_counter() - self._t,
                }
            )

    def attach(self, engine: Any) -> None:
        import sqlalchemy as sa

        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """Record into a fresh list; wraps ``staging._bulk_insert`` to time the COPY too."""
        from loaders import staging

        original = staging._bulk_insert

        def timed(conn: Any, name: str, names: list[str], chunks: Any) -> int:
            # The change feed's rows are built by the loader, not read from the source: keep them
            # for the replay.
            kept = list(chunks) if name == "change_feed" else None
            t = time.perf_counter()
            n = original(conn, name, names, chunks if kept is None else kept)
            self.steps.append(
                {
                    "kind": "copy",
                    "label": f"COPY -> {name} ({len(names)} columns)",
                    "table": name,
                    "names": names,
                    "rows": n,
                    "seconds": time.perf_counter() - t,
                    "chunks": kept,
                }
            )
            return n

        self.steps = []
        self.active = True
        staging._bulk_insert = timed
        try:
            yield self.steps
        finally:
            staging._bulk_insert = original
            self.active = False


def label(sql: str) -> str:
    """A short name for one statement of ``load_rows``."""
    s = " ".join(sql.split())
    if s.startswith("SELECT SUM("):
        return "classify (SELECT SUM ... LEFT JOIN current, versions)"
    if s.startswith("SELECT DISTINCT"):
        return "replaced months (SELECT DISTINCT ... JOIN current)"
    if s.startswith('CREATE TEMP TABLE "tmp_feed_'):
        return "stage feed (CREATE TEMP TABLE AS ... LEFT JOIN current)"
    if s.startswith("INSERT INTO change_feed"):
        return "append change feed (INSERT ... SELECT ORDER BY)"
    if s.startswith('DELETE FROM "tmp_feed_'):
        return "feed re-check (DELETE tmp_feed WHERE NOT EXISTS current version)"
    if s.startswith("SELECT pg_advisory_xact_lock"):
        return "feed advisory lock"
    if s.startswith("INSERT INTO") and "_versions" in s.split("(")[0] and "JOIN" in s and "ON CONFLICT" in s:
        return (
            "keep replaced (INSERT versions SELECT current JOIN newest)"
            if "SELECT c." in s
            else "history (INSERT versions SELECT tmp JOIN current)"
        )
    if s.startswith("INSERT INTO") and "DO UPDATE SET" in s:
        return "upsert (INSERT current SELECT newest ON CONFLICT DO UPDATE)"
    if s.startswith("ANALYZE"):
        return "ANALYZE temp"
    if s.startswith("DROP TABLE IF EXISTS"):
        return "drop temp if exists"
    if s.startswith("CREATE TEMP TABLE"):
        return "create temp"
    if s.startswith("DROP TABLE"):
        return "drop temp"
    return s[:60]


def summarize(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k in ("kind", "label", "seconds", "rows")} for s in steps]


def replay_explain(engine: Any, steps: list[dict[str, Any]], source: Callable[..., Any]) -> list[dict[str, Any]]:
    """Re-run a recorded ``load_rows`` with ``EXPLAIN (ANALYZE, BUFFERS)`` on its DML, then roll back."""
    from loaders import staging

    plans = []
    with engine.connect() as conn:
        trans = conn.begin()
        cur = conn.connection.dbapi_connection.cursor()
        for s in steps:
            t = time.perf_counter()
            if s["kind"] == "copy":
                staging._bulk_insert(conn, s["table"], s["names"], s["chunks"] if s["chunks"] is not None else source(None))
                continue
            sql = s["sql"]
            head = " ".join(sql.split())[:40]
            explain = (
                head.startswith(("SELECT SUM", "SELECT DISTINCT", "INSERT", 'CREATE TEMP TABLE "tmp_feed_'))
                and "pg_advisory" not in head
            )
            if explain:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, s["params"])
                plan = "\n".join(r[0] for r in cur.fetchall())
                plans.append({"label": s["label"], "seconds": time.perf_counter() - t, "plan": plan})
            else:
                cur.execute(sql, s["params"])
        trans.rollback()
    return plans


# --------------------------------------------------------------------------- measurements


def create_like_temp(conn: Any, name: str, dataset: str, names: list[str], unlogged: bool = False) -> None:
    """A normal (or unlogged), unindexed table with the columns and types of the loader's temp table."""
    from loaders.schema import dataset_tables

    current, _ = dataset_tables(dataset)
    cols = ", ".join(f'"{n}" {current.c[n].type.compile(conn.dialect)}' for n in names)
    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    conn.exec_driver_sql(f'CREATE {"UNLOGGED " if unlogged else ""}TABLE "{name}" ({cols})')


def checkpoint(engine: Any) -> None:
    """Flush dirty buffers between measurements so one step's writes are not billed to the next."""
    with engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")


def measure_copy(
    engine: Any,
    dataset: str,
    names: list[str],
    source: Callable[..., Any],
    unlogged: bool = False,
    table: str = "copy_baseline",
) -> float:
    """(a) COPY of the same rows through the loader's own bulk path into an unindexed table."""
    from loaders import staging

    with engine.begin() as conn:
        create_like_temp(conn, table, dataset, names, unlogged)
    checkpoint(engine)
    t = time.perf_counter()
    with engine.begin() as conn:
        n = staging._bulk_insert(conn, table, names, source(None))
    secs = time.perf_counter() - t
    assert n > 0
    return secs


def measure_load(
    engine: Any,
    contract: Any,
    source: Callable[..., Any],
    unique: bool,
    capture: Capture,
    loader: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """(b)/(c) one ``load_rows`` call in its own transaction, commit included."""
    from loaders import staging

    loader = loader or staging.load_rows
    checkpoint(engine)
    with capture.recording() as steps:
        t = time.perf_counter()
        with engine.connect() as conn:
            trans = conn.begin()
            counts = loader(conn, contract, source, unique_keys=unique)
            t_commit = time.perf_counter()
            trans.commit()
        end = time.perf_counter()
    return {
        "seconds": end - t,
        "commit_s": end - t_commit,
        "counts": {k: getattr(counts, k) for k in ("inserted", "updated", "unchanged", "stale")},
        "steps": list(steps),
    }


def table_sizes(engine: Any, dataset: str) -> dict[str, str]:
    names = [dataset, f"{dataset}_versions", "change_feed", "copy_baseline"]
    out = {}
    with engine.connect() as conn:
        for n in names:
            out[n] = conn.exec_driver_sql(
                "SELECT pg_size_pretty(pg_total_relation_size(%(t)s)) || ' (heap ' || "
                "pg_size_pretty(pg_relation_size(%(t)s)) || ')'",
                {"t": f'"{n}"'},
            ).scalar()
    return out


def server_settings(engine: Any) -> dict[str, str]:
    keys = [
        "server_version",
        "shared_buffers",
        "temp_buffers",
        "work_mem",
        "maintenance_work_mem",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_level",
        "max_wal_size",
    ]
    with engine.connect() as conn:
        return {k: conn.exec_driver_sql(f"SHOW {k}").scalar() for k in keys}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="birth_certificates", choices=list(DATASETS))
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=None, help="generator seed (default: the dataset's)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="per-statement times and EXPLAIN (ANALYZE, BUFFERS) replays of both loads",
    )
    p.add_argument("--variants", action="store_true", help="also measure candidate loader changes (bench only)")
    p.add_argument("--variant", action="append", help="with --variants: only the variants whose name contains this")
    p.add_argument("--json", type=Path, help="result file (default bench/results/pg_load_<dataset>.json)")
    p.add_argument("--no-save", action="store_true", help="print only")
    args = p.parse_args(argv)

    from config.contracts import load_contract
    from loaders import staging
    from loaders.schema import data_columns
    from tests.pg_server import start_server

    machine = machine_facts()
    work = Path(tempfile.mkdtemp(prefix="s06-bench-pgload-"))
    server = None
    try:
        print(f"preparing {args.rows:,} {args.dataset} rows (generate + batch runner up to the spill) ...", flush=True)
        prep = prepare(args.dataset, args.rows, args.seed, work)
        print(
            f"  {prep['valid']:,} valid rows of {prep['received']:,} (quarantined {prep['quarantined']:,}); "
            f"unique_keys={prep['unique_keys']}; generate {prep['generate_s']:.1f} s, "
            f"runner to spill {prep['prepare_s']:.1f} s",
            flush=True,
        )
        source = chunk_source(prep["files"])
        contract = load_contract(args.dataset)
        names = [n for n, _ in data_columns(contract)]
        server = start_server()
        capture = Capture()

        def fresh(name: str) -> Any:
            engine = staging.make_engine(server.create_database(name))
            staging.ensure_schema(engine, [args.dataset])
            capture.attach(engine)
            return engine

        engine = fresh("pgload")
        settings = server_settings(engine)
        copy_runs = [measure_copy(engine, args.dataset, names, source)]
        print(f"  (a) COPY -> unindexed table: {copy_runs[0]:.2f} s", flush=True)
        first = measure_load(engine, contract, source, prep["unique_keys"], capture)
        print(f"  (b) first load: {first['seconds']:.2f} s {first['counts']}", flush=True)
        reload_ = measure_load(engine, contract, source, prep["unique_keys"], capture)
        print(f"  (c) re-load: {reload_['seconds']:.2f} s {reload_['counts']}", flush=True)
        copy_runs.append(measure_copy(engine, args.dataset, names, source))
        print(f"  (a) COPY again: {copy_runs[1]:.2f} s", flush=True)
        sizes = table_sizes(engine, args.dataset)
        base = min(copy_runs)
        result: dict[str, Any] = {
            "dataset": args.dataset,
            "rows": args.rows,
            "valid_rows": prep["valid"],
            "unique_keys": prep["unique_keys"],
            "columns": len(names),
            "machine": machine,
            "server": settings,
            "table_sizes": sizes,
            "copy_s": base,
            "copy_runs_s": copy_runs,
            "first_load_s": first["seconds"],
            "reload_s": reload_["seconds"],
            "first_load_ratio": first["seconds"] / base,
            "reload_ratio": reload_["seconds"] / base,
            "budget_ratio": 2.0,
            "first_load": {**first, "steps": summarize(first["steps"])},
            "reload": {**reload_, "steps": summarize(reload_["steps"])},
            "prepare": {k: prep[k] for k in ("received", "valid", "quarantined", "generate_s", "prepare_s")},
        }
        if args.profile:
            engine_x = fresh("pgload_explain_first")
            result["explain_first_load"] = replay_explain(engine_x, first["steps"], source)
            engine_x.dispose()
            result["explain_reload"] = replay_explain(engine, reload_["steps"], source)
        if args.variants:
            from bench.pg_load_variants import run_variants

            result["variants"] = run_variants(
                fresh, args.dataset, contract, names, source, prep["unique_keys"], capture, base, args.variant
            )
        engine.dispose()
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    report(result)
    if not args.no_save:
        out = args.json or RESULTS / f"pg_load_{args.dataset}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"\n-> {out}")
    return result


def report(r: dict[str, Any]) -> None:
    n = r["valid_rows"]
    print(
        f"\nPostgreSQL staging load, {r['dataset']}, {n:,} rows x {r['columns']} columns "
        f"(PostgreSQL {r['server']['server_version']}, shared_buffers {r['server']['shared_buffers']}, "
        f"temp_buffers {r['server']['temp_buffers']}, fsync {r['server']['fsync']}; "
        f"load average at start {r['machine']['loadavg_1_5_15']})"
    )
    print(f"  {'':<44}{'seconds':>9}{'rows/s':>12}{'x COPY':>8}")
    rows = [
        ("(a) COPY -> unindexed table (best of 2)", r["copy_s"]),
        ("(b) load_rows, first load", r["first_load_s"]),
        ("(c) load_rows, identical re-load", r["reload_s"]),
    ]
    for name, secs in rows:
        print(f"  {name:<44}{secs:>9.2f}{n / secs:>12,.0f}{secs / r['copy_s']:>8.2f}")
    for key, ratio in (("first load", r["first_load_ratio"]), ("re-load", r["reload_ratio"])):
        verdict = "within" if ratio <= r["budget_ratio"] else "OVER"
        print(f"  {key}: {ratio:.2f}x COPY -> {verdict} the {r['budget_ratio']:.0f}x budget")
    for which in ("first_load", "reload"):
        print(f"\n  {which} by statement:")
        for s in r[which]["steps"]:
            if s["seconds"] >= 0.005:
                print(f"    {s['label']:<66}{s['seconds']:>8.2f}")
        print(f"    {'commit':<66}{r[which]['commit_s']:>8.2f}")
    for key in ("explain_first_load", "explain_reload"):
        for plan in r.get(key, []):
            print(f"\n  EXPLAIN ANALYZE [{key}] {plan['label']} ({plan['seconds']:.2f} s)")
            print("    " + plan["plan"].replace("\n", "\n    "))
    for v in r.get("variants", []):
        print(
            f"\n  variant {v['name']}: "
            + ", ".join(f"{k} {v[k]:.2f} s ({v[k] / r['copy_s']:.2f}x)" for k in ("first_load_s", "reload_s") if k in v)
        )
        if v.get("note"):
            print(f"    {v['note']}")


if __name__ == "__main__":
    main()

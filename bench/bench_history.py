"""Benchmark: does a night cost the same into a store that already holds years of history?

Not a test: it measures and prints. One throwaway PostgreSQL 15 server, two staging databases
and two curated trees::

    python -m bench.bench_history [--history 2000000] [--night 20000]

1. *history*: ``--history`` clean birth rows from 21 facilities (the benchmark writer spreads a
   facility's ~95,000 rows of a year over the months) are loaded and published into the "full"
   store through the pipeline, then vacuumed as autovacuum would have by the next night (set-up,
   not timed);
2. *the night*: one more facility delivers ``--night`` rows; the same night is processed
   (``process_shard`` + ``publish_curated``, the DAG's own task functions) into the empty store
   and into the full one, each in a fresh process with imports done before the clock starts,
   ``--repeat`` rounds (fresh databases every round) — medians reported. A round sets up both
   stores, checkpoints, syncs and waits ``--settle`` seconds before its first night, then runs
   the two nights in turns empty first and full first. (Measured at ``3d38596``: with each night
   right after its own store's set-up, the night after the gigabyte clone of the full store was
   slower even in its pure-CPU stages, normalize and validate, by ~1.5x; after a settle the full
   store's stages were no longer the slower ones.)

The target: the full store costs at most 1.2x the empty one, curated publish included.
Results: ``bench/results/history_<history>_<night>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.bench_pipeline import machine_facts
from bench.child import in_child

RESULTS = Path(__file__).resolve().parent / "results"
HISTORY_NIGHT = dt.date(2026, 11, 20)
NIGHT = dt.date(2026, 11, 21)
PER_FACILITY = 95_000
KEY = "benchmark-only-key-0123456789abcdef"


def _registry(path: Path, history_codes: list[str], night_code: str) -> None:
    lines = ["facilities:"]
    for code in [*history_codes, night_code]:
        lines.append(f'  - {{code: "{code}", name: "F{code}", province_code: "{code[:2]}", source_kind: file_drop, '
                     "datasets: {birth_certificates: {format: csv}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _env(work: Path, store: str, url: str) -> None:
    os.environ.update({"S06_DATA_ROOT": str(work / store), "S06_DROP_ROOT": str(work / "drop"),
                       "S06_FACILITIES_FILE": str(work / "facilities.yaml"), "S06_STAGING_URL": url,
                       "S06_PSEUDONYM_KEY": KEY, "S06_CITIZEN_REGISTRY": str(work / "none.csv")})


def _checkpoint(port: int, database: str) -> None:
    """Write out what setting up the store dirtied before the clock starts.

    ``CREATE DATABASE ... TEMPLATE`` (PostgreSQL 15's default ``WAL_LOG`` strategy) copies the
    2,000,000-row template into new files: without a checkpoint and a ``sync`` (the test server
    runs with ``fsync=off``, so the kernel writes the clone back whenever it likes) the timed
    night could compete with the write-back of a gigabyte of freshly cloned pages, which a real
    store never does. Then one connection runs one query in the new database: the first session
    of a freshly cloned database was measured slower (a pure-CPU query 0.34-0.40 s against
    0.26 s, back to 0.26 s in the next session), which a store in service is not. Neither step
    was shown to move the ratio through this machine's noise; both only remove set-up effects.
    They were not enough: a night started right after them still ran its pure-CPU stages slower
    in the freshly cloned store, hence the wait (``--settle``) before a round's nights.
    The empty store gets the same treatment.
    """
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute("CHECKPOINT")
    os.sync()
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}", autocommit=True) as c:
        c.execute("SELECT count(*) FROM pg_class").fetchone()


def _settle(port: int, database: str) -> None:
    """``VACUUM ANALYZE`` the freshly loaded history (set-up, untimed).

    A long-lived store is vacuumed by autovacuum between nights; a store loaded a minute ago is
    not, and its clones could draw autovacuum (insert-triggered vacuum of 2,000,000 rows) into
    the timed nights that follow.
    """
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}", autocommit=True) as c:
        c.execute("VACUUM (ANALYZE)")


def _drop(port: int, database: str) -> None:
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _interval(night: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(night.year, night.month, night.day, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    return start, start + dt.timedelta(days=1)


def _load_history(work: Path, url: str, codes: list[str], out: mp.Queue) -> None:
    _env(work, "full", url)
    from pipeline.errors import BatchHeldBack
    from pipeline.tasks import process_shard, publish_curated

    start, end = _interval(HISTORY_NIGHT)
    t0 = time.perf_counter()
    with contextlib.suppress(BatchHeldBack):  # history rows are clean; a held batch would show in the counts
        process_shard("birth_certificates", codes, start, end)
    publish_curated("birth_certificates", start)
    out.put({"history_load_s": time.perf_counter() - t0})


def _night(work: Path, store: str, url: str, code: str, out: mp.Queue) -> None:
    _env(work, store, url)
    from loaders import staging
    from ops.preload import preload
    from pipeline.tasks import process_shard, publish_curated

    # What a warm worker has before it forks a task (ops/preload.py): imports, every dataset's
    # hook, the staging table definitions. Without it a profile showed the full store paying the
    # hook import (≈ 0.12 s) and the table definitions (≈ 0.1 s) inside the clock, because
    # ensure_schema builds them before the clock only when it creates the schema (the empty store).
    preload()
    staging.ensure_schema(staging.engine_for(url), ["birth_certificates"])
    start, end = _interval(NIGHT)
    t0 = time.perf_counter()
    (summary,) = process_shard("birth_certificates", [code], start, end)
    t1 = time.perf_counter()
    published = publish_curated("birth_certificates", start)
    t2 = time.perf_counter()
    with staging.engine_for(url).connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM birth_certificates").scalar()
    out.put({"process_s": t1 - t0, "publish_s": t2 - t1, "total_s": t2 - t0, "loaded": summary["loaded"],
             "store_rows": rows, "files": len(published["files"])})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=2_000_000)
    parser.add_argument("--night", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds between setting up a round's two stores and its first night")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import sample_data.generator as gen
    from tests.pg_server import start_server

    work = Path(tempfile.mkdtemp(prefix="s06-history-"))
    server = start_server()
    try:
        n_fac = max(1, -(-args.history // PER_FACILITY))
        codes = [f"{10 + i:02d}001" for i in range(n_fac)]
        night_code = "99001"
        _registry(work / "facilities.yaml", codes, night_code)
        t0 = time.perf_counter()
        left = args.history
        for i, code in enumerate(codes):
            n = min(PER_FACILITY, left)
            left -= n
            gen.write_births_csv(work / "drop" / code / "birth_certificates" / HISTORY_NIGHT.isoformat() / "h.csv",
                                 n, seed=100 + i, facility_code=code)
        gen.write_births_csv(work / "drop" / night_code / "birth_certificates" / NIGHT.isoformat() / "n.csv",
                             args.night, seed=7, facility_code=night_code)
        generate_s = time.perf_counter() - t0
        full_template = server.create_database("full_template")
        history = in_child(_load_history, work, full_template, codes)
        _settle(server.port, "full_template")
        curated_template = work / "full"
        runs: dict[str, list[dict[str, Any]]] = {"empty": [], "full": []}
        for k in range(args.repeat):
            # Both stores of a round are set up first (cloning the full one writes a gigabyte),
            # checkpointed, synced and left --settle seconds, then the two nights run, in turns
            # empty first and full first: neither store's night follows the other's set-up more
            # closely, and neither always runs first.
            urls: dict[str, str] = {}
            for store in ("empty", "full"):
                name = f"{store}_{k}"
                shutil.rmtree(work / name, ignore_errors=True)
                if store == "empty":
                    urls[store] = server.create_database(name)
                else:
                    import psycopg

                    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres",
                                         autocommit=True) as c:
                        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        c.execute(f'CREATE DATABASE "{name}" TEMPLATE full_template')
                    urls[store] = server.url(name)
                    shutil.copytree(curated_template, work / name, ignore=shutil.ignore_patterns("raw", "work"))
            for store in urls:
                _checkpoint(server.port, f"{store}_{k}")
            time.sleep(args.settle)
            for store in (("empty", "full") if k % 2 == 0 else ("full", "empty")):
                name = f"{store}_{k}"
                runs[store].append(in_child(_night, work, name, urls[store], night_code))
            for store in urls:
                _drop(server.port, f"{store}_{k}")  # nothing of it is read again; autovacuum need not visit it
        med = {s: {k: statistics.median(r[k] for r in v) for k in ("process_s", "publish_s", "total_s")}
               for s, v in runs.items()}
        result = {
            "history_rows": args.history, "night_rows": args.night, "generate_s": generate_s, **history,
            "runs": runs, "median": med, "settle_s": args.settle, "ratio": round(med["full"]["total_s"] / med["empty"]["total_s"], 2),
            "publish_ratio": round(med["full"]["publish_s"] / med["empty"]["publish_s"], 2),
            "machine": machine_facts(),
        }
        out = args.json or RESULTS / f"history_{args.history}_{args.night}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"night of {args.night:,} rows: empty store {med['empty']['total_s']:.2f} s "
              f"(publish {med['empty']['publish_s']:.2f}), store of {runs['full'][0]['store_rows']:,} rows "
              f"{med['full']['total_s']:.2f} s (publish {med['full']['publish_s']:.2f}); ratio {result['ratio']}")
        return result
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: N birth certificates (CSV) through every stage to SQLite (or PostgreSQL) staging.

Not a test: it measures and prints. Stages are timed inside the real batch runner (the same
code the DAG runs), then the curated publish is timed separately::

    python -m bench.bench_births --rows 1000000 [--rows 200000 ...] [--staging-url postgresql+psycopg://...]

Prints rows/second per stage and peak memory (RSS high-water mark of a fresh child process per
size, so sizes do not contaminate each other).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

FACILITY = "31011"
NIGHT = dt.date(2026, 12, 31)
REGISTRY = f"""facilities:
  - code: "{FACILITY}"
    name: "Benchmark facility"
    province_code: "31"
    source_kind: file_drop
    datasets:
      birth_certificates: {{format: csv}}
"""


def _run(rows: int, root: Path, staging_url: str | None, queue: mp.Queue) -> None:
    os.environ["S06_DATA_ROOT"] = str(root)
    os.environ["S06_FACILITIES_FILE"] = str(root / "facilities.yaml")
    os.environ.setdefault("S06_PSEUDONYM_KEY", "benchmark-only-key-0123456789abcdef")
    if staging_url:
        os.environ["S06_STAGING_URL"] = staging_url
    from config.contracts import load_contract
    from config.settings import load_settings
    from loaders import staging
    from loaders.curated import publish_partitions
    from pipeline.batch import BatchRunner, BatchSpec
    from pipeline.secrets import pseudonym_key

    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=tz)
    spec = BatchSpec("birth_certificates", FACILITY, start, start + dt.timedelta(days=1), settings.timezone)
    engine = staging.make_engine(settings.staging_url)
    t0 = time.perf_counter()
    runner = BatchRunner(spec, settings, engine)
    summary = runner.run()
    batch_s = time.perf_counter() - t0
    timings = dict(runner.state.timings)
    t1 = time.perf_counter()
    months = {(int(p[:4]), int(p[5:])) for p in summary["partitions"]}
    publish_partitions(engine, load_contract("birth_certificates"), months, settings.curated_root, pseudonym_key())
    timings["publish_parquet"] = time.perf_counter() - t1
    timings["end_to_end"] = batch_s + timings["publish_parquet"]
    # Re-load of the identical interval (idempotent path).
    t2 = time.perf_counter()
    BatchRunner(spec, settings, engine).run()
    timings["rerun_same_interval"] = time.perf_counter() - t2
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"rows": rows, "summary": {k: summary[k] for k in ("received", "loaded", "quarantined")},
               "timings": timings, "peak_mib": peak_kib / 1024})


def bench(rows: int, staging_url: str | None, keep: bool) -> dict:
    from sample_data.generator import write_births_csv

    root = Path(tempfile.mkdtemp(prefix="s06-bench-"))
    folder = root / "drop" / FACILITY / "birth_certificates" / NIGHT.isoformat()
    folder.mkdir(parents=True)
    (root / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    t = time.perf_counter()
    write_births_csv(folder / "giay_chung_sinh_bench.csv", rows, seed=6)
    gen_s = time.perf_counter() - t
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(rows, root, staging_url, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0 or queue.empty():
        raise SystemExit(f"benchmark child failed (exit code {proc.exitcode}); data kept in {root}")
    result = queue.get()
    result["generate_s"] = gen_s
    result["csv_mib"] = (folder / "giay_chung_sinh_bench.csv").stat().st_size / 2**20
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return result


STAGES = ["land", "read", "normalize", "validate", "spill", "load", "publish_parquet", "end_to_end", "rerun_same_interval"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, action="append", help="rows (repeat for several sizes)")
    p.add_argument("--staging-url", default=None, help="staging store (default: SQLite under a temp data root)")
    p.add_argument("--postgres", action="store_true",
                   help="start a throwaway PostgreSQL 15 server (as the tests do) and use it as staging")
    p.add_argument("--keep", action="store_true", help="keep the temp data root")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = p.parse_args()
    server = None
    if args.postgres:
        from tests.pg_server import start_server

        server = start_server()
        args.staging_url = server.url("postgres")
    try:
        results = []
        for n in args.rows or [1_000_000]:
            if server:
                args.staging_url = server.create_database(f"bench_{n}")
            results.append(bench(n, args.staging_url, args.keep))
    finally:
        if server:
            server.stop()
    print(f"\nbirth_certificates benchmark ({os.cpu_count()} cores), CSV -> "
          f"{'PostgreSQL' if args.staging_url else 'SQLite'} staging")
    print("stages: land=copy+checksum, read=parse to strings, normalize=types+derivations+hashes+dedup, "
          "validate=GX suite, spill=write valid rows, load=staging upsert, publish_parquet=curated months")
    for r in results:
        n = r["rows"]
        print(f"\n{n:,} rows ({r['csv_mib']:.0f} MiB CSV, generated in {r['generate_s']:.1f} s); "
              f"loaded {r['summary']['loaded']:,}, quarantined {r['summary']['quarantined']:,}; "
              f"peak RSS {r['peak_mib']:.0f} MiB")
        print(f"  {'stage':<22}{'seconds':>9}{'rows/s':>14}")
        for stage in STAGES:
            secs = r["timings"].get(stage)
            if secs is None:
                continue
            print(f"  {stage:<22}{secs:>9.2f}{n / secs if secs else 0:>14,.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

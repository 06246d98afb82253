"""Benchmark: N generated rows of one dataset (facility CSV) through every stage to staging.

Not a test: it measures and prints. One clean-ish CSV is generated with the dataset's fast bench
writer (``sample_data.generator``), dropped for a one-facility registry that sends the dataset as
``csv``, and run through the real batch runner (the same code the DAG runs) in a fresh child
process per size. Stages are timed inside the runner (``runner.state.timings``), then the curated
publish and an identical re-run of the interval are timed separately::

    python -m bench.bench_pipeline --dataset death_notices --rows 1000000 [--rows 200000 ...]
    python -m bench.bench_pipeline --dataset all --rows 200000 [--postgres | --staging-url URL]
    python -m bench.bench_pipeline --dataset birth_certificates --postgres --pairs 3

Prints seconds and rows/second per stage and the peak RSS of the child process (a fresh process
per dataset and size, so runs do not contaminate each other), and writes the results as JSON
(``bench/results/<dataset>_<rows>_<backend>.json`` unless ``--json`` says otherwise).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.child import in_child

RESULTS = Path(__file__).resolve().parent / "results"
#: The night whose drop folder the batch reads; after the writers' last issue date (2026-11-20),
#: so no generated event is later than the interval's end (the cutoff rules).
NIGHT = dt.date(2026, 12, 31)


@dataclass(frozen=True)
class BenchDataset:
    """How the bench generates one dataset: the dataset's generator module (found through the
    registry) writes clean rows for the facility code it embeds in them (the birth and death
    codes carry it, and B1/D1-like rules compare it with the batch's facility).
    """

    dataset: str
    facility: str
    file_name: str
    seed: int = 6

    def write(self, path: Path, rows: int, seed: int | None = None) -> int:
        from sample_data.generator import generator_for

        seed = self.seed if seed is None else seed
        return int(generator_for(self.dataset).write_bench_csv(path, rows, seed=seed, facility_code=self.facility))


def _bench_datasets() -> dict[str, BenchDataset]:
    """Every registered dataset, as its generator module declares it (``BENCH_*``)."""
    from config.contracts import available_datasets
    from sample_data.generator import generator_for

    out = {}
    for ds in available_datasets():
        gen = generator_for(ds)
        out[ds] = BenchDataset(ds, gen.BENCH_FACILITY, gen.BENCH_FILE, gen.BENCH_SEED)
    return out


DATASETS: dict[str, BenchDataset] = _bench_datasets()


def registry_yaml(ds: BenchDataset) -> str:
    """A one-facility registry: ``ds.facility`` sends ``ds.dataset`` as ``csv`` (UTF-8, as written)."""
    return (
        "facilities:\n"
        f'  - code: "{ds.facility}"\n'
        '    name: "Benchmark facility"\n'
        f'    province_code: "{ds.facility[:2] if ds.facility[:2].isdigit() else "01"}"\n'
        "    source_kind: file_drop\n"
        "    datasets:\n"
        f"      {ds.dataset}: {{format: csv, encoding: utf-8}}\n"
    )


def machine_facts() -> dict[str, Any]:
    """Load and identity of the machine when the run started (the cores are shared)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            timeout=10,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "git_commit": commit,
    }


def _child_env(root: Path, ds: BenchDataset, staging_url: str | None, data_root: Path | None = None) -> None:
    """The child's settings: the registry and drop under ``root``; the pipeline's zones under
    ``data_root`` (default ``root``), so several runs can read the same drop."""
    os.environ["S06_DATA_ROOT"] = str(data_root or root)
    os.environ["S06_DROP_ROOT"] = str(root / "drop")
    os.environ["S06_FACILITIES_FILE"] = str(root / "facilities.yaml")
    os.environ.setdefault("S06_PSEUDONYM_KEY", "benchmark-only-key-0123456789abcdef")
    if staging_url:
        os.environ["S06_STAGING_URL"] = staging_url


def _run(ds: BenchDataset, rows: int, root: Path, staging_url: str | None, data_root: Path,
         queue: mp.Queue) -> None:
    _child_env(root, ds, staging_url, data_root)
    from collections import Counter

    from config.settings import load_settings
    from ops.preload import preload
    from pipeline.shard import ShardRunner
    from pipeline.stages.load import summary as batch_summary
    from pipeline.tasks import publish_curated

    # Imports outside the clock on both sides, as a deployed worker has them (``ops.preload``,
    # inherited by forked tasks); the floor's imports are outside its clock too. What importing
    # costs a cold process is measured on its own (``bench.bench_start``) and recorded here.
    preload_s = preload()
    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=tz)
    end = start + dt.timedelta(days=1)
    t0 = time.perf_counter()
    runner = ShardRunner(ds.dataset, [ds.facility], start, end, settings)
    (batch,) = runner.run()
    batch_s = time.perf_counter() - t0
    timings = dict(runner.shard.timings)
    # Peak memory of the first run (the re-run below is cheaper and must not hide it).
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = batch_summary(batch)
    if summary["status"] == "held":
        queue.put({"dataset": ds.dataset, "rows": rows, "held": summary["reason"],
                   "summary": {"received": batch.received, "loaded": 0, "quarantined": batch.quarantined,
                               "quarantined_by_rule": dict(Counter(q["rule_id"] for q in batch.quarantine))},
                   "timings": timings, "peak_mib": peak_kib / 1024})
        return
    t1 = time.perf_counter()
    publish_curated(ds.dataset, start, settings)
    timings["publish_parquet"] = time.perf_counter() - t1
    timings["end_to_end"] = batch_s + timings["publish_parquet"]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The identical re-run of the interval: recognised as unchanged and skipped.
    t2 = time.perf_counter()
    rerun = ShardRunner(ds.dataset, [ds.facility], start, end, settings)
    (again,) = rerun.run()
    timings["rerun_same_interval"] = time.perf_counter() - t2
    timings["rerun_load"] = rerun.shard.timings.get("load", 0.0)
    rerun_summary = batch_summary(again)
    keep = ("received", "loaded", "inserted", "updated", "unchanged", "superseded", "quarantined", "flagged",
            "quarantined_by_rule")
    queue.put(
        {
            "dataset": ds.dataset,
            "facility": ds.facility,
            "rows": rows,
            "summary": {k: summary[k] for k in keep},
            "rerun_summary": {k: rerun_summary[k] for k in keep},
            "rerun_skipped": bool(rerun_summary.get("skipped")),
            "months_published": len(summary["partitions"] or []),
            "timings": timings,
            "rerun_timings": dict(rerun.shard.timings),
            "peak_mib": peak_kib / 1024,
            "preload_s": preload_s,
        }
    )


def _floor(ds: BenchDataset, root: Path, staging_url: str, out: Path, queue: mp.Queue) -> None:
    """The hand-written floor (``bench/floor.py``) on the same file, in a fresh process."""
    from bench.floor import run_floor

    t0 = time.perf_counter()
    result = run_floor(root / "facilities.yaml", root / "drop", out, NIGHT, staging_url,
                       b"benchmark-only-key-0123456789abcdef", [ds.dataset])
    result["wall_s"] = time.perf_counter() - t0
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def bench(
    dataset: str, rows: int, staging_url: str | Callable[[], str] | None, keep: bool = False,
    seed: int | None = None, floor_url: str | Callable[[], str] | None = None, pairs: int = 1,
    release: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Generate, then run one dataset at one size in a fresh child process; returns the result.

    ``pairs`` runs the pipeline and then the floor that many times, alternating, on the same
    file, each run with data zones of its own. ``staging_url`` and ``floor_url`` are a database
    URL or a function that makes a fresh one (called just before each run; ``main`` starts a
    fresh server there); ``release`` is called after each run (``main`` stops that server).
    The result is the run whose ratio is the median (the upper, less flattering, middle for an
    even count), with every pair's figures under ``pairs``.
    """
    ds = DATASETS[dataset]
    root = Path(tempfile.mkdtemp(prefix=f"s06-bench-{dataset}-"))
    folder = root / "drop" / ds.facility / ds.dataset / NIGHT.isoformat()
    folder.mkdir(parents=True)
    (root / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
    t = time.perf_counter()
    ds.write(folder / ds.file_name, rows, seed)
    gen_s = time.perf_counter() - t
    seed = ds.seed if seed is None else seed
    csv_mib = (folder / ds.file_name).stat().st_size / 2**20
    runs: list[dict[str, Any]] = []
    for i in range(pairs):
        machine = machine_facts()
        run_root = root / f"run-{i + 1}"
        run_root.mkdir()
        url = staging_url() if callable(staging_url) else staging_url
        try:
            result = in_child(_run, ds, rows, root, url, run_root)
        finally:
            if release:
                release()
        if url and url.startswith("postgresql") and floor_url:
            try:
                floor = in_child(_floor, ds, root, floor_url() if callable(floor_url) else floor_url,
                                 root / f"floor-{i + 1}")
            finally:
                if release:
                    release()
            result["floor"] = floor
            result["floor_ratio"] = round(result["timings"]["end_to_end"] / floor["total_s"], 2)
        result["backend"] = "postgresql" if url and url.startswith("postgresql") else "sqlite"
        result["machine"] = machine
        runs.append(result)
        if not keep:
            shutil.rmtree(run_root, ignore_errors=True)
            shutil.rmtree(root / f"floor-{i + 1}", ignore_errors=True)
    ranked = sorted(runs, key=lambda r: r.get("floor_ratio") or r["timings"].get("end_to_end", 0.0))
    result = ranked[len(ranked) // 2]
    if pairs > 1:
        result["pairs"] = [
            {"end_to_end_s": round(r["timings"].get("end_to_end", float("nan")), 2),
             "floor_s": round(r["floor"]["total_s"], 2) if r.get("floor") else None,
             "ratio": r.get("floor_ratio"), "loadavg_1_5_15": r["machine"]["loadavg_1_5_15"]}
            for r in runs
        ]
    result["generate_s"] = gen_s
    result["seed"] = seed
    result["csv_mib"] = csv_mib
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        result["data_root"] = str(root)
    return result


STAGES = [
    "land",
    "read",
    "normalize",
    "validate",
    "spill",
    "load",
    "publish_parquet",
    "end_to_end",
    "rerun_same_interval",
    "rerun_load",
]


def size_label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}m"
    if rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)


def print_result(r: dict[str, Any]) -> None:
    n = r["rows"]
    s = r["summary"]
    share = s["quarantined"] / s["received"] if s["received"] else 0.0
    print(
        f"\n{r['dataset']}: {n:,} rows -> {r['backend']} ({r['csv_mib']:.0f} MiB CSV, generated in "
        f"{r['generate_s']:.1f} s); loaded {s['loaded']:,}, quarantined {s['quarantined']:,} ({share:.2%}) "
        f"{s.get('quarantined_by_rule') or ''}, flagged {s.get('flagged', 0):,}; peak RSS {r['peak_mib']:.0f} MiB; "
        f"load average at start {r['machine']['loadavg_1_5_15']}"
    )
    if s["loaded"] < n * 0.99:
        print(f"  WARNING: only {s['loaded']:,} of {n:,} rows loaded - the figures below do not measure a full load")
    if r.get("held"):
        print(f"  HELD BACK: {r['held']}")
    if r.get("floor"):
        print(f"  hand-written floor (same file, its own fresh server): {r['floor']['total_s']:.2f} s; "
              f"pipeline / floor = {r['floor_ratio']}" + (f" (the median of {len(r['pairs'])} pairs)"
                                                          if r.get("pairs") else ""))
    for i, pair in enumerate(r.get("pairs") or [], 1):
        print(f"  pair {i}: pipeline {pair['end_to_end_s']} s, floor {pair['floor_s']} s, ratio {pair['ratio']} "
              f"(load average {pair['loadavg_1_5_15']})")
    print(f"  {'stage':<22}{'seconds':>9}{'rows/s':>14}")
    for stage in STAGES:
        secs = r["timings"].get(stage)
        if secs is None:
            continue
        print(f"  {stage:<22}{secs:>9.2f}{n / secs if secs else 0:>14,.0f}")


def main(argv: list[str] | None = None, default_dataset: str | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--dataset",
        action="append",
        choices=[*DATASETS, "all"],
        help="dataset (repeat for several; 'all' = every dataset)"
        + (f"; default {default_dataset}" if default_dataset else ""),
        required=default_dataset is None,
    )
    p.add_argument("--rows", type=int, action="append", help="rows (repeat for several sizes; default 1,000,000)")
    p.add_argument("--seed", type=int, default=None, help="generator seed (default: the dataset's, see DATASETS)")
    p.add_argument("--staging-url", default=None, help="staging store (default: SQLite under a temp data root)")
    p.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway PostgreSQL 15 server (as the tests do) and use it as staging",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp data root")
    p.add_argument(
        "--json",
        type=Path,
        help="write all results as one JSON list here (default: one file per dataset and size under bench/results/)",
    )
    p.add_argument("--no-save", action="store_true", help="print only")
    p.add_argument("--pairs", type=int, default=1,
                   help="run the pipeline then the floor this many times, alternating; the median pair is reported "
                        "(the ratio moves by up to 0.25 between runs on a shared machine)")
    args = p.parse_args(argv)
    if args.pairs < 1:
        p.error("--pairs must be at least 1")
    if args.pairs > 1 and args.staging_url:
        p.error("--pairs needs a fresh store per run: use --postgres (or the default SQLite), not --staging-url")
    datasets = args.dataset or [default_dataset]
    if "all" in datasets:
        datasets = list(DATASETS)
    if args.postgres:
        from tests.pg_server import start_server
    results = []
    servers: list[Any] = []

    def fresh_db(name: str) -> Callable[[], str]:
        """A database on a fresh server of its own, for each run of the pipeline and of the floor:
        a server after a million-row load is not the state the next run should start from."""
        def make() -> str:
            servers.append(start_server())
            return str(servers[-1].create_database(name))

        return make

    def release() -> None:
        while servers:
            servers.pop().stop()

    try:
        for dataset in datasets:
            for n in args.rows or [1_000_000]:
                url = fresh_db(f"bench_{dataset}_{n}") if args.postgres else args.staging_url
                floor_url = fresh_db(f"floor_{dataset}_{n}") if args.postgres else None
                r = bench(dataset, n, url, args.keep, args.seed, floor_url, args.pairs, release)
                print_result(r)
                results.append(r)
                if not args.json and not args.no_save:
                    RESULTS.mkdir(exist_ok=True)
                    out = RESULTS / f"{dataset}_{size_label(n)}_{r['backend']}.json"
                    out.write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n")
                    print(f"  -> {out.relative_to(RESULTS.parents[1])}")
    finally:
        release()
    print(
        "\nstages: land=copy+checksum, read=parse to strings (a CSV read ahead in a thread: the wait for it), normalize=types+derivations+hashes+dedup, "
        "validate=GX suite, spill=write valid rows, load=staging upsert+change feed (one transaction), "
        "publish_parquet=curated months, rerun_same_interval=identical re-run (rerun_load: its load stage)"
    )
    if args.json and not args.no_save:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


if __name__ == "__main__":
    main()

"""Benchmark: a national night (13,000 facilities, four datasets) against a hand-written floor.

Not a test: it measures and prints. In one run, on the same generated files and the same
throwaway PostgreSQL 15 server (or SQLite with ``--sqlite``)::

    python -m bench.bench_national                          # the sizing in bench/national.py
    python -m bench.bench_national --facilities 2000 --births 900 --deaths 300 --drivers 250
    python -m bench.bench_national --workers 2              # shards run by two worker processes
    python -m bench.bench_national --pairs 3                # three pipeline/floor pairs, taking turns

1. the **pipeline**: for each dataset, the DAG's own task functions in a fresh process —
   ``plan_shards`` → ``process_shard`` per shard → ``publish_curated`` → ``reconcile_interval``
   (with ``--workers N`` the shards of a dataset run in N processes at once, as N Celery
   workers would); then the identical re-run of the night, then a night with no deliveries
   (every batch silent);
2. the **floor** (``bench/floor.py``): the same night with plain pyarrow, checks and COPY, then
   the silent night;
3. the ratio, per-batch costs (silent, and delivering: what a delivering facility costs beyond a
   silent one), and the peak memory of the first run.

Each side runs on fresh zones and a fresh server of its own. With ``--pairs N`` the two sides run
N times, the pipeline first in even pairs and the floor first in odd ones (so neither always
follows the other), and the pair with the median ratio (the lower middle for an even N) is
reported, every ratio of the run beside it.

Results go to ``bench/results/national_<facilities>_<backend>.json`` with the commit measured.
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
from typing import Any
from zoneinfo import ZoneInfo

from bench import national
from bench.bench_pipeline import machine_facts as machine
from bench.child import in_child

RESULTS = Path(__file__).resolve().parent / "results"
#: The datasets the national sizing covers (bench/national.py's writers).
DATASETS = list(national.WRITERS)
KEY = "benchmark-only-key-0123456789abcdef"


def _env(root: Path, drop: Path, staging_url: str, registry: Path) -> None:
    os.environ["S06_DATA_ROOT"] = str(root)
    os.environ["S06_DROP_ROOT"] = str(drop)
    os.environ["S06_FACILITIES_FILE"] = str(registry)
    os.environ["S06_STAGING_URL"] = staging_url
    os.environ["S06_PSEUDONYM_KEY"] = KEY
    os.environ.setdefault("S06_CITIZEN_REGISTRY", str(root / "no-registry.csv"))


def _interval(night: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(night.year, night.month, night.day, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    return start, start + dt.timedelta(days=1)


def _shard_worker(args: tuple[str, list[str], dt.datetime, dt.datetime]) -> dict[str, Any]:
    from pipeline.errors import BatchFailed, BatchHeldBack, TransportError
    from pipeline.tasks import process_shard

    dataset, codes, start, end = args
    try:
        return {"ok": len(process_shard(dataset, codes, start, end)), "problem": None}
    except (TransportError, BatchFailed, BatchHeldBack) as exc:
        return {"ok": 0, "problem": f"{type(exc).__name__}: {str(exc)[:300]}"}


def _project_night(root: Path, drop: Path, staging_url: str, registry: Path, night: dt.date, workers: int,
                   out: mp.Queue) -> None:
    _env(root, drop, staging_url, registry)
    t_import = time.perf_counter()
    from ops.preload import preload
    from pipeline.errors import ReconciliationError
    from pipeline.tasks import plan_shards, publish_curated, reconcile_interval

    # Imports outside the clock, as a worker has them before it forks tasks (ops/preload.py:
    # Great Expectations, every hook, the table definitions); the floor's imports are outside its
    # clock too. A cold task start is measured on its own (bench.bench_start).
    preload()
    import_s = time.perf_counter() - t_import
    start, end = _interval(night)
    result: dict[str, Any] = {"import_s": import_s, "datasets": {}}
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    t_all = time.perf_counter()
    try:
        for ds in DATASETS:
            t0 = time.perf_counter()
            shards = plan_shards(ds, int(os.environ.get("S06_FACILITIES_PER_TASK", "0") or 0))
            jobs = [(ds, codes, start, end) for codes in shards]
            outcomes = pool.map(_shard_worker, jobs, chunksize=1) if pool else [_shard_worker(j) for j in jobs]
            t1 = time.perf_counter()
            published = publish_curated(ds, start)
            t2 = time.perf_counter()
            try:
                totals = reconcile_interval(ds, start)
                problem = None
            except ReconciliationError as exc:
                totals, problem = {}, str(exc)[:300]
            t3 = time.perf_counter()
            result["datasets"][ds] = {
                "shards": len(shards), "facilities": sum(len(s) for s in shards),
                "process_s": t1 - t0, "publish_s": t2 - t1, "reconcile_s": t3 - t2, "total_s": t3 - t0,
                "totals": totals, "files_published": len(published["files"]), "problem": problem,
                "shard_problems": [o["problem"] for o in outcomes if o["problem"]][:3],
            }
    finally:
        if pool:
            pool.close()
            pool.join()
    result["total_s"] = time.perf_counter() - t_all
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if pool:
        result["peak_mib_workers"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out.put(result)


def _floor_night(root: Path, drop: Path, staging_url: str, registry: Path, night: dt.date, out: mp.Queue) -> None:
    t_import = time.perf_counter()
    from bench.floor import run_floor

    import_s = time.perf_counter() - t_import
    result = run_floor(registry, drop, root / "floor", night, staging_url, KEY.encode(), DATASETS)
    result["import_s"] = import_s
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(result)


def _per_batch(night_s: float, silent_s: float, batches: int, silent: int) -> dict[str, float]:
    per_silent = silent_s / batches if batches else 0.0
    delivering = batches - silent
    per_delivering = (night_s - per_silent * silent) / delivering if delivering else 0.0
    return {"silent_ms": round(per_silent * 1000, 3), "delivering_ms": round(per_delivering * 1000, 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facilities", type=int, default=13_000)
    parser.add_argument("--births", type=int, default=6_000)
    parser.add_argument("--deaths", type=int, default=2_000)
    parser.add_argument("--drivers", type=int, default=1_500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="SQLite staging instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--pairs", type=int, default=1,
                        help="pipeline and floor nights N times, taking turns; the pair with the median ratio is reported")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    sizing = national.Sizing(args.facilities, min(args.births, args.facilities), min(args.deaths, args.facilities),
                             min(args.drivers, args.facilities))
    work = Path(tempfile.mkdtemp(prefix="s06-national-"))
    server: Any = None
    try:
        t0 = time.perf_counter()
        root = work / "data"
        registry = work / "facilities.yaml"
        sends = national.write_registry(registry, sizing)
        plan = national.plan_deliveries(sends, sizing)
        rows = national.write_night(root / "drop", plan, work, national.NIGHT)  # shared by every pair
        generate_s = time.perf_counter() - t0
        batches = sum(len(v) for v in plan.values())
        silent = sum(1 for v in plan.values() for n in v.values() if n == 0)
        night, silent_night = national.NIGHT, national.NIGHT + dt.timedelta(days=1)
        drop = root / "drop"

        def pipeline_side(run: Path) -> dict[str, Any]:
            """The pipeline's three nights, on fresh zones and a fresh store of their own."""
            nonlocal server
            if args.sqlite:
                url = f"sqlite:///{run / 'staging.db'}"
            else:
                from tests.pg_server import start_server

                server = start_server()
                url = server.create_database("project")
            try:
                return {"project": in_child(_project_night, run, drop, url, registry, night, args.workers),
                        "rerun": in_child(_project_night, run, drop, url, registry, night, args.workers),
                        "project_silent": in_child(_project_night, run, drop, url, registry, silent_night,
                                                   args.workers)}
            finally:
                if server is not None:
                    server.stop()
                    server = None

        def floor_side(run: Path) -> dict[str, Any]:
            """The floor's two nights on a fresh server of its own (PostgreSQL only): nothing the
            other side left in a server (dirty buffers, a checkpoint under way, catalog bloat)
            weighs on it, for or against."""
            nonlocal server
            from tests.pg_server import start_server

            server = start_server()
            try:
                url = server.create_database("floor")
                return {"floor": in_child(_floor_night, run, drop, url, registry, night),
                        "floor_silent": in_child(_floor_night, run, drop, url, registry, silent_night)}
            finally:
                server.stop()
                server = None

        pairs: list[dict[str, Any]] = []
        for i in range(args.pairs):
            run = work / f"run{i}"
            run.mkdir()
            sides: dict[str, Any] = {}
            # Taking turns: the pipeline first in even pairs, the floor first in odd ones.
            order = ["pipeline", "floor"] if i % 2 == 0 or args.sqlite else ["floor", "pipeline"]
            for side in order:
                if side == "pipeline":
                    sides.update(pipeline_side(run))
                elif not args.sqlite:  # the floor loads PostgreSQL only
                    sides.update(floor_side(run))
            sides["order"] = order if not args.sqlite else ["pipeline"]
            pairs.append(sides)
            if not args.keep:
                shutil.rmtree(run, ignore_errors=True)
        for p in pairs:
            if p.get("floor"):
                p["ratio"] = round(p["project"]["total_s"] / p["floor"]["total_s"], 2)
        # The pair with the median ratio stands for the run (its figures all come from one pair).
        ranked = sorted(pairs, key=lambda p: p.get("ratio") or 0.0)
        chosen = ranked[(len(ranked) - 1) // 2]
        project, rerun, project_silent = chosen["project"], chosen["rerun"], chosen["project_silent"]
        floor, floor_silent = chosen.get("floor"), chosen.get("floor_silent")
        result: dict[str, Any] = {
            "sizing": sizing.__dict__, "rows": rows, "batches": batches, "silent_batches": silent,
            "workers": args.workers, "backend": "sqlite" if args.sqlite else "postgresql",
            "shard_size_env": os.environ.get("S06_FACILITIES_PER_TASK"),
            "generate_s": generate_s, "project": project, "rerun": rerun, "project_silent": project_silent,
            "floor": floor, "floor_silent": floor_silent, "machine": machine(),
            "project_per_batch": _per_batch(project["total_s"], project_silent["total_s"], batches, silent),
            "pairs": [{"order": p["order"], "ratio": p.get("ratio"), "project_s": round(p["project"]["total_s"], 2),
                       "floor_s": round(p["floor"]["total_s"], 2) if p.get("floor") else None} for p in pairs],
        }
        if floor and floor_silent:
            result["floor_per_batch"] = _per_batch(floor["total_s"], floor_silent["total_s"], batches, silent)
            result["ratio"] = chosen["ratio"]
            # The ratio only means something if both did the same work: same rows loaded.
            result["same_work"] = {ds: {"project_loaded": d["totals"]["loaded"],
                                        "floor_loaded": floor["datasets"][ds]["loaded"]}
                                   for ds, d in project["datasets"].items()}
            result["same_work_ok"] = all(v["project_loaded"] == v["floor_loaded"]
                                         for v in result["same_work"].values())
        out = args.json or RESULTS / f"national_{sizing.facilities}_{result['backend']}_w{args.workers}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        report(result)
        return result
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(r: dict[str, Any]) -> None:
    p, f = r["project"], r.get("floor")
    print(f"national night: {r['sizing']['facilities']:,} facilities, {r['batches']:,} batches "
          f"({r['silent_batches']:,} silent), rows {r['rows']}, {r['backend']}, workers {r['workers']}")
    print(f"{'dataset':<22}{'shards':>7}{'process s':>11}{'publish s':>11}{'total s':>9}{'floor s':>9}")
    for ds, d in p["datasets"].items():
        fl = f["datasets"][ds]["total_s"] if f else float("nan")
        print(f"{ds:<22}{d['shards']:>7}{d['process_s']:>11.1f}{d['publish_s']:>11.1f}{d['total_s']:>9.1f}{fl:>9.1f}"
              + (f"   ! {d['problem'][:80]}" if d["problem"] else ""))
    print(f"night: pipeline {p['total_s']:.1f} s, floor {f['total_s']:.1f} s, ratio {r.get('ratio')}" if f else
          f"night: pipeline {p['total_s']:.1f} s")
    print(f"identical re-run {r['rerun']['total_s']:.1f} s; silent night {r['project_silent']['total_s']:.1f} s")
    print(f"per batch: pipeline {r['project_per_batch']}, floor {r.get('floor_per_batch')}")
    print(f"peak memory: pipeline {p['peak_mib']:.0f} MiB" + (f", floor {f['peak_mib']:.0f} MiB" if f else ""))
    if f and not r.get("same_work_ok", True):
        print(f"WARNING: the floor and the pipeline loaded different rows, the ratio is not comparable: "
              f"{r['same_work']}")


if __name__ == "__main__":
    main()

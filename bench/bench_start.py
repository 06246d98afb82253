"""Benchmark: what a task pays before and around its work — process start, and one small batch.

Not a test: it measures and prints, pipeline and hand-written floor in the same run::

    python -m bench.bench_start [--repeat 5]

* **cold start**: a fresh interpreter importing what a facility task imports — the pipeline's
  modules and Great Expectations (the validator) — against the floor's imports (pyarrow,
  psycopg, PyYAML); also the pipeline without Great Expectations (a shard whose facilities were
  all silent or unchanged never imports it);
* **forked start**: a child forked from a worker that imported everything beforehand (what an
  Airflow worker with the modules preloaded pays per task process, see ``docs/deployment.md``);
* **one small batch**: one facility sending 20 birth records, processed on its own
  (``run_batch``, warm process) against the floor doing the same, the two taking turns ``--repeat``
  times (medians of each); and the same facility
  as one of 200 in a shard (the marginal cost per batch), which is how the DAG runs it.

Results go to ``bench/results/start.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.bench_pipeline import machine_facts

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PIPELINE_IMPORTS = ("import pipeline.tasks, pipeline.shard, pipeline.stages.judge, expectations.runner; "
                    "import great_expectations")
PIPELINE_NO_GX = "import pipeline.tasks, pipeline.shard, pipeline.stages.judge"
FLOOR_IMPORTS = "import pyarrow, pyarrow.csv, pyarrow.parquet, pyarrow.compute, psycopg, yaml, bench.floor"


def _python(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   capture_output=True, timeout=300)
    return time.perf_counter() - t0


def forked_start(repeat: int) -> float:
    """Median wall time of fork → child imports (already loaded) → exit, from a preloaded parent."""
    import great_expectations  # noqa: F401

    import expectations.runner  # noqa: F401
    import pipeline.shard
    import pipeline.tasks

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            import pipeline.tasks  # noqa: F401

            os._exit(0)
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def small_batches(work: Path, repeat: int) -> dict[str, Any]:
    """One 20-row birth facility alone, and as one of a 200-facility shard; pipeline vs floor."""
    from bench import national
    from bench.floor import run_floor

    sizing = national.Sizing(facilities=200, births=200, deaths=0, drivers=0, silent_share=0.0, max_records=1)
    registry = work / "facilities.yaml"
    sends = national.write_registry(registry, sizing)
    sends = {"birth_certificates": sends["birth_certificates"]}
    plan = {"birth_certificates": dict.fromkeys(sends["birth_certificates"], 20)}
    root = work / "data"
    night = national.NIGHT
    national.write_night(root / "drop", plan, work, night)
    os.environ.update({"S06_DATA_ROOT": str(root), "S06_DROP_ROOT": str(root / "drop"),
                       "S06_FACILITIES_FILE": str(registry), "S06_PSEUDONYM_KEY": "benchmark-only-key-0123456789abcdef",
                       "S06_STAGING_URL": f"sqlite:///{root / 'staging.db'}", "S06_FORCE_RERUN": "1"})
    from pipeline.batch import run_batch
    from pipeline.tasks import process_shard

    start = dt.datetime(night.year, night.month, night.day, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    end = start + dt.timedelta(days=1)
    codes = sends["birth_certificates"]
    one = work / "one.yaml"
    one.write_text("facilities:\n" + "".join(
        line + "\n" for line in registry.read_text(encoding="utf-8").splitlines() if f'"{codes[0]}"' in line),
        encoding="utf-8")
    pg = _pg_or_none()

    def floor() -> None:
        run_floor(one, root / "drop", work / "floor", night, pg, b"k" * 32, ["birth_certificates"])

    run_batch("birth_certificates", codes[0], start, end)  # warm: imports, suite, schema
    if pg:
        floor()
    # Taking turns, so a slow spell of this shared machine falls on both sides alike.
    alone: list[float] = []
    floor_alone: list[float] = []
    outcome: dict[str, Any] = {}
    for _ in range(repeat):
        alone.append(_timed(lambda: outcome.update(run_batch("birth_certificates", codes[0], start, end))))
        if pg:
            floor_alone.append(_timed(floor))
    in_shard: list[dict[str, Any]] = []
    shard = _timed(lambda: in_shard.extend(process_shard("birth_certificates", codes, start, end)))
    return {"rows_per_batch": 20, "alone_s": statistics.median(alone), "in_shard_of_200_s": shard,
            "per_batch_in_shard_s": shard / 200, "repeat": repeat,
            "floor_alone_s": statistics.median(floor_alone) if floor_alone else None,
            # what the timed runs did (the forced re-runs reload the batch each time)
            "alone_loaded": outcome.get("loaded"),
            "in_shard_loaded": sum(s.get("loaded") or 0 for s in in_shard), "in_shard_batches": len(in_shard)}


_PG: dict[str, str] = {}


def _pg_or_none() -> str | None:
    return _PG.get("url")


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=RESULTS / "start.json")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"machine": machine_facts()}
    cold: dict[str, list[float]] = {"cold_start_s": [], "cold_start_without_gx_s": [], "floor_cold_start_s": []}
    for _ in range(args.repeat):  # taking turns, as the small batches do
        cold["cold_start_s"].append(_python(PIPELINE_IMPORTS))
        cold["cold_start_without_gx_s"].append(_python(PIPELINE_NO_GX))
        cold["floor_cold_start_s"].append(_python(FLOOR_IMPORTS))
    result.update({key: statistics.median(times) for key, times in cold.items()})
    result["cold_start_ratio"] = round(result["cold_start_s"] / result["floor_cold_start_s"], 2)
    result["cold_start_without_gx_ratio"] = round(result["cold_start_without_gx_s"] / result["floor_cold_start_s"], 2)
    result["forked_start_s"] = forked_start(args.repeat)
    result["forked_start_ratio"] = round(result["forked_start_s"] / result["floor_cold_start_s"], 3)
    work = Path(tempfile.mkdtemp(prefix="s06-start-"))
    server = None
    try:
        from tests.pg_server import start_server

        server = start_server()
        _PG["url"] = server.create_database("floor")
        result["small_batch"] = small_batches(work, args.repeat)
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    sb = result["small_batch"]
    if sb.get("floor_alone_s"):
        sb["alone_ratio"] = round(sb["alone_s"] / sb["floor_alone_s"], 2)
        sb["in_shard_ratio"] = round(sb["per_batch_in_shard_s"] / sb["floor_alone_s"], 2)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, sort_keys=True))
    return result


if __name__ == "__main__":
    main()

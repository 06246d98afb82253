"""The main job: generate sample data, run the nightly DAGs for consecutive nights, summarise.

``make demo`` calls this. Each night runs every dataset DAG with ``dag.test()`` in this one
process (Airflow's embedded SQLite metadata DB under ``.work/airflow``). Running it twice in a
row is safe: the second run re-processes the same intervals and changes nothing.

Usage::

    python -m pipeline.demo [--start 2026-11-21] [--nights 3] [--dataset birth_certificates] [--no-generate] [--strict]

Exit codes: ``make demo`` exits 0 when the nights ran, even if the sample data's planted defects
hold batches back (that is the demo working). With ``--strict`` (what ``make run-night`` passes)
the exit code is the backfill's for the same outcome: 1 when a night needs attention (a DAG run
failed, or a batch of the night was failed, held or partial, or did not balance), else 0. Both
exit 2 with one ``error:`` line when they cannot run (staging store unreachable, no
pseudonymization key, invalid setting); a data root that does not exist yet is created.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from config.settings import load_settings
from pipeline.datasets import DATASETS


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 11, 21), help="first night (local date)")
    p.add_argument("--nights", type=int, default=3, help="number of consecutive nights")
    p.add_argument("--dataset", action="append", choices=sorted(DATASETS), help="dataset(s) to run (default: all)")
    p.add_argument("--no-generate", action="store_true", help="use the data already in the drop zone")
    p.add_argument("--seed", type=int, default=6, help="sample-data seed")
    p.add_argument("--verbose", action="store_true", help="show Airflow's task logs on the console")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a night needs attention, as the backfill does (make run-night)")
    return p.parse_args(argv)


def needs_attention(datasets: list[str], nights: list[dt.date], states: dict[tuple[str, dt.date], str]) -> list[str]:
    """The backfill's verdict on the nights just run: a failed DAG run, or what reconcile reports."""
    from loaders import staging
    from pipeline.errors import ReconciliationError, StepFailed
    from pipeline.tasks import reconcile_interval

    settings = load_settings()
    engine = staging.make_engine(settings.staging_url)
    tz = ZoneInfo(settings.timezone)
    problems = []
    for ds in datasets:
        for night in nights:
            local = dt.datetime(night.year, night.month, night.day, tzinfo=tz)
            # The ledger keys a night by its interval start as the runner saw it: UTC from a DAG
            # run, local time from the backfill (the batch id is the same).
            start = next((s for s in (local.astimezone(dt.UTC), local)
                          if staging.ledger_rows(engine, ds, s.isoformat())), local)
            try:
                reconcile_interval(ds, start, settings)
            except (ReconciliationError, StepFailed) as exc:
                problems.append(f"{ds} {night}: {exc}")
                continue
            if states.get((ds, night), "success") != "success":
                problems.append(f"{ds} {night}: DAG run {states[(ds, night)]} (see the task logs)")
    return problems


@contextlib.contextmanager
def _output_to(log_path: Path | None) -> Iterator[None]:
    """Send this process's stdout/stderr (Airflow's task logs included) to ``log_path``."""
    if log_path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _consume(dataset: str) -> str:
    """Let the reference consumer read the change feed (closes the loop, as the population DB would)."""
    from loaders import staging
    from pipeline.consumer import MATCH_COLUMN, consume, load_registry_ids

    if dataset not in MATCH_COLUMN:
        return "n/a"
    settings = load_settings()
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, [dataset])
    result = consume(engine, dataset, "population_db", load_registry_ids(settings.reference_root / "citizen_registry.csv"))
    return f"{result.get('registered', 0)} registered, {result.get('rejected', 0)} rejected"


def run_nights(datasets: list[str], nights: list[dt.date], log_path: Path | None = None) -> dict[tuple[str, dt.date], str]:
    """Run each dataset DAG once per night with ``dag.test()``; returns the run states.

    Args:
        datasets: dataset DAGs to run.
        nights: local nights to process.
        log_path: where Airflow's task logs go (None: the console).
    """
    from pipeline.dag_factory import TIMEZONE, build_dag

    states: dict[tuple[str, dt.date], str] = {}
    tz = ZoneInfo(TIMEZONE)
    for ds in datasets:
        dag = build_dag(ds)
        for night in nights:
            # A manual run covers the last complete interval before its logical date: the
            # run at D+1 00:00 local processes night D (as the nightly schedule does).
            after = dt.datetime(night.year, night.month, night.day, tzinfo=tz) + dt.timedelta(days=1)
            print(f"running DAG {ds} for night {night} ...", flush=True)
            with _output_to(log_path):
                run = dag.test(logical_date=after)
            states[(ds, night)] = str(getattr(run, "state", "unknown"))
            acks = _consume(ds)
            print(f"  -> {states[(ds, night)]}; population-DB reference consumer: {acks}", flush=True)
    return states


def _ensure_pool() -> None:
    """Create the facility-sources pool in Airflow's metadata DB if it is missing."""
    from pipeline.dag_factory import SOURCE_POOL

    try:
        from airflow.models.pool import Pool

        if Pool.get_pool(SOURCE_POOL) is None:
            Pool.create_or_update_pool(SOURCE_POOL, slots=8, description="Scheme 06 calls into facility systems",
                                       include_deferred=False)
    except Exception as exc:
        print(f"warning: could not create the Airflow pool {SOURCE_POOL}: {type(exc).__name__}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (module docstring)."""
    args = _args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema checks: not news on the console
    from pipeline.preflight import EXIT_ATTENTION, EXIT_CANNOT_RUN, EXIT_OK, CannotRun, preflight

    try:
        settings = load_settings()
        preflight(settings)  # the backfill's: data root created, key and staging store checked
    except (CannotRun, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    datasets = args.dataset or sorted(DATASETS)
    nights = [args.start + dt.timedelta(days=i) for i in range(args.nights)]
    if not args.no_generate:
        from sample_data.generator import generate

        generate(settings.data_root, args.start, args.nights, seed=args.seed)
        print(f"sample data generated under {settings.data_root}")
    log_path = None
    if not args.verbose:
        log_dir = settings.data_root.parent / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"demo-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.log"
        print(f"Airflow task logs: {log_path}")
    _ensure_pool()
    from config.registry import load_registry
    from sample_data.sources import sample_sources

    # REST and SQL facilities are served by the sample facility systems for the whole run.
    with sample_sources(settings.data_root, load_registry(settings.facilities_file)):
        states = run_nights(datasets, nights, log_path)
    from pipeline.summary import render

    print("\n" + "=" * 78)
    print("Scheme 06 nightly pipeline - summary")
    print("=" * 78)
    for (ds, night), state in sorted(states.items()):
        print(f"DAG run {ds} {night}: {state}")
    print(render(settings, datasets, nights))
    if not args.strict:
        return EXIT_OK
    problems = needs_attention(datasets, nights, states)
    for line in problems:
        print(f"needs attention: {line}")
    return EXIT_ATTENTION if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

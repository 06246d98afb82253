"""Backfill a date range of one or more datasets, night by night, without a scheduler.

The same task functions the nightly DAG runs (every facility's batch, then the curated publish,
then reconciliation), for each local night of the range, oldest first::

    s06 backfill --dataset death_notices --from 2026-11-01 --to 2026-11-20
    python -m cli.backfill --from 2026-11-01 --to 2026-11-20            # every dataset
    python -m cli.backfill --dataset birth_certificates --from 2026-11-21 --to 2026-11-21 --facility 31011

Safe to run beside the nightly runs and to run again: a batch is keyed by dataset/facility/night
(a re-run replaces its own findings and ledger row), staging takes only newer, different versions
(serialised per dataset on PostgreSQL), curated months are rebuilt under a per-month lock, and a
night that was already loaded is a no-op. With a scheduler, ``airflow backfill create --dag-id
<dataset> --from-date ... --to-date ...`` does the same through Airflow.

Exit codes (``make run-night`` gives the same for the same outcome):

* **0** every night of the range reconciled cleanly;
* **1** some night needs attention (a failed, held or partial facility, an imbalance, a curated
  publish that failed), reported after all nights ran, one ``needs attention:`` line each;
* **2** the backfill cannot run or could not finish — the staging store is unreachable (or went
  away), the pseudonymization key is missing, a setting is invalid, a lock wait ran out — one
  ``error:`` line, no traceback. A data root that does not exist yet is created.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from cli.preflight import EXIT_ATTENTION, EXIT_CANNOT_RUN, EXIT_OK, CannotRun, check_store, preflight, unreachable
from config.contracts import available_datasets
from config.errors import BatchFailed, BatchHeldBack, ReconciliationError, StepFailed, TransportError
from config.registry import facilities_for, load_registry
from config.settings import load_settings

log = logging.getLogger(__name__)


def backfill(datasets: list[str], first: dt.date, last: dt.date, facilities: list[str] | None = None) -> list[str]:
    """Run every night of ``first..last`` (inclusive) for ``datasets``.

    Returns:
        One line per problem (dataset, night, what); empty when every night reconciled cleanly.
    """
    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    from pipeline.secrets import MissingKeyError
    from pipeline.tasks import process_shard, publish_curated, reconcile_interval

    registry = load_registry(settings.facilities_file)
    problems: list[str] = []
    night = first
    while night <= last:
        start = dt.datetime(night.year, night.month, night.day, tzinfo=tz)
        end = start + dt.timedelta(days=1)
        for dataset in datasets:
            codes = [f.code for f in facilities_for(dataset, registry) if not facilities or f.code in facilities]
            if not codes:
                continue
            task_failed: str | None = None
            try:
                process_shard(dataset, codes, start, end, settings)
            except (TransportError, BatchFailed, BatchHeldBack) as exc:
                # Normally recorded per facility in the ledger (reconcile reports it below; the
                # other facilities of the night were loaded and are published). A store that no
                # longer answers ends the run (exit 2); if the ledger row could not be written
                # otherwise (a full disk), reconcile finds nothing and this is the only trace.
                check_store(settings)
                task_failed = f"{dataset} {night}: facility task failed: {exc}"
            reported = len(problems)
            try:
                publish_curated(dataset, start, settings)
            except (StepFailed, BatchFailed) as exc:
                if isinstance(exc, MissingKeyError):
                    raise
                check_store(settings)
                problems.append(f"{dataset} {night}: curated publish failed: {exc}")
            try:
                totals = reconcile_interval(dataset, start, settings)
                print(f"{dataset} {night}: {totals}", flush=True)
            except (ReconciliationError, StepFailed) as exc:
                check_store(settings)
                problems.append(f"{dataset} {night}: {exc}")
            if task_failed and len(problems) == reported:  # never "clean" after a failed task
                problems.append(task_failed)
        night += dt.timedelta(days=1)
    return problems


def run(datasets: list[str], first: dt.date, last: dt.date, facilities: list[str] | None = None) -> tuple[int, list[str]]:
    """Preflight, then :func:`backfill`; returns (exit code, lines to print)."""
    from loaders.locks import LockTimeout
    from loaders.migrate import SchemaError
    from pipeline.secrets import MissingKeyError

    try:
        settings = load_settings()
        preflight(settings)
        problems = backfill(datasets, first, last, facilities)
    except CannotRun as exc:
        return EXIT_CANNOT_RUN, [f"error: {exc}"]
    except ValueError as exc:  # an invalid setting (load_settings, lock timeouts)
        return EXIT_CANNOT_RUN, [f"error: invalid setting: {exc}"]
    except (MissingKeyError, SchemaError, LockTimeout) as exc:
        return EXIT_CANNOT_RUN, [f"error: {exc}"]
    except sa.exc.DBAPIError as exc:  # the store went away during the run
        return EXIT_CANNOT_RUN, [f"error: {unreachable(settings, exc)}"]
    return (EXIT_ATTENTION if problems else EXIT_OK), [f"needs attention: {line}" for line in problems]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (module docstring)."""
    p = argparse.ArgumentParser(prog="s06 backfill", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", action="append", choices=available_datasets(), help="dataset(s); default: all")
    p.add_argument("--from", dest="first", type=dt.date.fromisoformat, required=True, help="first night (local date)")
    p.add_argument("--to", dest="last", type=dt.date.fromisoformat, required=True, help="last night, inclusive")
    p.add_argument("--facility", action="append", help="only these facility codes")
    args = p.parse_args(argv)
    if args.last < args.first:
        p.error("--to is before --from")
    logging.basicConfig(level=logging.WARNING)
    code, lines = run(args.dataset or available_datasets(), args.first, args.last, args.facility)
    for line in lines:
        print(line, file=sys.stderr if code == EXIT_CANNOT_RUN else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())

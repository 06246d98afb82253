"""Rebuild curated Parquet months from staging: after a change to what curated Parquet holds.

The nightly publish writes only the parts of the nights it loads. When a contract's ``curated``
treatment changes (a column is now dropped, pseudonymized or masked), the parts written before
still hold the old treatment: this command rewrites whole months from the current staging rows,
one part per night, under each month's lock (safe while the nightly DAGs run)::

    s06 republish --dataset driver_health_checks            # every month the store has published
    s06 republish --dataset death_notices --month 2026-11   # one month (repeat --month for more)

A month is every month a loaded batch of the dataset touched (the ledger's ``partitions``) and
every month folder already in the curated zone (a month with no rows left loses its files).
Prints counts only: no personal data. Exit 0 when every month was rebuilt; 2 with one ``error:``
line when the pseudonymization key is missing or the staging store does not answer.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from sqlalchemy.engine import Engine

from cli.preflight import EXIT_CANNOT_RUN, CannotRun, preflight
from config.contracts import available_datasets, load_contract
from config.settings import load_settings
from config.storage import Zone
from loaders import staging

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month(text: str) -> tuple[int, int]:
    m = _MONTH.match(text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}")
    return int(m.group(1)), int(m.group(2))


def published_months(engine: Engine, dataset: str, zone: Zone) -> set[tuple[int, int]]:
    """Months the ledger says the dataset's loaded batches touched, and month folders in the zone."""
    months: set[tuple[int, int]] = set()
    for row in staging.ledger_rows(engine, dataset):
        for ym in json.loads(row["partitions"] or "[]"):
            months.add(_month(ym))
    for year in zone.list(dataset):  # hive folders: <event>_year=YYYY/<event>_month=MM
        if not (year.is_dir and "=" in year.name):
            continue
        for month in zone.list(f"{dataset}/{year.name}"):
            if month.is_dir and "=" in month.name:
                y, m = year.name.split("=", 1)[1], month.name.split("=", 1)[1]
                if y.isdigit() and m.isdigit():
                    months.add((int(y), int(m)))
    return months


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 0 when every month was rebuilt, 2 when it cannot run."""
    from loaders.curated import publish_partitions
    from pipeline.secrets import pseudonym_key

    parser = argparse.ArgumentParser(prog="s06 republish", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True, choices=available_datasets())
    parser.add_argument("--month", action="append", type=_month, default=[], metavar="YYYY-MM",
                        help="rebuild only these months (default: every published month)")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        preflight(settings)
    except CannotRun as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    engine = staging.engine_for(settings.staging_url)
    staging.ensure_schema(engine, args.dataset)
    zone = settings.zone("curated")
    key = pseudonym_key()
    for dataset in args.dataset:
        months = set(args.month) or published_months(engine, dataset, zone)
        written = publish_partitions(engine, load_contract(dataset), months, zone, key)
        print(f"{dataset}: {len(months)} month(s) rebuilt, {len(written)} file(s) written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

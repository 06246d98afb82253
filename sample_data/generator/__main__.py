"""Command line of the synthetic-data generator.

Examples (from the repository root)::

    python -m sample_data.generator --out .work/sample --start 2026-11-21 --nights 3 --seed 6
    python -m sample_data.generator --out .work/sample --registry-out sample_data/facilities.yaml
    python -m sample_data.generator --counts .work/sample
    python -m sample_data.generator --bench-csv .work/bench/births_1m.csv --rows 1000000
    python -m sample_data.generator --bench-csv .work/bench/deaths_1m.csv --dataset death_notices

Output is counts only: no names, IDs or other personal values are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sample_data.generator import (
    ground_truth,
    write_births_csv,
    write_deaths_csv,
    write_drivers_csv,
    write_workforce_csv,
)
from sample_data.generator.run import OutputDirError, catalogues, facility_formats, generate

BENCH_WRITERS = {
    "birth_certificates": write_births_csv,
    "death_notices": write_deaths_csv,
    "driver_health_checks": write_drivers_csv,
    "health_workforce": write_workforce_csv,
}


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the README/--help test).

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sample_data.generator",
        description=(
            "Write deterministic synthetic sources (file drops, REST API records, a facility database) of "
            "birth certificates, death notices, driver health checks and health workforce, with injected "
            "defects and a ground truth; or print the counts of an existing run."
        ),
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, help="output folder (created; a previous run's output there is replaced)")
    mode.add_argument(
        "--counts", type=Path, metavar="OUT", help="print the counts tables of OUT/ground_truth/*.csv and exit"
    )
    mode.add_argument(
        "--bench-csv", type=Path, metavar="PATH", help="write --rows clean rows in the facility CSV format to PATH"
    )
    parser.add_argument(
        "--start", type=_date, default=date(2026, 11, 21), help="first delivery night, YYYY-MM-DD (default 2026-11-21)"
    )
    parser.add_argument("--nights", type=int, default=3, help="number of consecutive nights (default 3)")
    parser.add_argument("--seed", type=int, default=6, help="seed of every random draw (default 6)")
    parser.add_argument(
        "--per-night",
        type=int,
        default=40,
        help="average certificates per facility and night, varies ±30%% (default 40)",
    )
    parser.add_argument(
        "--defect-rate", type=float, default=0.12, help="share of records with a record-level defect (default 0.12)"
    )
    parser.add_argument(
        "--registry-out", type=Path, help="also write the facility registry YAML there (e.g. sample_data/facilities.yaml)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for --bench-csv (default 1,000,000)")
    parser.add_argument(
        "--dataset",
        choices=sorted(BENCH_WRITERS),
        default="birth_certificates",
        help="dataset of --bench-csv (default birth_certificates)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit code.
    """
    args = build_parser().parse_args(argv)
    if args.counts is not None:
        folder = args.counts / "ground_truth"
        if not folder.is_dir():
            print(f"no ground_truth/ in {args.counts}", file=sys.stderr)
            return 2
        for dataset, catalogue in catalogues().items():
            rows = ground_truth.read_csv(folder / f"{dataset}.csv")
            print(f"## {dataset}\n")
            print(ground_truth.format_counts_table(rows, facility_formats(args.seed)))
            print(ground_truth.format_defect_table(rows, catalogue))
        return 0
    if args.bench_csv is not None:
        began = time.perf_counter()
        n = BENCH_WRITERS[args.dataset](args.bench_csv, args.rows, args.seed)
        print(f"wrote {n} {args.dataset} rows to {args.bench_csv} in {time.perf_counter() - began:.1f} s")
        return 0
    try:
        summary = generate(
            args.out,
            args.start,
            args.nights,
            seed=args.seed,
            per_night=args.per_night,
            defect_rate=args.defect_rate,
            registry_out=args.registry_out,
        )
    except (OutputDirError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    actions = ", ".join(f"{k} {v}" for k, v in summary.by_action.items())
    print(
        f"wrote {summary.records} records in {summary.files} files for {summary.facilities} facilities x "
        f"{summary.nights} nights, {summary.citizens} citizens -> {summary.out_dir}"
    )
    print(f"expected: {actions}")
    print("per dataset: " + ", ".join(f"{k} {v}" for k, v in summary.by_dataset.items()))
    if args.registry_out is not None:
        print(f"registry: {args.registry_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time ``expectations.validate_frame`` on synthetic birth-certificate frames (not a pytest module).

Usage (from the repository root)::

    .venv/bin/python bench/bench_validate_frame.py --rows 200000 --repeat 5 --baseline

Prints one line per variant with the median wall time. ``--baseline`` also times the plain GX
path (``get_batch`` + ``batch.validate`` on the typed frame, batch fingerprint on, ``COMPLETE``)
so the effect of the runner's measures can be seen on this machine. ``--bad-share`` makes that
share of rows break one rule each (cycled over several rules).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

import expectations
from expectations.runner import plan_frame
from expectations.testing import valid_frame

BREAKS: list[tuple[str, object]] = [
    ("child_sex", 9),
    ("birth_weight_g", 100),
    ("mother_cccd", "123"),
    ("mother_health_card_no", "XX"),
    ("commune_in_province", False),
]


def frame(rows: int, bad_share: float) -> pd.DataFrame:
    """A valid synthetic frame with ``bad_share`` of its rows broken."""
    df = valid_frame(rows)
    step = int(1 / bad_share) if bad_share > 0 else 0
    if step:
        for n, row in enumerate(range(0, rows, step)):
            column, value = BREAKS[n % len(BREAKS)]
            df.loc[row, column] = value
    return df


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs (after one warm-up run)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_gx(df: pd.DataFrame) -> Callable[[], object]:
    """The documented GX path without the runner's measures, for comparison."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("bench")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = expectations.build_suite()
    typed = df[plan_frame(suite).columns]

    def run() -> object:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": typed})
        return batch.validate(suite, result_format={"result_format": "COMPLETE"})

    return run


def main() -> None:
    """Parse arguments, run the timings, print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()

    df = frame(args.rows, args.bad_share)
    findings, summary = expectations.validate_frame(df)
    print(f"rows={args.rows} findings={len(findings)} expectations={summary['expectation_count']}")
    seconds = median_seconds(lambda: expectations.validate_frame(df), args.repeat)
    print(f"validate_frame: {seconds:.2f} s median of {args.repeat}")
    if args.baseline:
        seconds = median_seconds(plain_gx(df), args.repeat)
        print(f"plain GX path (fingerprint on, typed frame, COMPLETE): {seconds:.2f} s median of {args.repeat}")


if __name__ == "__main__":
    main()

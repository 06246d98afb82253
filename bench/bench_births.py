"""Benchmark: N birth certificates (CSV) through every stage to SQLite (or PostgreSQL) staging.

Kept for its command line; the benchmark itself is :mod:`bench.bench_pipeline`, which runs any
dataset (``--dataset``) the same way::

    python -m bench.bench_births --rows 1000000 [--rows 200000 ...] [--postgres | --staging-url URL]

is ``python -m bench.bench_pipeline --dataset birth_certificates ...``.
"""

from __future__ import annotations

from bench.bench_pipeline import main

if __name__ == "__main__":
    main(default_dataset="birth_certificates")

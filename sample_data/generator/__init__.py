"""Seeded, deterministic generator of synthetic facility sources (four Scheme 06 datasets).

Public API:

* :func:`generate` - reference data, file drops with injected defects and the ground truth;
* :func:`write_births_csv`, :func:`write_deaths_csv`, :func:`write_drivers_csv`,
  :func:`write_workforce_csv` - N clean rows in a dataset's CSV format, for benchmarks;
* :func:`table_rows` - the rows of a generated SQL facility table (to load them elsewhere);
* :class:`GenerationSummary` - the counts a run returns.

Command line: ``python -m sample_data.generator --help``. See ``sample_data/README.md``.
"""

from __future__ import annotations

from sample_data.generator.bench import write_births_csv
from sample_data.generator.bench_datasets import write_deaths_csv, write_drivers_csv, write_workforce_csv
from sample_data.generator.run import GenerationSummary, OutputDirError, generate
from sample_data.generator.sql_births import table_rows

__all__ = [
    "GenerationSummary",
    "OutputDirError",
    "generate",
    "table_rows",
    "write_births_csv",
    "write_deaths_csv",
    "write_drivers_csv",
    "write_workforce_csv",
]

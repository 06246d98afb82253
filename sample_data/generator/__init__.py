"""Seeded, deterministic generator of synthetic facility sources (four Scheme 06 datasets).

Public API:

* :func:`generate` - reference data, file drops with injected defects and the ground truth;
* :func:`write_births_csv`, :func:`write_deaths_csv`, :func:`write_drivers_csv`,
  :func:`write_workforce_csv` - N clean rows in a dataset's CSV format, for benchmarks (each
  dataset module's ``write_bench_csv``; :func:`generator_for` finds a dataset's module);
* :func:`table_rows` - the rows of a generated SQL facility table (to load them elsewhere);
* :class:`GenerationSummary` - the counts a run returns.

Command line: ``python -m sample_data.generator --help``. See ``sample_data/README.md``.
"""

from __future__ import annotations

from sample_data.generator.datasets import generator_for, generators
from sample_data.generator.datasets.birth_certificates_records import write_births_csv
from sample_data.generator.datasets.birth_certificates_sql import table_rows
from sample_data.generator.datasets.death_notices import write_deaths_csv
from sample_data.generator.datasets.driver_health_checks import write_drivers_csv
from sample_data.generator.datasets.health_workforce import write_workforce_csv
from sample_data.generator.run import GenerationSummary, OutputDirError, generate

__all__ = [
    "GenerationSummary",
    "OutputDirError",
    "generate",
    "generator_for",
    "generators",
    "table_rows",
    "write_births_csv",
    "write_deaths_csv",
    "write_drivers_csv",
    "write_workforce_csv",
]

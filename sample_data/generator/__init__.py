"""Seeded, deterministic generator of synthetic facility drops (birth certificates).

Public API:

* :func:`generate` - reference data, file drops with injected defects and the ground truth;
* :func:`write_births_csv` - N clean birth rows in the facility CSV format, for benchmarks;
* :class:`GenerationSummary` - the counts a run returns.

Command line: ``python -m sample_data.generator --help``. See ``sample_data/README.md``.
"""

from __future__ import annotations

from sample_data.generator.bench import write_births_csv
from sample_data.generator.run import GenerationSummary, OutputDirError, generate

__all__ = ["GenerationSummary", "OutputDirError", "generate", "write_births_csv"]

"""What every dataset generator module provides (``sample_data/generator/datasets/<dataset>.py``).

The run (:func:`sample_data.generator.run.generate`) builds the shared world once - facilities,
citizens, the extra populations, the pool of persons the registry records as dead - and hands it
to each dataset's module in registry order (``config/datasets/*.yaml``, alphabetical). A dataset
module imports only the common modules of ``sample_data/generator`` (and modules of its own
dataset, ``datasets/<dataset>_*.py``), never another dataset's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sample_data.generator.ground_truth import TruthRow
    from sample_data.generator.records import PersonPool
    from sample_data.generator.registry import Citizen, ExtraPopulation, Facility


@dataclass
class RunInputs:
    """The shared world of one generation run (read-only for the dataset modules, except the
    ``registry_dead`` pool, which they draw from in registry order)."""

    out_dir: Path
    seed: int
    start: date
    nights: list[date]
    per_night: int
    defect_rate: float
    facilities: list[Facility]
    citizens: list[Citizen]
    extra: ExtraPopulation
    registry_dead: PersonPool


@dataclass
class Generated:
    """What a dataset module wrote: file count, ground-truth rows, and extra files (relative path
    under the output folder -> bytes) the run writes for it."""

    files: int
    truth: list[TruthRow]
    extra_files: dict[str, bytes] = field(default_factory=dict)


class DatasetGenerator(Protocol):
    """The protocol of a dataset generator module."""

    #: the dataset id (= its contract's file name)
    DATASET: str
    #: defect kind -> spec (``rule``, ``action``, ``formats``): what the sample data injects
    CATALOGUE: Mapping[str, Any]
    #: the facility code the benchmark writer embeds in its rows, and the file it is written to
    BENCH_FACILITY: str
    BENCH_FILE: str
    BENCH_SEED: int

    def generate(self, run: RunInputs) -> Generated:
        """Write the dataset's sources for every night of the run and return their ground truth."""
        ...

    def write_bench_csv(self, path: Path, n_rows: int, seed: int = 6, facility_code: str = ...) -> int:
        """Write ``n_rows`` clean rows in the dataset's ``csv`` format (benchmarks); returns rows."""
        ...

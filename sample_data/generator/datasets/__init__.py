"""One generator module per dataset, found through the dataset registry.

``datasets/<dataset>.py`` implements :class:`~sample_data.generator.protocol.DatasetGenerator`
for the dataset whose contract is ``config/datasets/<dataset>.yaml``; modules named
``<dataset>_<part>.py`` are private parts of that dataset's generator. Dataset modules never
import each other (``tests/sample_data`` checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from config.contracts import available_datasets

if TYPE_CHECKING:
    from sample_data.generator.protocol import DatasetGenerator


def generator_for(dataset: str) -> DatasetGenerator:
    """The generator module of a registered dataset.

    Raises:
        KeyError: no contract, or no generator module, for the dataset.
    """
    if dataset not in available_datasets():
        raise KeyError(f"no contract for dataset {dataset!r}")
    try:
        module = importlib.import_module(f"{__name__}.{dataset}")
    except ModuleNotFoundError:
        raise KeyError(f"no sample-data generator for dataset {dataset!r} (sample_data/generator/datasets/)") from None
    return cast("DatasetGenerator", module)


def generators() -> list[DatasetGenerator]:
    """Every dataset's generator, in registry order (the order a run generates them in)."""
    return [generator_for(ds) for ds in available_datasets()]

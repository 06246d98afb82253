"""What a dataset's derivations may ask about the world outside the batch (an interface only).

Transforms stay pure: the batch runner passes an object implementing :class:`LookupContext`
(``pipeline/lookups.py``: the staging store plus the citizen-registry reference), tests pass a
small in-memory one. Every method takes and returns Arrow arrays aligned with its input; a NULL
answer means "not known", and checks built on NULL answers do not fire.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pyarrow as pa


class LookupContext(Protocol):
    """Answers about persons and keys already known, vectorised over a chunk."""

    def death_dates(self, person_ids: pa.Array) -> pa.Array:
        """Recorded date of death per personal ID (registry or a loaded death notice), date32."""
        ...

    def registry_death_dates(self, person_ids: pa.Array) -> pa.Array:
        """Date of death in the citizen registry only (date32)."""
        ...

    def death_notice_codes(self, person_ids: pa.Array) -> pa.Array:
        """The notice code of a death notice already loaded for this person, or NULL (string)."""
        ...

    def registry_sex(self, person_ids: pa.Array) -> pa.Array:
        """Sex in the citizen registry (1 male, 2 female), NULL if the person is unknown (int32)."""
        ...

    def in_registry(self, person_ids: pa.Array) -> pa.Array:
        """True/False when a registry is configured, NULL otherwise (bool)."""
        ...

    def existing_keys(self, dataset: str, keys: pa.Array) -> pa.Array:
        """Whether each natural key (``|``-joined) is current in the dataset's staging table (bool)."""
        ...


@runtime_checkable
class HistoryLookup(Protocol):
    """Optional: the staging rows of persons already known (a hook that compares a record with the
    same person's earlier records checks ``isinstance(context, HistoryLookup)``)."""

    def current_rows(self, dataset: str, column: str, values: pa.Array, columns: list[str]) -> pa.Table:
        """The active current rows of ``dataset`` whose ``column`` is in ``values`` (only ``columns``)."""
        ...

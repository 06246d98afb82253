"""The :class:`~transforms.context.LookupContext` of a batch: staging store + citizen registry.

Cross-dataset plausibility needs facts from outside the batch: deaths already recorded (the
citizen registry's date of death, or a death notice already loaded in staging), the registry's
sex of a person, whether a person is known at all, whether an EDIT's key exists. This module
answers those questions for one chunk at a time, with bounded ``IN`` queries on indexed columns
(never a scan of a whole dataset) and one registry snapshot per process.

The citizen registry is a reference snapshot (``S06_CITIZEN_REGISTRY``, default
``<reference root>/citizen_registry.csv``: ``personal_id, sex, death_date``; other columns are
ignored). Without one, registry answers are NULL and the registry-based checks do not fire;
the batch log says so once. The snapshot may be on object storage (a remote reference zone, or a
URL in ``S06_CITIZEN_REGISTRY``): it is then downloaded once per process into the local work
folder and downloaded again only when its ETag changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from config.contracts import load_contract
from config.storage import LocalZone, Zone, is_remote, zone
from loaders.arrays import TextArray, array_literal
from loaders.schema import dataset_tables

log = logging.getLogger(__name__)

REGISTRY_ENV = "S06_CITIZEN_REGISTRY"
#: Bound parameters per ``IN`` query (well under SQLite's and PostgreSQL's limits).
IN_BATCH = 5000


@lru_cache(maxsize=2)
def _registry(path: str, mtime: float) -> pa.Table:
    """personal_id (string), sex (int32), death_date (date32) of the registry snapshot."""
    opts = pacsv.ConvertOptions(column_types={"personal_id": pa.string(), "sex": pa.string(), "death_date": pa.string()},
                                include_columns=["personal_id", "sex", "death_date"], strings_can_be_null=True)
    table = pacsv.read_csv(path, convert_options=opts)
    sex = pc.cast(pc.if_else(pc.match_substring_regex(pc.fill_null(table.column("sex"), ""), r"^\d+$"),
                             table.column("sex"), pa.scalar(None, pa.string())), pa.int32())
    death = pc.strptime(table.column("death_date"), format="%Y-%m-%d", unit="s", error_is_null=True)
    return pa.table({"personal_id": table.column("personal_id"), "sex": sex, "death_date": pc.cast(death, pa.date32())})


def registry_path(reference_root: Path) -> Path:
    """Where the citizen-registry snapshot is read from."""
    return Path(os.environ.get(REGISTRY_ENV) or reference_root / "citizen_registry.csv")


def _registry_source(reference: Path | Zone) -> Path | tuple[Zone, str]:
    """The snapshot's local path, or (zone, name) on object storage."""
    explicit = os.environ.get(REGISTRY_ENV)
    if explicit and is_remote(explicit):
        parent, name = explicit.rstrip("/").rsplit("/", 1)
        return zone(parent), name
    if explicit:
        return Path(explicit)
    if isinstance(reference, Zone) and reference.remote:
        return reference, "citizen_registry.csv"
    root = reference.path() if isinstance(reference, LocalZone) else reference
    return registry_path(root)  # type: ignore[arg-type]


def registry_stamp(reference: Path | Zone) -> list[Any]:
    """What identifies the snapshot's version (for input fingerprints): location, size, mtime/ETag."""
    src = _registry_source(reference)
    if isinstance(src, Path):
        try:
            st = os.stat(src)
        except OSError:
            return [str(src), None]
        return [str(src), st.st_size, st.st_mtime_ns]
    where, name = src
    entry = where.info(name)
    return [where.location(name), entry.size, entry.version] if entry else [where.location(name), None]


#: location on object storage -> (ETag, local copy) of the snapshots this process downloaded
_DOWNLOADED: dict[str, tuple[str | None, Path]] = {}


def registry_file(reference: Path | Zone) -> Path | None:
    """A local file holding the current snapshot (downloaded when remote and changed), or None."""
    src = _registry_source(reference)
    if isinstance(src, Path):
        return src if src.is_file() else None
    where, name = src
    entry = where.info(name)
    if entry is None:
        return None
    location = where.location(name)
    cached = _DOWNLOADED.get(location)
    if cached and cached[0] == entry.version and entry.version is not None and cached[1].is_file():
        return cached[1]
    folder = (getattr(where, "scratch", None) or Path(tempfile.gettempdir())) / "reference-cache"
    digest = hashlib.sha256(f"{location}|{entry.version}".encode()).hexdigest()[:16]
    local = folder / f"citizen_registry-{digest}.csv"
    if not local.is_file():
        where.download(name, local)
        local.chmod(0o600)  # restricted: personal identifiers
    if cached and cached[1] != local:
        cached[1].unlink(missing_ok=True)
    _DOWNLOADED[location] = (entry.version, local)
    return local


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(values), IN_BATCH):
        yield values[i: i + IN_BATCH]


def _distinct(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The distinct values worth asking about, as strings: NULL and "" identify nobody."""
    found = pc.unique(values.drop_null())
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks()
    found = found.cast(pa.string())
    return found.filter(pc.not_equal(found, ""))


def _per_row(ids: pa.Array, found: dict[str, tuple[Any, ...]], field: int, dtype: pa.DataType) -> pa.Array:
    """``found[id][field]`` for each row's id (NULL where the id is NULL, empty or not found)."""
    keys = pa.array(list(found), pa.string())
    values = pa.array([v[field] for v in found.values()], dtype)
    return pc.take(values, pc.index_in(ids.cast(pa.string()), value_set=keys))


class StagingLookups:
    """Lookups against the staging store and the registry snapshot (one per batch)."""

    def __init__(self, engine: Any, reference_root: Path | Zone) -> None:
        self.engine = engine
        if (isinstance(reference_root, Zone) and reference_root.remote) or is_remote(os.environ.get(REGISTRY_ENV, "")):
            found = registry_file(reference_root)  # the snapshot is on object storage
            self.registry = _registry(str(found), found.stat().st_mtime) if found else None
        else:
            local = reference_root.path() if isinstance(reference_root, LocalZone) else Path(str(reference_root))
            path = registry_path(local)
            self.registry = _registry(str(path), path.stat().st_mtime) if path.is_file() else None
        if self.registry is None:
            log.info("no citizen registry snapshot at the configured path: registry checks skipped")

    # ------------------------------------------------------------------ helpers

    def _registry_column(self, ids: pa.Array, column: str, dtype: pa.DataType) -> pa.Array:
        if self.registry is None:
            return pa.nulls(len(ids), dtype)
        idx = pc.index_in(ids, value_set=self.registry.column("personal_id"))
        return pc.take(self.registry.column(column), idx)

    def _member_of(self, column: Any, values: pa.Array) -> Iterator[Any]:
        """``WHERE`` clauses that together select the rows whose text ``column`` is in ``values``.

        PostgreSQL: one clause, ``column = ANY(:values::TEXT[])`` with the values as one array
        literal (:mod:`loaders.arrays`): one statement and one plan however many values (a
        million-row batch once asked 200 ``IN`` queries of 5,000 parameters each).
        SQLite: ``IN`` lists of :data:`IN_BATCH` (its bound-parameter limit).
        """
        if self.engine.dialect.name == "postgresql":
            yield column == sa.any_(sa.bindparam("member_values", array_literal(values), type_=TextArray()))
            return
        for part in _chunks(values.to_pylist()):
            yield column.in_(part)

    def _has_table(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    def _notices(self, ids: pa.Array) -> dict[str, tuple[str, dt.date | None]]:
        """person id -> (notice code, death date) of loaded death notices (earliest death)."""
        if not self._has_table("death_notices"):
            return {}
        wanted = _distinct(ids)
        if not len(wanted):
            return {}
        current, _ = dataset_tables("death_notices")
        found: dict[str, tuple[str, dt.date | None]] = {}
        with self.engine.connect() as conn:
            for member in self._member_of(current.c.deceased_id_number, wanted):
                rows = conn.execute(
                    sa.select(current.c.deceased_id_number, current.c.notice_code, current.c.death_datetime)
                    .where(member)
                )
                for pid, code, death in rows:
                    day = death.date() if isinstance(death, dt.datetime) else death
                    earliest = found[pid][1] if pid in found else None
                    if pid not in found or (day and (earliest is None or day < earliest)):
                        found[pid] = (code, day)
        return found

    # ------------------------------------------------------------------ LookupContext

    def death_dates(self, person_ids: pa.Array) -> pa.Array:
        """Earliest recorded death date: registry or a loaded death notice."""
        registry = self._registry_column(person_ids, "death_date", pa.date32())
        notices = self._notices(person_ids)
        if not notices:
            return registry
        staged = _per_row(person_ids, notices, 1, pa.date32())
        both = pa.table({"a": registry, "b": staged})
        return pc.min_element_wise(both.column("a"), both.column("b"), skip_nulls=True)

    def registry_death_dates(self, person_ids: pa.Array) -> pa.Array:
        """Date of death in the registry snapshot only."""
        return self._registry_column(person_ids, "death_date", pa.date32())

    def death_notice_codes(self, person_ids: pa.Array) -> pa.Array:
        """Notice code of a death notice already loaded for the person."""
        return _per_row(person_ids, self._notices(person_ids), 0, pa.string())

    def registry_sex(self, person_ids: pa.Array) -> pa.Array:
        """Registry sex (1 male, 2 female)."""
        return self._registry_column(person_ids, "sex", pa.int32())

    def in_registry(self, person_ids: pa.Array) -> pa.Array:
        """Whether the person is in the registry (NULL without a registry or an ID)."""
        if self.registry is None:
            return pa.nulls(len(person_ids), pa.bool_())
        known = pc.is_in(person_ids, value_set=self.registry.column("personal_id"))
        return pc.if_else(pc.is_valid(person_ids), known, pa.scalar(None, pa.bool_()))

    def existing_keys(self, dataset: str, keys: pa.Array) -> pa.Array:
        """Whether each ``|``-joined natural key is current in the dataset's staging table."""
        contract = load_contract(dataset)
        nowhere = pc.if_else(pc.is_valid(keys), False, pa.scalar(None, pa.bool_()))
        if not self._has_table(dataset):
            return nowhere
        wanted = _distinct(keys)
        if not len(wanted):
            return nowhere
        current, _ = dataset_tables(dataset)
        key_cols = [current.c[k] for k in contract.natural_key]
        # The first key column narrows the query (its index); a one-column key is the whole value.
        firsts = wanted if len(key_cols) == 1 else _distinct(
            pc.list_element(pc.split_pattern(wanted, "|", max_splits=1), 0))
        present: set[str] = set()
        with self.engine.connect() as conn:
            for member in self._member_of(key_cols[0], firsts):
                for row in conn.execute(sa.select(*key_cols).where(member)):
                    present.add("|".join("" if v is None else str(v) for v in row))
        return pc.if_else(pc.is_valid(keys), pc.is_in(keys, value_set=pa.array(sorted(present), pa.string())),
                          pa.scalar(None, pa.bool_()))

    def practice_periods(self, person_ids: pa.Array) -> pa.Table:
        """Current practice registrations of these persons in staging (health_workforce W5)."""
        from transforms.workforce import PRACTICE_PERIOD_COLUMNS as cols

        dates = ("period_start", "period_end", "last_change_date")
        schema = pa.schema([(c, pa.date32() if c in dates else pa.string()) for c in cols])
        if not self._has_table("health_workforce"):
            return schema.empty_table()
        wanted = _distinct(person_ids)
        if not len(wanted):
            return schema.empty_table()
        current, _ = dataset_tables("health_workforce")
        rows: list[Any] = []
        with self.engine.connect() as conn:
            for member in self._member_of(current.c.personal_id, wanted):
                rows += conn.execute(sa.select(*[current.c[c] for c in cols]).where(member)).all()
        return pa.Table.from_pylist([dict(zip(cols, r, strict=True)) for r in rows], schema=schema)

    # integration(vaccination): a generic "current staging rows of these persons" for hooks that
    # compare a record with the same person's history (vaccination V5 intervals between doses).
    def current_rows(self, dataset: str, column: str, values: pa.Array, columns: list[str]) -> pa.Table:
        """The active current rows of ``dataset`` whose ``column`` is one of ``values`` (``columns`` only).

        Bounded ``IN`` queries; an empty table (typed from the contract) when the table does not exist
        yet or no value is given.
        """
        from loaders.schema import data_columns
        from transforms.normalize import ARROW_TYPES

        contract = load_contract(dataset)
        kinds = {name: spec.type for name, spec in contract.columns.items()}
        schema = pa.schema([(c, ARROW_TYPES.get(kinds.get(c, "string"), pa.string())) for c in columns])
        known = {n for n, _ in data_columns(contract)}
        if not self._has_table(dataset) or not set(columns) <= known or column not in known:
            return schema.empty_table()
        wanted = _distinct(values)
        if not len(wanted):
            return schema.empty_table()
        current, _ = dataset_tables(dataset)
        rows: list[Any] = []
        with self.engine.connect() as conn:
            for member in self._member_of(current.c[column], wanted):
                rows += conn.execute(
                    sa.select(*[current.c[c] for c in columns])
                    .where(member, sa.or_(current.c.record_status.is_(None),
                                                                current.c.record_status != "cancelled"))
                ).all()
        return pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows], schema=schema)

"""Vaccination-record derivations (DOMAIN.md §17, rules V1-V7 and the cross-dataset X6).

Turns the canonical dose rows (``config/datasets/vaccination_records.yaml``) into the columns its
compiled suite checks, and fills the derived contract columns the staging table keeps:
``source_system`` (the registry entry that sent the dose: Immunization ids are unique within the
system that assigned them), ``antigen`` (the series the vaccine code counts toward, from the
versioned code list ``transforms/data/vaccine_codes.csv``) and ``age_at_dose_days``. Pure Arrow /
NumPy compute, vectorised over the chunk.

Every number of the schedule is a contract option, not a constant here: the rules compare these
derived values with the options (``newborn_id_grace_days``, ``series_length``,
``min_interval_days``, ``birth_dose_window_days``); the one derivation option is which antigens
have a birth dose (``birth_dose_antigens``, bound by keyword).

Lookups outside the chunk go through the optional ``context`` (:mod:`transforms.context`):

* V5 - a context that also implements :class:`~transforms.context.HistoryLookup` contributes the
  same persons' doses already current in staging (the interval since the previous dose of the same
  series is computed over the chunk's doses and those, one self-join, no per-row loop);
* X6 - :meth:`LookupContext.death_dates` (citizen registry, loaded death notices).
"""

from __future__ import annotations

import csv
import datetime as dt
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.context import HistoryLookup
from transforms.records import constant, facility_column, natural_key_array, set_columns

if TYPE_CHECKING:  # pragma: no cover
    from transforms.context import LookupContext

DATASET = "vaccination_records"
CODE_FILE = "vaccine_codes.csv"
COMPLETED = "completed"
NOT_DONE = "not-done"
#: A register of administered doses: any row may be a later version of an Immunization already
#: sent (FHIR resources are updated in place), so no row claims to be a first issue.
FIRST_ISSUE_COLUMN = "first_record_version"
#: The contract's natural key (an earlier version of the same dose never counts as a previous dose).
NATURAL_KEY = ("immunization_id", "source_system")
#: The staging columns V5 reads of a person's earlier doses.
HISTORY_COLUMNS = ["personal_id", "antigen", "occurrence_datetime", "source_system", "immunization_id", "status"]
_EPOCH = dt.date(1970, 1, 1)


@cache
def vaccine_codes() -> dict[tuple[str, str], str]:
    """``(system, code) -> antigen`` from the versioned code list (comment lines start with ``#``)."""
    text = resources.files(__package__).joinpath("data", CODE_FILE).read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return {(r["system"], r["code"]): r["antigen"] for r in rows}


def code_list_version() -> str:
    """The ``# version:`` line of the code list (for documentation and tests)."""
    text = resources.files(__package__).joinpath("data", CODE_FILE).read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("# version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def antigen_of(system: pa.Array, code: pa.Array) -> pa.Array:
    """The antigen series of each (system, code), NULL when the pair is not in the code list."""
    table = vaccine_codes()
    keys = pa.array([f"{s}|{c}" for s, c in table], pa.string())
    values = pa.array(list(table.values()), pa.string())
    joined = pc.binary_join_element_wise(system.cast(pa.string()), code.cast(pa.string()), "|",
                                         null_handling="emit_null")
    return pc.take(values, pc.index_in(joined, value_set=keys))


def _days(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Day numbers (int32) of a date32 or timestamp column (the local calendar day)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_timestamp(arr.type):
        arr = pc.cast(pc.floor_temporal(arr, unit="day"), pa.timestamp("s")).cast(pa.date32())
    return pc.cast(arr.cast(pa.date32()), pa.int32())


def _col(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def person_keys(table: pa.Table) -> pa.Array:
    """Who a dose is given to: the personal ID, else the source system's patient reference (a
    newborn without ID is still the same person within one system's export)."""
    pid = _col(table, "personal_id").cast(pa.string())
    local = pc.binary_join_element_wise("ref:", _col(table, "source_system").cast(pa.string()), "|",
                                        _col(table, "patient_reference").cast(pa.string()), "",
                                        null_handling="emit_null")
    return pc.coalesce(pid, local)


def days_since_previous_dose(table: pa.Table, staged: pa.Table | None = None) -> pa.Array:
    """V5: days from the person's previous completed dose of the same antigen series.

    A completed dose is compared with the chunk's other completed doses and with ``staged`` (the
    persons' doses current in staging, :data:`HISTORY_COLUMNS`); the other doses of the same
    Immunization (its earlier versions) never count. Two doses on the same day are ordered by
    their natural key, so only one of them is measured against the other.

    Returns:
        int32 days aligned with ``table``; NULL for a first dose, a dose not completed, or one
        without person, antigen or date.
    """
    n = table.num_rows
    rows = pa.array(np.arange(n, dtype=np.int64))
    mine = pa.table({
        "row": rows,
        "pid": person_keys(table),
        "antigen": _col(table, "antigen").cast(pa.string()),
        "day": _days(table.column("occurrence_datetime")),
        "key": natural_key_array(table, NATURAL_KEY),
        "done": pc.fill_null(pc.equal(_col(table, "status"), COMPLETED), False),
    })
    ok = pc.and_(pc.and_(mine.column("done"), pc.is_valid(mine.column("pid"))),
                 pc.and_(pc.is_valid(mine.column("antigen")), pc.is_valid(mine.column("day"))))
    left = mine.filter(ok).drop_columns(["done"])
    if left.num_rows == 0:
        return pa.nulls(n, pa.int32())
    right = left
    if staged is not None and staged.num_rows:
        theirs = pa.table({
            "row": pa.array(np.full(staged.num_rows, -1, np.int64)),
            "pid": _col(staged, "personal_id").cast(pa.string()),
            "antigen": _col(staged, "antigen").cast(pa.string()),
            "day": _days(staged.column("occurrence_datetime")),
            "key": natural_key_array(staged, NATURAL_KEY),
        })
        good = pc.and_(pc.fill_null(pc.equal(_col(staged, "status"), COMPLETED), False),
                       pc.and_(pc.is_valid(theirs.column("pid")), pc.is_valid(theirs.column("day"))))
        theirs = theirs.filter(good)
        # a staged version of an Immunization this chunk re-sends is that dose itself
        theirs = theirs.filter(pc.invert(pc.is_in(theirs.column("key"), value_set=left.column("key"))))
        right = pa.concat_tables([left, theirs])
    other = right.rename_columns(["o_row", "pid", "antigen", "o_day", "o_key"])
    pairs = left.join(other, keys=["pid", "antigen"])
    if pairs.num_rows == 0:
        return pa.nulls(n, pa.int32())
    earlier = pc.or_(pc.less(pairs.column("o_day"), pairs.column("day")),
                     pc.and_(pc.equal(pairs.column("o_day"), pairs.column("day")),
                             pc.less(pairs.column("o_key"), pairs.column("key"))))
    pairs = pairs.filter(pc.and_(pc.not_equal(pairs.column("o_key"), pairs.column("key")), earlier))
    if pairs.num_rows == 0:
        return pa.nulls(n, pa.int32())
    latest = pairs.group_by("row").aggregate([("o_day", "max"), ("day", "max")])
    gap = pc.subtract(latest.column("day_max"), latest.column("o_day_max"))
    out = np.full(n, -1, np.int64)
    out[latest.column("row").to_numpy()] = gap.to_numpy(zero_copy_only=False)
    return pa.array(out.astype(np.int32), pa.int32(), mask=out < 0)


def _history(table: pa.Table, context: LookupContext | None) -> pa.Table | None:
    if context is None or not isinstance(context, HistoryLookup):
        return None
    ids = pc.unique(pc.drop_null(_col(table, "personal_id")))
    if len(ids) == 0:
        return None
    return context.current_rows(DATASET, "personal_id", ids, HISTORY_COLUMNS)


def died_before(person_ids: pa.Array, day: pa.Array, context: LookupContext | None) -> pa.Array:
    """X6: whether a death is recorded for the person before the day of the dose (NULL: unknown)."""
    n = len(person_ids)
    if context is None or not pc.any(pc.is_valid(person_ids)).as_py():
        return pa.nulls(n, pa.bool_())
    death = context.death_dates(person_ids)
    if isinstance(death, pa.ChunkedArray):
        death = death.combine_chunks()
    return pc.less(_days(death), day)


def derive_validation_columns(
    table: pa.Table, facility_code: str | pa.Array, cutoff: dt.datetime, context: LookupContext | None = None,
    *, birth_dose_antigens: tuple[str, ...] = ("hepb",),
) -> pa.Table:
    """Add the derived columns the vaccination suite checks.

    Args:
        table: canonical dose rows.
        facility_code: the sending facility per row (or one code); it is the dose's source system.
        cutoff: nothing may have happened after this (end of the data interval).
        context: lookups outside the chunk (staging history, registry, death notices); None: V5
            compares the chunk's doses only and X6 is not checked.
        birth_dose_antigens: antigens whose first dose is a birth dose (V6; contract option).

    Returns:
        ``table`` with the derived columns set.
    """
    n = table.num_rows
    facility = facility_column(facility_code, n)
    table = set_columns(table, {
        "source_system": facility,
        "antigen": antigen_of(_col(table, "vaccine_code_system"), _col(table, "vaccine_code")),
    })
    day = _days(table.column("occurrence_datetime"))
    born = _days(table.column("birth_date"))
    age = pc.subtract(day, born)
    pid = _col(table, "personal_id")
    has_id = pc.is_valid(pid)
    antigen = _col(table, "antigen")
    status = _col(table, "status")
    completed = pc.fill_null(pc.equal(status, COMPLETED), False)
    first_dose = pc.fill_null(pc.less_equal(_col(table, "dose_number"), 1), True)
    birth_dose = pc.and_(pc.and_(completed, first_dose),
                         pc.fill_null(pc.is_in(antigen, value_set=pa.array(list(birth_dose_antigens), pa.string())),
                                      False))
    not_done = pc.fill_null(pc.equal(status, NOT_DONE), False)
    code_given = pc.and_(pc.is_valid(_col(table, "vaccine_code")), pc.is_valid(_col(table, "vaccine_code_system")))
    null_bool, null_int = pa.scalar(None, pa.bool_()), pa.scalar(None, pa.int32())
    day_ts = pc.cast(pc.cast(day, pa.date32()), pa.timestamp("s"))
    extra = {
        "facility_code": facility,
        "batch_cutoff": constant(cutoff.replace(tzinfo=None), pa.timestamp("s"), n),
        "age_at_dose_days": age,
        "occurrence_day": day_ts,
        # V1: the ID may be missing in the first weeks of life only
        "personal_id_present": has_id,
        "days_without_id": pc.if_else(has_id, null_int, age),
        # V3: the (system, code) pair is in the code list
        "vaccine_code_known": pc.if_else(code_given, pc.is_valid(antigen), null_bool),
        # V5
        "days_since_previous_dose": days_since_previous_dose(table, _history(table, context)),
        # V6: age of a birth dose (indicator of timeliness)
        "birth_dose_age_days": pc.if_else(birth_dose, age, null_int),
        # V7: a dose not done says why
        "not_done_reason_given": pc.if_else(not_done, pc.is_valid(_col(table, "status_reason")), null_bool),
        # X6
        "died_before_dose": died_before(pid, day, context),
        FIRST_ISSUE_COLUMN: pa.array(np.zeros(n, dtype=bool)),
    }
    return set_columns(table, extra)

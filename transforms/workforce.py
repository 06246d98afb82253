"""Health-workforce derivations (DOMAIN.md §6.2, rules W1–W5, X5).

Turns the canonical register rows (``config/datasets/health_workforce.yaml``) into the columns
the ``health_workforce.conformed`` suite checks. Pure Arrow compute, vectorised over the chunk:
the practice-period overlap check (W5) is a self-join on the personal ID, not a Python loop.

Lookups outside the chunk go through the optional ``context`` (:mod:`transforms.context`):

* X5 — :meth:`LookupContext.in_registry` for each personal ID;
* W5 across batches — a context that also implements :class:`PracticePeriodLookup`
  (``practice_periods``) contributes the registrations already current in staging. The
  generic :class:`~transforms.context.LookupContext` does not have that method yet; without it
  W5 compares the rows of the chunk only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.records import constant, facility_column, set_columns
from transforms.text import upper_vi

if TYPE_CHECKING:  # pragma: no cover
    from transforms.context import LookupContext

#: Columns of the table :meth:`PracticePeriodLookup.practice_periods` returns (canonical names,
#: i.e. the staging table's own columns).
PRACTICE_PERIOD_COLUMNS: tuple[str, ...] = (
    "personal_id",
    "licence_number",
    "licence_issuer",
    "practice_facility_code",
    "period_start",
    "period_end",
    "last_change_date",
)
#: Two periods overlap when they share more than this many days. 0: a period may end on the day
#: the next one starts (a same-day move between facilities is not an overlap).
OVERLAP_TOLERANCE_DAYS = 0
#: Day number standing for an open end (``period_end`` NULL = ongoing): 9999-12-31.
_OPEN_END = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days


@runtime_checkable
class PracticePeriodLookup(Protocol):
    """What W5 needs from the batch's lookup context beyond :class:`LookupContext`."""

    def practice_periods(self, person_ids: pa.Array) -> pa.Table:
        """The current staging registrations of these personal IDs.

        Returns:
            A table with :data:`PRACTICE_PERIOD_COLUMNS` (strings and ``date32``), one row per
            current registration (natural key) whose ``personal_id`` is in ``person_ids``;
            NULL-free ``personal_id``. Empty when none is known.
        """
        ...


def _days(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``date32`` as int32 day numbers (NULL stays NULL)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.cast(arr.cast(pa.date32()), pa.int32())


def _periods(table: pa.Table, row: pa.Array) -> pa.Table:
    """The overlap-relevant columns of canonical rows, as day numbers, with a row id."""
    key = pc.binary_join_element_wise(
        table.column("licence_number").combine_chunks().cast(pa.string()),
        table.column("licence_issuer").combine_chunks().cast(pa.string()),
        table.column("practice_facility_code").combine_chunks().cast(pa.string()),
        "|",
        null_handling="replace",
        null_replacement="",
    )
    return pa.table(
        {
            "row": row,
            "pid": table.column("personal_id").combine_chunks().cast(pa.string()),
            "fac": table.column("practice_facility_code").combine_chunks().cast(pa.string()),
            "key": key,
            "start": _days(table.column("period_start")),
            "end": pc.fill_null(_days(table.column("period_end")), _OPEN_END),
            "changed": pc.fill_null(_days(table.column("last_change_date")), -(2**31 - 1)),
        }
    )


def overlapping_practice(table: pa.Table, staged: pa.Table | None = None) -> pa.Array:
    """W5: does the registration overlap one of the same person's at another facility?

    A row is compared with the chunk's other rows and with ``staged`` (current registrations from
    staging). Only the latest version (by ``last_change_date``) of each natural key counts as
    the other side, so a registration whose end date was added in a newer version no longer
    overlaps. The flag goes on the *later-registered* record of an overlapping pair: the one
    whose period starts later (on the same start, the one changed last; both on a full tie).

    Args:
        table: canonical rows (``personal_id``, ``licence_number``, ``licence_issuer``,
            ``practice_facility_code``, ``period_start``, ``period_end``, ``last_change_date``).
        staged: optional table with :data:`PRACTICE_PERIOD_COLUMNS`.

    Returns:
        Boolean array aligned with ``table``: True = overlaps, False = checked and does not,
        NULL = not checkable (no personal ID, facility or start date).
    """
    n = table.num_rows
    rows = pa.array(np.arange(n, dtype=np.int64))
    mine = _periods(table, rows)
    checkable = pc.and_(pc.and_(pc.is_valid(mine.column("pid")), pc.is_valid(mine.column("fac"))),
                        pc.is_valid(mine.column("start")))
    left = mine.filter(checkable)
    if left.num_rows == 0:
        return pa.nulls(n, pa.bool_())
    right = left
    if staged is not None and staged.num_rows:
        theirs = _periods(staged.select(list(PRACTICE_PERIOD_COLUMNS)), pa.array(np.full(staged.num_rows, -1, np.int64)))
        ok = pc.and_(pc.and_(pc.is_valid(theirs.column("pid")), pc.is_valid(theirs.column("fac"))),
                     pc.is_valid(theirs.column("start")))
        right = pa.concat_tables([left, theirs.filter(ok)])
    # Latest version per natural key only (ties: all of them).
    latest = right.group_by("key").aggregate([("changed", "max")])
    right = right.join(latest, keys="key")
    right = right.filter(pc.equal(right.column("changed"), right.column("changed_max"))).drop_columns(["changed_max"])
    pairs = left.join(right.rename_columns([f"o_{c}" if c != "pid" else c for c in right.column_names]), keys="pid")
    if pairs.num_rows == 0:
        hit = pa.array(np.zeros(n, dtype=bool))
    else:
        different = pc.and_(pc.not_equal(pairs.column("row"), pairs.column("o_row")),
                            pc.not_equal(pairs.column("fac"), pairs.column("o_fac")))
        shared = pc.subtract(
            pc.min_element_wise(pairs.column("end"), pairs.column("o_end")),
            pc.max_element_wise(pairs.column("start"), pairs.column("o_start")),
        )
        overlaps = pc.greater(shared, OVERLAP_TOLERANCE_DAYS)
        later = pc.or_(
            pc.less(pairs.column("o_start"), pairs.column("start")),
            pc.and_(pc.equal(pairs.column("o_start"), pairs.column("start")),
                    pc.less_equal(pairs.column("o_changed"), pairs.column("changed"))),
        )
        flagged = pairs.filter(pc.and_(pc.and_(different, overlaps), later)).column("row")
        hit = pc.is_in(rows, value_set=pc.unique(flagged.combine_chunks()))
    return pc.if_else(checkable, hit, pa.scalar(None, pa.bool_()))


def _staged_periods(table: pa.Table, context: LookupContext | None) -> pa.Table | None:
    """Current registrations from staging of the chunk's persons, if the context can tell."""
    if context is None or not isinstance(context, PracticePeriodLookup):
        return None
    ids = pc.unique(pc.drop_null(table.column("personal_id").combine_chunks()))
    if len(ids) == 0:
        return None
    staged = context.practice_periods(ids)
    # W5 compares registrations at *different* facilities. A facility's register chunk usually
    # names one facility: its own staged registrations can never pair with it, and a person with
    # many registrations there would multiply the self-join (measured: 20 GiB on a bench file).
    facilities = pc.unique(pc.drop_null(table.column("practice_facility_code").combine_chunks()))
    if len(facilities) == 1 and staged.num_rows:
        staged = staged.filter(pc.fill_null(pc.not_equal(staged.column("practice_facility_code"), facilities[0]), True))
    return staged


def registry_membership(person_ids: pa.Array, context: LookupContext | None) -> pa.Array:
    """X5: whether each personal ID is in the citizen registry (NULL: no ID, or unknown)."""
    n = len(person_ids)
    if context is None:
        return pa.nulls(n, pa.bool_())
    present = pc.is_valid(person_ids)
    if not pc.any(present).as_py():
        return pa.nulls(n, pa.bool_())
    answer = context.in_registry(person_ids)
    if isinstance(answer, pa.ChunkedArray):
        answer = answer.combine_chunks()
    return pc.if_else(present, answer.cast(pa.bool_()), pa.scalar(None, pa.bool_()))


def derive_validation_columns(
    table: pa.Table, facility_code: str | pa.Array, cutoff: dt.datetime, context: LookupContext | None = None
) -> pa.Table:
    """Add the derived columns the workforce suite checks.

    Args:
        table: canonical register rows (see ``config/datasets/health_workforce.yaml``).
        facility_code: the batch's (sending) facility; stored as the ``facility_code`` lineage.
        cutoff: nothing may have changed after this (end of the data interval plus grace).
        context: lookups outside the chunk (registry, staging); None = not available, and the
            lookup-based columns are NULL (W5 then compares the chunk's rows only).

    Returns:
        ``table`` with the extra columns appended.
    """
    n = table.num_rows
    person = table.column("personal_id").combine_chunks()
    extra = {
        "facility_code": facility_column(facility_code, n),
        "batch_cutoff": constant(cutoff.replace(tzinfo=None), pa.timestamp("s"), n),
        # W1: titles are compared after NFC (done by the normalizer) and Vietnamese-aware
        # upper-casing, so only case and composition differences are forgiven.
        "title_key": upper_vi(table.column("title").combine_chunks()),
        "overlapping_practice": overlapping_practice(table, _staged_periods(table, context)),
        "in_registry": registry_membership(person, context),
        FIRST_ISSUE_COLUMN: pa.array(np.zeros(n, dtype=bool)),
    }
    return set_columns(table, extra)


#: A register export is a snapshot: any row may be a later version of a key already seen, so no
#: row claims to be a first issue (the column is False on every row). An identical repeat is
#: still superseded by the batch's duplicate check; a repeat with different content becomes a
#: new version, ordered by ``last_change_date`` (the contract's ``version_order``).
FIRST_ISSUE_COLUMN = "first_registration_version"

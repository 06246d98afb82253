"""Driver health certificate derivations (DOMAIN.md §5.5, K1–K8, and cross-dataset rule X2).

Turns the canonical table (``config/datasets/driver_health_checks.yaml``) into the columns the
``driver_health_checks.conformed`` suite checks, and fills the two derived contract columns the
staging table keeps: ``licence_class_mapped`` (K1) and ``valid_until`` (K5). Pure Arrow/NumPy
compute, vectorised over the chunk (no per-row Python loop).

Facts that DOMAIN.md tags [U] are contract options: the derivation's own (``legacy_class_map``,
the validity periods; ``scope: derivation``) are passed to :func:`derive_validation_columns` by
keyword, the thresholds and code lists the *checks* use (class sets, minimum ages, group-3
classes) parameterise the compiled suite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from config.contracts import load_contract
from transforms.identity import effective_id_type
from transforms.records import constant, facility_column, natural_key_array, set_columns

if TYPE_CHECKING:  # pragma: no cover
    from transforms.context import LookupContext

DATASET = "driver_health_checks"
NATURAL_KEY = ("certificate_number", "licence_class")

#: The [U] facts and code lists live in the contract (``config/datasets/driver_health_checks.yaml``
#: ``options``); these module values are the contract's, for callers that pass none.
_OPTIONS = load_contract(DATASET).default_options
#: Licence classes of the Road Traffic Order & Safety Law 2024 (DOMAIN §5.1 [C]).
NEW_CLASSES: tuple[str, ...] = tuple(_OPTIONS["new_classes"])
#: Pre-2025 classes still seen in legacy data (DOMAIN §5.1; old C and D coincide with new codes).
LEGACY_CLASSES: tuple[str, ...] = tuple(_OPTIONS["legacy_classes"])
#: Legacy class -> class of the 2024 system it is exchanged for ([U], contract option).
LEGACY_CLASS_MAP: dict[str, str] = dict(_OPTIONS["legacy_class_map"])
#: K5: validity months after the conclusion date, before/after the change date (contract options).
VALIDITY_MONTHS: int = _OPTIONS["validity_months"]
LEGACY_VALIDITY_MONTHS: int = _OPTIONS["legacy_validity_months"]
VALIDITY_CHANGE_DATE: dt.date = _OPTIONS["validity_change_date"]

STATE_ADD, STATE_EDIT = "ADD", "EDIT"
#: Withdrawal of a certificate (a tombstone; not in the observed gksk payloads - DOMAIN §5.3 lists
#: ADD/EDIT only - so the value is the contract's ``cancellation`` setting, [U]).
STATE_DELETE = "DELETE"
#: States that change an existing key (they must reference one: K7).
CHANGE_STATES = (STATE_EDIT, STATE_DELETE)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _null(n: int, type_: pa.DataType) -> pa.Array:
    return pa.nulls(n, type_)


def _bool_np(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def normalize_class(licence_class: pa.Array) -> pa.Array:
    """The licence class as sent, upper-cased and trimmed (the form used in the natural key)."""
    return pc.utf8_trim_whitespace(pc.utf8_upper(licence_class))


def map_licence_class(licence_class: pa.Array, legacy_class_map: Mapping[str, str] | None = None) -> pa.Array:
    """The class in the 2024 system: a new class as is, a legacy class mapped, else NULL (K1)."""
    mapping = {
        **{c: c for c in NEW_CLASSES},
        **dict(LEGACY_CLASS_MAP if legacy_class_map is None else legacy_class_map),
    }
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    return pc.take(values, pc.index_in(licence_class, value_set=keys))


def add_months(dates: pa.Array, months: pa.Array | int) -> pa.Array:
    """``dates`` plus a whole number of months; a day past the target month's end is clipped.

    Args:
        dates: date32 values (NULL stays NULL).
        months: months to add, per row (int array) or one int.

    Returns:
        date32 values (15/03/2026 + 12 -> 15/03/2027; 31/08/2024 + 6 -> 28/02/2025).
    """
    n = len(dates)
    valid = _bool_np(pc.is_valid(dates))
    y = pc.fill_null(pc.year(dates), 1970).to_numpy(zero_copy_only=False).astype(np.int64)
    m = pc.fill_null(pc.month(dates), 1).to_numpy(zero_copy_only=False).astype(np.int64)
    d = pc.fill_null(pc.day(dates), 1).to_numpy(zero_copy_only=False).astype(np.int64)
    k = (
        np.full(n, months, np.int64)
        if isinstance(months, int)
        else pc.fill_null(months, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    )
    index = (y - 1970) * 12 + (m - 1) + k
    ty, tm = 1970 + index // 12, index % 12 + 1
    leap = (ty % 4 == 0) & ((ty % 100 != 0) | (ty % 400 == 0))
    dim = _DAYS_IN_MONTH[tm - 1] + ((tm == 2) & leap)
    day = np.minimum(d, dim)
    out = index.astype("datetime64[M]").astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    return pa.array(out, type=pa.date32(), mask=~valid)


def validity_end(
    conclusion: pa.Array,
    months: int = VALIDITY_MONTHS,
    legacy_months: int = LEGACY_VALIDITY_MONTHS,
    change_date: dt.date = VALIDITY_CHANGE_DATE,
) -> pa.Array:
    """K5: end of validity = conclusion + ``months`` (``legacy_months`` before ``change_date``)."""
    before = pc.less(conclusion, pa.scalar(change_date, pa.date32()))
    per_row = pc.if_else(pc.fill_null(before, False), legacy_months, months)
    return add_months(conclusion, per_row)


def completed_years(born: pa.Array, on: pa.Array) -> pa.Array:
    """Age in completed years on ``on`` (date32 arrays; NULL if either is NULL)."""
    y1, m1, d1 = (
        pc.fill_null(f(born), 1).to_numpy(zero_copy_only=False).astype(np.int64) for f in (pc.year, pc.month, pc.day)
    )
    y2, m2, d2 = (
        pc.fill_null(f(on), 1).to_numpy(zero_copy_only=False).astype(np.int64) for f in (pc.year, pc.month, pc.day)
    )
    before_birthday = (m2 < m1) | ((m2 == m1) & (d2 < d1))
    age = y2 - y1 - before_birthday.astype(np.int64)
    known = _bool_np(pc.and_(pc.is_valid(born), pc.is_valid(on)))
    return pa.array(age.astype(np.int32), type=pa.int32(), mask=~known)


def add_earlier_in_chunk(keys: pa.Array, state: pa.Array) -> pa.Array:
    """Per row: True when an ADD of the same natural key appears *earlier* in this chunk.

    Vectorised: the first ADD position per key (a group-by minimum) is compared with each row's
    own position. Keys of earlier chunks of the same batch are not seen here (see
    :func:`edit_unmatched`).
    """
    n = len(keys)
    position = pa.array(np.arange(n, dtype=np.int64))
    is_add = pc.and_(pc.fill_null(pc.equal(state, STATE_ADD), False), pc.is_valid(keys))
    adds = pa.table({"k": keys.filter(is_add), "i": position.filter(is_add)})
    first = adds.group_by("k").aggregate([("i", "min")])
    first_add = pc.take(first.column("i_min"), pc.index_in(keys, value_set=first.column("k")))
    return pc.fill_null(pc.less(first_add, position), False)


def edit_unmatched(keys: pa.Array, state: pa.Array, context: LookupContext | None, dataset: str = DATASET) -> pa.Array:
    """K7: an EDIT whose key is neither current in staging nor ADDed earlier in this chunk.

    Returns True (unmatched), False (matched, or not an EDIT) or NULL (an EDIT without a key, or
    whose key is not in this chunk and staging cannot be asked: no context, or it does not know).
    Staging is asked only for the EDIT rows the chunk itself does not explain.

    Limitation: an ADD in an *earlier chunk of the same batch* is not in staging yet (the batch
    loads at the end) and not in this chunk, so its EDIT is reported as unmatched. Driver nights
    are far smaller than a chunk; a batch-level answer needs the runner's seen keys.
    """
    is_edit = _bool_np(pc.is_in(state, value_set=pa.array(CHANGE_STATES)))
    earlier = _bool_np(add_earlier_in_chunk(keys, state))
    ask = is_edit & ~earlier & _bool_np(pc.is_valid(keys))
    known = pa.array(np.where(is_edit & earlier, True, False))
    if ask.any():
        if context is None:
            answers = _null(int(ask.sum()), pa.bool_())
        else:
            answers = pc.cast(context.existing_keys(dataset, keys.filter(pa.array(ask))), pa.bool_())
        known = pc.replace_with_mask(known, pa.array(ask), answers)
    unmatched = pc.invert(known)
    # An EDIT without a key (SO or class missing) is REQ's finding, not K7's: NULL.
    keyed = pa.array(is_edit & _bool_np(pc.is_valid(keys)))
    return pc.if_else(keyed, unmatched, pa.array([None if e else False for e in is_edit], pa.bool_()))


def derive_validation_columns(
    table: pa.Table,
    facility_code: str | pa.Array,
    cutoff: dt.datetime,
    context: LookupContext | None = None,
    *,
    legacy_class_map: Mapping[str, str] | None = None,
    validity_months: int = VALIDITY_MONTHS,
    legacy_validity_months: int = LEGACY_VALIDITY_MONTHS,
    validity_change_date: dt.date = VALIDITY_CHANGE_DATE,
) -> pa.Table:
    """Add the derived columns the driver suite checks and fill the derived contract columns.

    Args:
        table: canonical driver rows (see ``config/datasets/driver_health_checks.yaml``).
        facility_code: the batch's facility.
        cutoff: nothing may be concluded after this (end of the data interval plus grace).
        context: lookups outside the batch (staging keys, death dates); None -> the columns
            built on them are NULL (K7 for EDITs not explained by the chunk, X2) and the checks
            on them do not fire.
        legacy_class_map: legacy class -> 2024 class ([U]); None = :data:`LEGACY_CLASS_MAP`.
        validity_months, legacy_validity_months, validity_change_date: K5 (see
            :func:`validity_end`).

    Returns:
        ``table`` with ``licence_class`` normalised, ``licence_class_mapped`` and ``valid_until``
        filled, and the validation columns appended.
    """
    n = table.num_rows
    licence_class = normalize_class(table.column("licence_class").combine_chunks())
    table = set_columns(table, {"licence_class": licence_class})
    mapped = map_licence_class(licence_class, legacy_class_map)
    table = set_columns(table, {"licence_class_mapped": mapped})
    conclusion = table.column("conclusion_date").combine_chunks()
    table = set_columns(table, {
        "valid_until": validity_end(conclusion, validity_months, legacy_validity_months, validity_change_date),
    })

    state = table.column("state").combine_chunks()
    exam = table.column("exam_date").combine_chunks()
    reference_day = pc.coalesce(exam, conclusion)  # the exam day, or the conclusion day if none
    age = completed_years(table.column("birth_date").combine_chunks(), reference_day)

    drug = table.column("drug_test_result").combine_chunks()
    id_number = table.column("id_number").combine_chunks()
    # No type field in gksk: an all-digit number other than 9 digits (CMND) is a personal ID, so
    # 10/11/13-digit values are checked (P1); passports (letters) and CMND are not.
    personal = pc.if_else(
        pc.fill_null(pc.equal(effective_id_type(_null(n, pa.string()), id_number), "1"), False),
        id_number,
        _null(n, pa.string()),
    )
    keys = natural_key_array(table, NATURAL_KEY)

    if context is not None and n:
        death = pc.cast(context.death_dates(personal), pa.date32())
        died_before = pc.less(death, reference_day)
    else:
        died_before = _null(n, pa.bool_())

    is_edit = pc.fill_null(pc.is_in(state, value_set=pa.array(CHANGE_STATES)), False)
    first_submission = pc.if_else(pc.is_valid(state), pc.invert(is_edit), _null(n, pa.bool_()))
    extra = {
        "facility_code": facility_column(facility_code, n),
        "batch_cutoff": constant(cutoff.replace(tzinfo=None), pa.timestamp("s"), n),
        "is_edit": is_edit,
        "first_submission": first_submission,
        "age_at_exam": age,
        "drug_tested": pc.cast(pc.is_valid(drug), pa.int8()),
        # 1 positive, 0 negative, NULL untested or outside the code list (CODE's finding, not K4's)
        "drug_test_positive": pc.if_else(
            pc.is_in(drug, value_set=pa.array([0, 1], pa.int32())), pc.cast(drug, pa.int8()), _null(n, pa.int8())
        ),
        "personal_id": personal,
        "edit_unmatched": edit_unmatched(keys, state, context),
        "died_before_exam": died_before,
    }
    return set_columns(table, extra)


#: Boolean column whose False marks an EDIT (K7): the same key may repeat with new content.
FIRST_ISSUE_COLUMN = "first_submission"

"""Birth-certificate specific derivations (DOMAIN.md §3.4, B1–B10).

Turns the canonical table into the columns the ``birth_certificates.conformed`` suite checks:
code parts, date arithmetic, mother-ID structure, episode sizes. Pure Arrow compute.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.admin_units import commune_in_province
from transforms.context import LookupContext
from transforms.identity import ID_TYPE_CCCD, cccd_checks, effective_id_type
from transforms.records import code_parts, constant, facility_column, set_columns

CODE_PATTERN = r"^(?P<seq>\d{5})\.GCS\.(?P<facility>[0-9A-Z]{5})\.(?P<yy>\d{2})$"
#: :data:`CODE_PATTERN` at its fixed width, and where its groups lie (see ``code_parts``).
CODE_LAYOUT = "99999.GCS.ZZZZZ.99"
CODE_GROUPS = {"facility": (10, 15), "yy": (16, 18)}
SECONDS_PER_DAY = 86400.0


def _null_str(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def episode_sizes(episode: pa.Array, codes: pa.Array) -> pa.Array:
    """Distinct certificate codes per episode (twins share an episode), per row.

    Both columns are dictionary-encoded and the distinct (episode, code) pairs counted with numpy:
    a hash aggregation over the strings costs several times more at a million rows.
    """
    n = len(episode)
    if not n:
        return pa.array([], pa.int64())
    keys = _indices(pc.fill_null(episode, ""))
    code_enc = pc.dictionary_encode(codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes)
    code_idx = code_enc.indices
    valid = code_idx.is_valid().to_numpy(zero_copy_only=False)  # a NULL code is not counted
    width = max(len(code_enc.dictionary), 1)
    code_num = pc.fill_null(code_idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    pairs = np.unique(keys[valid] * width + code_num[valid])
    counts = np.bincount(pairs // width, minlength=int(keys.max()) + 1)
    sizes = pa.array(counts[keys].astype(np.int64))
    return pc.if_else(pc.is_valid(episode), sizes, pa.scalar(None, pa.int64()))


def _indices(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Dictionary indices of a column without NULLs (equal values, equal index)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.dictionary_encode(arr).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def derive_validation_columns(table: pa.Table, facility_code: str | pa.Array, cutoff: dt.datetime,
                              context: LookupContext | None = None) -> pa.Table:
    """Add the derived columns the birth suite checks.

    Args:
        table: canonical birth rows (see ``config/datasets/birth_certificates.yaml``).
        facility_code: the batch's facility.
        cutoff: nothing may be born after this (end of the data interval plus grace), so a
            re-run of an old interval judges "future" exactly as the first run did.
        context: lookups outside the batch (X3 mother's recorded death, X4 mother's registry
            sex); None leaves those columns NULL (the checks do not fire).

    Returns:
        ``table`` with the extra columns appended.
    """
    n = table.num_rows
    code = table.column("certificate_code")
    parts = code_parts(code, CODE_PATTERN, CODE_LAYOUT, CODE_GROUPS)
    code_facility, code_year = parts["facility"], parts["yy"]
    issue = table.column("issue_date")
    is_reissue = pc.fill_null(pc.equal(table.column("first_issue"), False), False)
    # B1's year check applies to first issues: a re-issue keeps the original code (TT 22/2025),
    # so one re-issued after New Year legitimately carries last year's YY.
    issue_year_2d = pc.if_else(
        is_reissue,
        pa.scalar(None, pa.string()),
        pc.utf8_lpad(pc.cast(pc.remainder(pc.year(issue), 100), pa.string()), 2, "0"),
    )
    birth = table.column("birth_datetime")
    birth_day = pc.cast(pc.cast(birth, pa.date32()), pa.timestamp("s"))
    lag = pc.divide(
        pc.cast(pc.subtract(pc.cast(issue, pa.timestamp("s")), birth_day), pa.int64()), SECONDS_PER_DAY
    )

    mother_year = table.column("mother_birth_year")
    mother_date = table.column("mother_birth_date")
    age_exact = pc.divide(
        pc.cast(pc.subtract(birth_day, pc.cast(mother_date, pa.timestamp("s"))), pa.int64()),
        SECONDS_PER_DAY * 365.25,
    )
    age_year = pc.cast(pc.subtract(pc.year(birth), mother_year), pa.float64())
    mother_age = pc.coalesce(age_exact, age_year)

    id_type = effective_id_type(table.column("mother_id_type"), table.column("mother_id_number"))
    id_number = table.column("mother_id_number")
    cccd = pc.if_else(pc.fill_null(pc.equal(id_type, ID_TYPE_CCCD), False), id_number, _null_str(n))
    _, female, year_ok = cccd_checks(cccd, mother_year)

    episode = pc.coalesce(
        table.column("episode_key"),
        pc.binary_join_element_wise(id_number, pc.cast(pc.cast(birth, pa.date32()), pa.string()), "|"),
    )
    # Twins are counted within one sending facility's batch (a shard validates many at once).
    episode = pc.binary_join_element_wise(facility_column(facility_code, n), episode, "\x1f")
    surrogate_cols = ["surrogate_mother_name", "surrogate_mother_id_number", "surrogate_mother_birth_date"]
    any_surrogate = np.zeros(n, bool)
    for name in surrogate_cols:
        any_surrogate |= pc.is_valid(table.column(name)).to_numpy(zero_copy_only=False)
    complete = pc.and_(pc.is_valid(table.column("surrogate_mother_name")), pc.is_valid(table.column("surrogate_mother_id_number")))
    surrogate_complete = pc.if_else(pa.array(any_surrogate), complete, pa.scalar(None, pa.bool_()))

    if context is not None:
        death = context.death_dates(cccd)
        mother_alive = pc.if_else(pc.is_valid(death), pc.less_equal(pc.cast(birth, pa.date32()), death),
                                  pa.scalar(None, pa.bool_()))
        sex = context.registry_sex(cccd)
        mother_female = pc.if_else(pc.is_valid(sex), pc.not_equal(sex, 1), pa.scalar(None, pa.bool_()))
    else:
        mother_alive = pa.nulls(n, pa.bool_())
        mother_female = pa.nulls(n, pa.bool_())

    extra = {
        "code_facility": code_facility,
        "code_year": code_year,
        "facility_code": facility_column(facility_code, n),
        "issue_year_2d": issue_year_2d,
        "batch_cutoff": constant(cutoff.replace(tzinfo=None), pa.timestamp("s"), n),
        "issue_lag_days": lag,
        "is_reissue": is_reissue,
        "episode_size": episode_sizes(episode, code),
        "mother_age_at_birth": mother_age,
        "mother_cccd": cccd,
        "mother_cccd_female": female,
        "mother_cccd_year_ok": year_ok,
        "commune_in_province": commune_in_province(
            table.column("residence_province_code"), table.column("residence_commune_code"), birth
        ),
        "surrogate_complete": surrogate_complete,
        "mother_alive_at_birth": mother_alive,
        "mother_registry_female": mother_female,
    }
    return set_columns(table, extra)

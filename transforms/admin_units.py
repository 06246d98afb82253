"""Administrative-unit checks, versioned by event date (DOMAIN.md §8, rules A1–A3).

Post-reform codes (QĐ 19/2025, 34 provinces / 3,321 communes) come from the
``vietnam-provinces`` package (bundled data, no I/O beyond the package's own files). The package
has no pre-2025 units, so for events before 1 July 2025 only the format is checkable: the
result is NULL ("not checkable"), never a false rejection.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from transforms.reference import ADMIN_REFORM_DATE


@lru_cache(maxsize=1)
def _commune_province() -> dict[str, str]:
    """Map 5-digit commune code -> 2-digit province code, post-reform."""
    from vietnam_provinces import Province, Ward

    out: dict[str, str] = {}
    for province in Province.iter_all():
        for ward in Ward.iter_by_province(province.code):
            out[f"{int(ward.code):05d}"] = f"{int(province.code):02d}"
    return out


@lru_cache(maxsize=1)
def _valid_pairs() -> pa.Array:
    """Every valid province + commune code pair (7 characters), for ``pc.is_in``; built once."""
    return pa.array(sorted(p + c for c, p in _commune_province().items()))


def warm_up() -> None:
    """Build the commune tables now (a worker does it once before it forks its tasks)."""
    _valid_pairs()


def commune_in_province(
    province: pa.Array, commune: pa.Array, event: pa.Array, reform_date: str = ADMIN_REFORM_DATE
) -> pa.Array:
    """Whether each commune belongs to its province in the code system in force at ``event``.

    Args:
        province: 2-digit province codes (normalised).
        commune: 5-digit commune codes (normalised).
        event: event timestamps/dates deciding the code system.
        reform_date: first day of the post-reform code system.

    Returns:
        Boolean array: True/False where checkable (post-reform event, both codes present), NULL
        elsewhere.
    """
    valid_pairs = _valid_pairs()
    cutoff = dt.datetime.fromisoformat(reform_date)
    ev = event if pa.types.is_timestamp(event.type) else pc.cast(event, pa.timestamp("s"))
    post = pc.greater_equal(pc.cast(ev, pa.timestamp("s")), pa.scalar(cutoff, pa.timestamp("s")))
    checkable = pc.and_(pc.and_(post, pc.is_valid(province)), pc.is_valid(commune))
    ok = pc.is_in(pc.binary_join_element_wise(province, commune, ""), value_set=valid_pairs)
    return pc.if_else(pc.fill_null(checkable, False), ok, pa.scalar(None, pa.bool_()))

"""Reference data and pure pandas checks shared by the suites (no Great Expectations import).

The code lists live as data files (``transforms/data/``) so that a reviewer can diff them
without reading Python. Everything here is importable at DAG parse time: it only needs pandas
and the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from transforms.reference import CCCD_PROVINCE_PREFIXES

if TYPE_CHECKING:
    import pandas as pd

#: A personal ID number is exactly twelve ASCII digits (DOMAIN §7.1). ``[0-9]`` rather than
#: ``\d`` so that the result does not depend on the regex engine's Unicode rules.
PERSONAL_ID_PATTERN = r"[0-9]{12}"


def cccd_province_prefixes() -> tuple[str, ...]:
    """Return the three-digit province prefixes a personal ID number may start with.

    Source: DOMAIN.md §7.1 — the pre-2025 list of 63 provinces (old GSO codes zero-padded to
    three digits), kept once in ``transforms/data/cccd_province_prefixes.csv``. The prefixes
    record the province of *birth registration* and did not change with the 2025 merger of
    provinces, so this list is not versioned by date.

    Returns:
        The prefixes as sorted strings, e.g. ``("001", "002", "004", ...)``.
    """
    return tuple(sorted(CCCD_PROVINCE_PREFIXES))


def personal_id_is_valid(values: pd.Series, prefixes: Iterable[str]) -> pd.Series:
    """Check personal ID numbers structurally, row by row, without a per-row Python loop.

    A value is valid when it is exactly twelve ASCII digits and its first three digits are one of
    ``prefixes``. The fourth digit (century and sex) is then a digit 0–9 by construction; whether
    it agrees with the person's sex and birth year is a separate warning rule. There is no check
    digit (DOMAIN §7.1: do not implement one).

    Args:
        values: The column to check. Missing values give ``False``; callers that ignore NULLs
            (Great Expectations map metrics do) never pass them.
        prefixes: The allowed three-digit prefixes.

    Returns:
        A plain ``bool`` Series aligned with ``values``.
    """
    text = values.astype("string")
    well_formed = text.str.fullmatch(PERSONAL_ID_PATTERN).fillna(False).astype(bool)
    known_prefix = text.str.slice(0, 3).isin(list(prefixes)).fillna(False).astype(bool)
    return well_formed & known_prefix


def within_bounds_for(values: Any, selectors: Any, bounds: Mapping[str, Any]) -> Any:
    """Row logic of ``range_by`` rules: A within the ``(min, max)`` bounds that B selects.

    Vectorised (plain pandas/NumPy, no GX). Rows with A NULL, B NULL or a B value without bounds
    pass.

    Args:
        values: column A (numeric; NULL passes).
        selectors: column B (NULL or a value without bounds passes).
        bounds: B value -> ``(min, max)``, either ``None`` (open), both inclusive.

    Returns:
        A NumPy ``bool`` array, True where the row passes.
    """
    import numpy as np
    import pandas as pd

    keys = pd.Series(selectors).astype(object)
    lows = {k: b[0] for k, b in bounds.items() if b[0] is not None}
    highs = {k: b[1] for k, b in bounds.items() if b[1] is not None}
    low = pd.to_numeric(keys.map(lows), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    high = pd.to_numeric(keys.map(highs), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    a = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        too_low = ~np.isnan(low) & (a < low)
        too_high = ~np.isnan(high) & (a > high)
    return np.isnan(a) | ~(too_low | too_high)
